"""``current_span()``: the handle user code uses to add usage, model and waste marks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from . import semconv
from ._errors import internal_error, logger


def error_type(exc: BaseException) -> str:
    """``error.type``: the exception class's qualified name (no module for builtins)."""
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def record_error(span: Span, exc: BaseException) -> None:
    """Record a user exception the way ``opentelemetry.trace.use_span`` does, plus error.type."""
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    span.set_attribute(semconv.ERROR_TYPE, error_type(exc))


def has_attribute(span: Span, key: str) -> bool:
    """Whether an SDK span already carries ``key`` (``False`` for other spans)."""
    attributes = getattr(span, "attributes", None)
    return attributes is not None and attributes.get(key) is not None


def set_auto_waste(span: Span, cause: str) -> None:
    """Set a waste cause found automatically, unless one is already set."""
    if not has_attribute(span, semconv.WASTE_CAUSE):
        span.set_attribute(semconv.WASTE_CAUSE, cause)


class SpanHandle:
    """The current span, with agentflight helpers. Every method is a no-op when the span is
    not recording (no tracer configured, sampled out, or already ended)."""

    __slots__ = ("_span",)

    def __init__(self, span: Span) -> None:
        self._span = span

    @property
    def span(self) -> Span:
        """The underlying OpenTelemetry span."""
        return self._span

    def is_recording(self) -> bool:
        """Whether attributes set through this handle are kept."""
        return self._span.is_recording()

    def set_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        cached_tokens: int | None = None,
    ) -> SpanHandle:
        """Record token usage; it takes precedence over usage read from the return value."""
        values = {
            semconv.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
            semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: reasoning_tokens,
            semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: cached_tokens,
        }
        attributes: dict[str, AttributeValue] = {}
        for key, value in values.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                self._reject(f"set_usage: {key} must be a non-negative int, got {value!r}")
                continue
            attributes[key] = value
        return self.set_attributes(attributes)

    def set_model(
        self, model: str | None = None, *, response_model: str | None = None
    ) -> SpanHandle:
        """Record the requested model (and, if known, the model that actually answered)."""
        attributes: dict[str, AttributeValue] = {}
        if model is not None:
            attributes[semconv.GEN_AI_REQUEST_MODEL] = model
        if response_model is not None:
            attributes[semconv.GEN_AI_RESPONSE_MODEL] = response_model
        return self.set_attributes(attributes)

    def mark_waste(self, cause: str) -> SpanHandle:
        """Mark the span's tokens as wasted, e.g. ``retried`` or ``parse_error``."""
        if cause not in semconv.WASTE_CAUSES:
            self._reject(
                f"mark_waste: unknown cause {cause!r}; one of {sorted(semconv.WASTE_CAUSES)}"
            )
            return self
        return self.set_attribute(semconv.WASTE_CAUSE, cause)

    def set_attribute(self, key: str, value: AttributeValue) -> SpanHandle:
        """Set one attribute."""
        return self.set_attributes({key: value})

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> SpanHandle:
        """Set several attributes at once."""
        if not attributes:
            return self
        try:
            if self._span.is_recording():
                self._span.set_attributes(attributes)
            else:
                logger.debug("agentflight: span not recording; dropped %s", list(attributes))
        except Exception as exc:
            internal_error(exc, "setting attributes")
        return self

    def _reject(self, message: str) -> None:
        try:
            raise ValueError(message)
        except ValueError as exc:
            internal_error(exc, message.split(":", 1)[0])

    def __repr__(self) -> str:
        return f"SpanHandle({self._span!r})"


def current_span() -> SpanHandle:
    """A handle on the span current in this context (a no-op handle if there is none)."""
    return SpanHandle(trace.get_current_span())


def handle_attributes(span: Span) -> dict[str, Any]:
    """A span's attributes as a plain dict (empty for non-SDK spans)."""
    return dict(getattr(span, "attributes", None) or {})
