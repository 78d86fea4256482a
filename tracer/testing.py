"""Test helpers: record the tracer's spans in memory, without touching global state.

    from tracer.testing import capture_spans

    with capture_spans(capture_content=False) as captured:
        run_my_agent()
    assert [s.name for s in captured.spans] == [...]

Only the OpenTelemetry SDK is used (its in-memory exporter), so this module is safe to import
wherever the tracer is.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import IdGenerator, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ._runtime import SCOPE, STATE
from ._settings import resolve_settings

__all__ = ["CapturedSpans", "SequentialIdGenerator", "attributes", "capture_spans", "summary"]


class SequentialIdGenerator(IdGenerator):
    """Deterministic ids: trace ids 1, 2, 3... and span ids 1, 2, 3..."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trace = 0
        self._span = 0

    def generate_span_id(self) -> int:
        with self._lock:
            self._span += 1
            return self._span

    def generate_trace_id(self) -> int:
        with self._lock:
            self._trace += 1
            return self._trace


@dataclasses.dataclass
class CapturedSpans:
    """The provider and exporter behind ``capture_spans``."""

    provider: TracerProvider
    exporter: InMemorySpanExporter

    @property
    def spans(self) -> tuple[ReadableSpan, ...]:
        """Ended spans, in the order they ended."""
        return self.exporter.get_finished_spans()

    def by_name(self, name: str) -> ReadableSpan:
        """The one ended span called ``name``."""
        found = [span for span in self.spans if span.name == name]
        if len(found) != 1:
            raise AssertionError(
                f"expected one span {name!r}, found {[s.name for s in self.spans]}"
            )
        return found[0]

    def clear(self) -> None:
        """Forget the spans recorded so far."""
        self.exporter.clear()


@contextmanager
def capture_spans(
    *, resource: Resource | None = None, deterministic_ids: bool = True, **settings: Any
) -> Iterator[CapturedSpans]:
    """Route the tracer's spans to an in-memory exporter for the duration of the block.

    ``settings`` are ``configure()``'s content options (``capture_content``,
    ``max_content_chars``, ``redact``); they apply inside the block only.
    """
    provider = TracerProvider(
        resource=resource or Resource.create({"service.name": "agentflight-test"}),
        id_generator=SequentialIdGenerator() if deterministic_ids else None,
        shutdown_on_exit=False,
    )
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = (STATE.settings, STATE.tracer)
    STATE.settings = resolve_settings(**settings)
    STATE.tracer = provider.get_tracer(SCOPE)
    try:
        yield CapturedSpans(provider, exporter)
    finally:
        STATE.settings, STATE.tracer = saved
        provider.shutdown()


def attributes(span: ReadableSpan) -> dict[str, Any]:
    """A span's attributes as a plain dict (array values are tuples)."""
    return dict(span.attributes or {})


def summary(span: ReadableSpan) -> dict[str, Any]:
    """A whole span minus its timestamps, for one-assert comparisons: name, kind, ids,
    status, attributes and event names."""
    return {
        "name": span.name,
        "kind": span.kind.name,
        "span_id": span.context.span_id if span.context else None,
        "parent_id": span.parent.span_id if span.parent else None,
        "status": span.status.status_code.name,
        "attributes": attributes(span),
        "events": [event.name for event in span.events],
    }
