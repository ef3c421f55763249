"""zest plugin: dedup."""
