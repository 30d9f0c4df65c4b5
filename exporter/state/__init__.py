"""The state file: the only code that writes to local disk."""
