"""zest plugin: encoders."""
