"""agentflight loadtest package."""

__all__: list[str] = []
