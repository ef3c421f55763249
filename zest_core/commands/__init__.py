"""Commands added to the zest CLI by the core itself, through the register_commands hook."""
