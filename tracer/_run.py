"""One span's lifecycle, shared by the sync, async, generator and async-generator wrappers.

A wrapper opens a ``Run`` and uses it as a context manager around the user's call:

    with open_run(spec, args, kwargs) as run:
        return run.result(fn(*args, **kwargs))

The run attaches the span to the context, records the result through its ``Spec``, and on
exit detaches the context and ends the span exactly once. A user exception is recorded
(``Exception`` only, as ``use_span`` does; cancellation and ``GeneratorExit`` are not errors)
and re-raised unchanged. A stream result is handed to a proxy, which ends the span later.
Nothing the tracer does itself can raise into user code (see ``_errors``).
"""

from __future__ import annotations

import time
from types import GeneratorType
from typing import Any, Literal

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import ProxyTracer, ProxyTracerProvider, Span, SpanKind
from opentelemetry.util.types import AttributeValue

from ._errors import internal_error
from ._runtime import STATE
from ._settings import Settings
from ._span import record_error
from ._stats import StreamStats
from ._stream import ERROR, AsyncStream, GeneratorStream, SyncStream

_now = time.perf_counter_ns


class Spec:
    """What a decorated function records. Built once, at decoration time."""

    __slots__ = ("kind", "name", "static")
    llm = False  # LLM specs time their streams
    enrich = False  # whether ``enclosing`` may find a run to record onto

    def __init__(
        self, name: str, static: dict[str, AttributeValue], kind: SpanKind = SpanKind.INTERNAL
    ) -> None:
        self.name = name
        self.static = static
        self.kind = kind

    def start(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], settings: Settings
    ) -> tuple[str, dict[str, Any], Any]:
        """Span name, start attributes and a state for ``on_start``/``discard``, for one call."""
        return self.name, self.static, None

    def discard(self, state: Any) -> None:
        """Undo what ``start`` did when no span came of it."""

    def enclosing(self) -> Run | None:
        """An open run this call should record onto instead of opening a span."""
        return None

    def on_start(
        self, run: Run, args: tuple[Any, ...], kwargs: dict[str, Any], state: Any = None
    ) -> None:
        """After the span started (``state`` from ``start``; None when recording onto an
        enclosing run): capture inputs."""

    def on_result(self, run: Run, value: Any) -> Any:
        """Record a return value; return it, or a stream proxy that now owns the run."""
        return value

    def on_error(self, run: Run, exc: Exception) -> None:
        """After a user exception was recorded."""

    def on_cancel(self, run: Run) -> None:
        """The call was cancelled or closed (``BaseException`` that is not an error)."""

    def on_stream_end(
        self, run: Run, outcome: str, stats: StreamStats | None, items: list[Any]
    ) -> None:
        """A stream proxy finished (``done``, ``error`` or ``abandoned``)."""

    def on_end(self, run: Run) -> None:
        """Just before the span ends."""


class Run:
    """A started span and what is needed to end it once."""

    __slots__ = (
        "context",
        "ended",
        "enriched",
        "handed_off",
        "model",
        "outer",
        "owned",
        "settings",
        "span",
        "spec",
        "start_ns",
        "token",
    )

    def __init__(self, spec: Spec, span: Span, settings: Settings, owned: bool = True) -> None:
        self.spec = spec
        self.span = span
        self.settings = settings
        self.owned = owned
        self.context: Context = trace.set_span_in_context(span)
        self.token: object | None = None
        self.start_ns = _now()
        self.handed_off = False
        self.ended = False
        self.enriched = 0
        self.model: str | None = None  # set when counted in flight
        self.outer: Run | None = None  # the run this one records onto, when not owned

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> Literal[False]:
        token = self.token
        if token is not None:
            self.token = None
            otel_context.detach(token)  # type: ignore[arg-type]
        if exc is not None:
            self.fail(exc)
        elif not self.handed_off:
            self.end()
        return False

    def result(self, value: Any) -> Any:
        """Record the user's return value; never raises."""
        try:
            if not self.span.is_recording():
                return value  # someone ended our span by hand: nothing more to record
            return self.spec.on_result(self, value)
        except Exception as exc:
            internal_error(exc, "recording a result")
            return value

    def stream(self, inner: Any, is_async: bool) -> Any:
        """Hand the run to a proxy around ``inner``; the proxy ends the span. Never raises:
        if the proxy cannot be made, the span ends now and ``inner`` is returned as is."""
        try:
            capturing = self.settings.capture_content
            stats = StreamStats(self.start_ns, capturing) if self.spec.llm else None
            limit = self.settings.max_content_chars if capturing else 0
            proxy: Any
            if type(inner) is GeneratorType:
                proxy = GeneratorStream(inner, self, stats, limit)
            else:
                proxy = (AsyncStream if is_async else SyncStream)(inner, self, stats, limit)
        except Exception as exc:
            internal_error(exc, "wrapping a stream")
            return inner
        self.handed_off = True
        return proxy

    def fail(self, exc: BaseException) -> None:
        """Record a user exception (or a cancellation) and end the span."""
        try:
            if not self.span.is_recording():
                pass  # someone ended our span by hand: nothing more to record
            elif isinstance(exc, Exception):
                if self.owned:
                    record_error(self.span, exc)
                self.spec.on_error(self, exc)
            else:
                self.spec.on_cancel(self)
        except Exception as error:
            internal_error(error, "recording an exception")
        self.end()

    def end_stream(
        self, outcome: str, exc: BaseException | None, stats: StreamStats | None, items: list[Any]
    ) -> None:
        """Called once by the stream proxy that owns or enriches this run."""
        if self.ended:
            return
        try:
            if self.span.is_recording():  # not if someone ended our span by hand
                if outcome == ERROR and isinstance(exc, Exception):
                    if self.owned:
                        record_error(self.span, exc)
                    self.spec.on_error(self, exc)
                self.spec.on_stream_end(self, outcome, stats, items)
        except Exception as error:
            internal_error(error, "recording a stream")
        self.end()

    def end(self) -> None:
        """End the span (once). Runs that enrich another run's span leave it open."""
        if self.ended:
            return
        self.ended = True
        if not self.owned:
            return
        try:
            self.spec.on_end(self)
        except Exception as exc:
            internal_error(exc, "ending a span")
        if self.span.is_recording():
            self.span.end()


class _NoRun:
    """Stands in for a run when there is nothing to record (no SDK, or a tracer error)."""

    __slots__ = ("token",)

    def __init__(self, token: object | None = None) -> None:
        self.token = token

    def __enter__(self) -> _NoRun:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> Literal[False]:
        if self.token is not None:
            otel_context.detach(self.token)  # type: ignore[arg-type]
            self.token = None
        return False

    def result(self, value: Any) -> Any:
        return value

    def stream(self, inner: Any, is_async: bool) -> Any:
        return inner


NO_RUN = _NoRun()


def open_run(
    spec: Spec, args: tuple[Any, ...], kwargs: dict[str, Any], attach: bool = True
) -> Run | _NoRun:
    """Start a span for one call of a decorated function; never raises."""
    if type(STATE.tracer) is ProxyTracer and isinstance(
        trace.get_tracer_provider(), ProxyTracerProvider
    ):
        return NO_RUN  # no provider anywhere yet (before configure()): nothing to record
    settings = STATE.settings
    try:
        outer = spec.enclosing() if spec.enrich else None
        if outer is not None:
            run = Run(spec, outer.span, outer.settings, owned=False)
            run.outer = outer
            spec.on_start(run, args, kwargs)
            return run
        name, attributes, state = spec.start(args, kwargs, settings)
    except Exception as exc:
        internal_error(exc, "starting a span")
        return NO_RUN
    try:
        span = STATE.tracer.start_span(name, kind=spec.kind, attributes=attributes)
    except Exception as exc:
        spec.discard(state)
        internal_error(exc, "starting a span")
        return NO_RUN
    if not span.is_recording():
        spec.discard(state)
        # Sampled out: keep the span current so that children share the decision.
        if attach and span.get_span_context().is_valid:
            return _NoRun(otel_context.attach(trace.set_span_in_context(span)))
        return NO_RUN
    run = Run(spec, span, settings)
    try:
        spec.on_start(run, args, kwargs, state)
    except Exception as exc:
        internal_error(exc, "recording call arguments")
    if attach:
        run.token = otel_context.attach(run.context)
    return run
