"""The export side of a provider the tracer sets up itself.

The SDK's ``BatchSpanProcessor`` feeds the OTLP/HTTP protobuf exporter (gzip, bearer key) from
a bounded queue on its own thread, so the caller's thread never does network I/O. This module
adds what the SDK leaves out: a count of spans dropped on a full queue (with a rate-limited
warning), ``force_flush``/``shutdown`` that return within a bounded time even when the
collector hangs, and a fresh exporter after ``fork`` (the child must not share the parent's
pooled HTTP connections).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from ._errors import logger
from ._settings import Settings

_COMPRESSION_ENV: Final = (
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
)
_BATCH_SIZE_ENV: Final = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
_DEFAULT_BATCH_SIZE: Final = 512
_DROP_WARNING_EVERY_S: Final = 10.0

ExporterFactory = Callable[[Settings], SpanExporter]


def build_exporter(settings: Settings) -> SpanExporter:
    """OTLP/HTTP protobuf exporter to ``{endpoint}/v1/traces``; gzip unless OTEL_* says else."""
    headers = {"authorization": f"Bearer {settings.api_key}"} if settings.api_key else None
    compression = (
        None if any(os.environ.get(name) for name in _COMPRESSION_ENV) else Compression.Gzip
    )
    return OTLPSpanExporter(
        endpoint=settings.traces_url,
        headers=headers,
        timeout=settings.export_timeout_ms / 1000,
        compression=compression,
    )


def _batch_size(queue_size: int) -> int:
    try:
        size = int(os.environ.get(_BATCH_SIZE_ENV, _DEFAULT_BATCH_SIZE))
    except ValueError:
        size = _DEFAULT_BATCH_SIZE
    return max(1, min(size, queue_size))


def run_bounded(fn: Callable[[], Any], timeout_s: float, name: str) -> tuple[bool, Any]:
    """Run ``fn`` on a daemon thread; ``(finished, result)`` after at most ``timeout_s``."""
    box: list[Any] = []

    def target() -> None:
        try:
            box.append(fn())
        except Exception:
            logger.exception("agentflight: %s failed", name)
            box.append(None)

    thread = threading.Thread(target=target, name=f"agentflight-{name}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return (not thread.is_alive(), box[0] if box else None)


class ExportProcessor(SpanProcessor):
    """A replaceable ``BatchSpanProcessor`` + exporter with a drop counter."""

    def __init__(self, settings: Settings, exporter_factory: ExporterFactory | None = None) -> None:
        self._factory = exporter_factory or build_exporter
        self._dropped = 0
        self._last_warning = 0.0
        self._install(settings)

    def _install(self, settings: Settings) -> None:
        self._settings = settings
        self._exporter = self._factory(settings)
        self._bsp = BatchSpanProcessor(
            self._exporter,
            max_queue_size=settings.max_queue_size,
            max_export_batch_size=_batch_size(settings.max_queue_size),
            export_timeout_millis=settings.export_timeout_ms,
        )
        # The SDK drops silently but for a log line; its queue is a bounded deque we can
        # measure before each hand-off. If a future SDK renames it, counting is disabled.
        self._queue = getattr(getattr(self._bsp, "_batch_processor", None), "_queue", None)
        self._capacity = settings.max_queue_size
        self._shut_down = False

    @property
    def dropped(self) -> int:
        """Spans dropped because the queue was full, in this process."""
        return self._dropped

    @property
    def counts_drops(self) -> bool:
        """Whether drop counting works with the installed SDK."""
        return self._queue is not None

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue an ended, sampled span for export, counting it if the queue is full."""
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        queue = self._queue
        if queue is not None and len(queue) >= self._capacity and not self._shut_down:
            # Dropped here rather than in the SDK, whose per-span "Queue full" log record
            # would cost the caller's thread more than the span itself.
            self._count_drop()
            return
        self._bsp.on_end(span)

    def _count_drop(self) -> None:
        self._dropped += 1
        now = time.monotonic()
        if now - self._last_warning >= _DROP_WARNING_EVERY_S:
            self._last_warning = now
            logger.warning(
                "agentflight: span queue full (max_queue_size=%d); %d span(s) dropped so far",
                self._capacity,
                self._dropped,
            )

    def force_flush(self, timeout_millis: int | None = None) -> bool:
        """Export what is queued; ``False`` if it did not finish within the timeout."""
        timeout = (timeout_millis or self._settings.export_timeout_ms) / 1000
        finished, result = run_bounded(self._bsp.force_flush, timeout, "flush")
        return finished and bool(result)

    def shutdown(self) -> None:
        """SpanProcessor API: ``stop()`` with the configured timeout."""
        self.stop()

    def stop(self, timeout_millis: int | None = None) -> bool:
        """Flush and stop; returns within the timeout even if the collector hangs."""
        if self._shut_down:
            return True
        self._shut_down = True
        return self._stop(self._bsp, self._exporter, timeout_millis)

    def _stop(
        self, bsp: BatchSpanProcessor, exporter: SpanExporter, timeout_ms: int | None
    ) -> bool:
        timeout = (timeout_ms or self._settings.shutdown_timeout_ms) / 1000
        finished, _ = run_bounded(bsp.shutdown, timeout, "shutdown")
        if not finished:
            logger.warning(
                "agentflight: export did not finish within %.1f s; pending spans are lost", timeout
            )
            exporter.shutdown()  # aborts the exporter's retry back-off
        return finished

    def reconfigure(self, settings: Settings) -> None:
        """Swap in a new exporter pipeline; the old one flushes in the background."""
        old_bsp, old_exporter = self._bsp, self._exporter
        self._install(settings)
        threading.Thread(
            target=self._stop,
            args=(old_bsp, old_exporter, None),
            name="agentflight-reconfigure",
            daemon=True,
        ).start()

    def after_fork_in_child(self) -> None:
        """Give a forked child its own pipeline and an empty drop count."""
        self._dropped = 0
        if not self._shut_down:
            self._install(self._settings)
