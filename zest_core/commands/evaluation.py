"""zest CLI commands: evaluation."""
