"""zest plugin: anchors."""
