"""zest plugin: quality."""
