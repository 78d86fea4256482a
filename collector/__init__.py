"""agentflight collector package."""

__all__: list[str] = []
