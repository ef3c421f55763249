"""zest plugin: cde."""
