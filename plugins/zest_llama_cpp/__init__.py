"""zest plugin: llama_cpp."""
