"""Linking replayed spans to the recorded run, and collecting them in-process for the diff.

A ``SpanProcessor`` added to the tracer's provider: every span started while a replay is
current (a ContextVar) gets ``agentflight.replay.of`` and ``agentflight.replay.run_id``, and,
when it ends, is kept in that replay's bucket, so the diff never waits for the collector.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from tracer import semconv

__all__ = ["Bucket", "ReplayLinks"]


@dataclass
class Bucket:
    """The spans of one replayed trace."""

    replay_of: str
    run_id: str
    trace_id: int = 0
    open: int = 0
    spans: list[ReadableSpan] = field(default_factory=list)
    done: threading.Condition = field(default_factory=threading.Condition)

    @property
    def trace_id_hex(self) -> str:
        return f"{self.trace_id:032x}" if self.trace_id else ""

    def wait_closed(self, timeout: float) -> bool:
        """Wait until every span started in this replay has ended."""
        with self.done:
            return self.done.wait_for(lambda: self.open == 0, timeout)


_CURRENT: ContextVar[Bucket | None] = ContextVar("agentflight_replay_bucket", default=None)


class ReplayLinks(SpanProcessor):
    """Adds the replay links to spans started in a replay and keeps them when they end."""

    def __init__(self) -> None:
        self._by_span: dict[tuple[int, int], Bucket] = {}
        self._lock = threading.Lock()

    @contextmanager
    def collecting(self, replay_of: str, run_id: str) -> Iterator[Bucket]:
        """Spans started in the block belong to a new bucket."""
        bucket = Bucket(replay_of, run_id)
        token = _CURRENT.set(bucket)
        try:
            yield bucket
        finally:
            _CURRENT.reset(token)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        bucket = _CURRENT.get()
        if bucket is None or span.context is None:
            return
        span.set_attributes(
            {semconv.REPLAY_OF: bucket.replay_of, semconv.REPLAY_RUN_ID: bucket.run_id}
        )
        with bucket.done:
            bucket.open += 1
            if not bucket.trace_id:
                bucket.trace_id = span.context.trace_id
        with self._lock:
            self._by_span[(span.context.trace_id, span.context.span_id)] = bucket

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is None:
            return
        with self._lock:
            bucket = self._by_span.pop((span.context.trace_id, span.context.span_id), None)
        if bucket is None:
            return
        with bucket.done:
            bucket.spans.append(span)
            bucket.open -= 1
            bucket.done.notify_all()

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
