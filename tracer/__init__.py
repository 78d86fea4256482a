"""agentflight tracer: decorators that turn agent, route, skill and LLM calls into spans.

    import tracer

    tracer.configure(service_name="jobs-assistant")

    @tracer.agent("job_assistant", timeout_ms=8000)
    def assistant(question: str) -> str: ...

See docs/tracer.md for every function in use and docs/attributes.md for what spans carry.
"""

from ._decorators import agent, llm, route, skill
from ._gaps import percentile
from ._openai import instrument_openai, uninstrument_openai
from ._replay import ReplayOverrides, replay_overrides
from ._runtime import configure, dropped_spans, force_flush, shutdown
from ._settings import Settings
from ._span import SpanHandle, current_span

__all__ = [
    "ReplayOverrides",
    "Settings",
    "SpanHandle",
    "agent",
    "configure",
    "current_span",
    "dropped_spans",
    "force_flush",
    "instrument_openai",
    "llm",
    "percentile",
    "replay_overrides",
    "route",
    "shutdown",
    "skill",
    "uninstrument_openai",
]
