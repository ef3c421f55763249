"""zest CLI commands: compare."""
