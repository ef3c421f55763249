"""zest CLI commands: corpora."""
