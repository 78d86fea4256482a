"""agentflight dashboards package."""

__all__: list[str] = []
