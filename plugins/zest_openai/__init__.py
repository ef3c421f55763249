"""zest plugin: openai."""
