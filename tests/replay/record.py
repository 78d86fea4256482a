"""Record agent runs through a real collector: ``python -m tests.replay.record [--async]
QUESTION...`` (``--async``: the async agent).

The tracer exports to ``$AGENTFLIGHT_ENDPOINT``; the trace id of each run is printed, one a
line. ``$AGENTFLIGHT_CAPTURE_CONTENT`` turns content capture off as it would for a user.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

import tracer


class _Roots(SpanProcessor):
    def __init__(self) -> None:
        self.trace_ids: list[str] = []

    def on_end(self, span: ReadableSpan) -> None:
        if span.parent is None and span.context is not None:
            self.trace_ids.append(f"{span.context.trace_id:032x}")


def record(agent: Callable[[str], Any], questions: list[str]) -> None:
    tracer.configure(service_name="replay-test-agent")
    roots = _Roots()
    trace.get_tracer_provider().add_span_processor(roots)  # type: ignore[attr-defined]
    tracer.instrument_openai()
    for question in questions:
        agent(question)
    assert tracer.force_flush(30_000), "the collector did not take the spans"
    for trace_id in roots.trace_ids:
        print(trace_id)
    tracer.shutdown()


if __name__ == "__main__":
    import asyncio

    from tests.replay.agent_app import Prefs, assistant, assistant_async

    if sys.argv[1:2] == ["--async"]:
        record(lambda question: asyncio.run(assistant_async(question)), sys.argv[2:])
    else:
        record(lambda question: assistant(question, Prefs(limit=2)), sys.argv[1:])
