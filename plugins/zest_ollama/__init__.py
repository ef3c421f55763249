"""zest plugin: ollama."""
