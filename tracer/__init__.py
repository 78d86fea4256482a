"""agentflight tracer: decorators that turn agent, route, skill and LLM calls into spans."""

__all__: list[str] = []
