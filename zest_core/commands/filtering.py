"""zest CLI commands: filtering."""
