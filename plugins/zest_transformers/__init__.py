"""zest plugin: transformers."""
