"""The `nst` command (`command.main`) and its terminal handling."""
