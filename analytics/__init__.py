"""agentflight analytics package."""

__all__: list[str] = []
