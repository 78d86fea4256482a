"""The agentflight console script."""
