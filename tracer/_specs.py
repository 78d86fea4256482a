"""What agent, route and skill spans record (LLM spans are in ``_llm``)."""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.util.types import AttributeValue

from . import semconv
from ._binding import ArgBinder, qualified_name, signature
from ._content import capture_exact, capture_pair, capture_text, to_json
from ._run import Run, Spec
from ._stats import StreamStats

_now = time.perf_counter_ns


def code_attributes(fn: Callable[..., Any]) -> dict[str, AttributeValue]:
    """``code.namespace`` and ``code.function`` of a decorated function."""
    module, qualname = qualified_name(fn)
    return {semconv.CODE_NAMESPACE: module, semconv.CODE_FUNCTION: qualname}


class _CapturingSpec(Spec):
    """A spec that records the bound call arguments and the result under two keys."""

    __slots__ = ("binder", "input_key", "output_key")

    def __init__(
        self,
        name: str,
        static: dict[str, AttributeValue],
        fn: Callable[..., Any],
        input_key: str,
        output_key: str,
    ) -> None:
        super().__init__(name, static)
        self.binder = ArgBinder(signature(fn))
        self.input_key = input_key
        self.output_key = output_key

    def on_start(
        self, run: Run, args: tuple[Any, ...], kwargs: dict[str, Any], state: Any = None
    ) -> None:
        settings = run.settings
        if settings.capture_content:
            bound = self.binder.bind(args, kwargs)
            capture_pair(run.span, self.input_key, semconv.CONTENT_INPUT, bound, settings)

    def on_result(self, run: Run, value: Any) -> Any:
        settings = run.settings
        if settings.capture_content:
            capture_pair(run.span, self.output_key, semconv.CONTENT_OUTPUT, value, settings)
        return value

    def on_stream_end(
        self, run: Run, outcome: str, stats: StreamStats | None, items: list[Any]
    ) -> None:
        self.on_result(run, items)


class AgentSpec(_CapturingSpec):
    """``invoke_agent``: the root of one agent run, with its entry point and deadline."""

    __slots__ = ("timeout_ms",)

    def __init__(self, fn: Callable[..., Any], name: str, timeout_ms: float | None) -> None:
        module, qualname = qualified_name(fn)
        static: dict[str, AttributeValue] = {
            semconv.GEN_AI_OPERATION_NAME: semconv.OP_INVOKE_AGENT,
            semconv.GEN_AI_AGENT_NAME: name,
            semconv.AGENT_ENTRYPOINT: f"{module}:{qualname}",
            **code_attributes(fn),
        }
        if timeout_ms is not None:
            static[semconv.AGENT_TIMEOUT_MS] = math.ceil(timeout_ms)  # whole milliseconds
        super().__init__(
            f"{semconv.OP_INVOKE_AGENT} {name}",
            static,
            fn,
            semconv.AGENT_INPUT,
            semconv.AGENT_OUTPUT,
        )
        self.timeout_ms = timeout_ms

    def on_end(self, run: Run) -> None:
        elapsed_ms = (_now() - run.start_ns) / 1e6
        attributes: dict[str, AttributeValue] = {semconv.AGENT_ELAPSED_MS: elapsed_ms}
        if self.timeout_ms is not None:
            attributes[semconv.AGENT_TIMED_OUT] = elapsed_ms > self.timeout_ms
        if run.span.is_recording():
            run.span.set_attributes(attributes)


class SkillSpec(_CapturingSpec):
    """``execute_tool``: a skill's arguments and result, as JSON."""

    __slots__ = ()

    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        static: dict[str, AttributeValue] = {
            semconv.GEN_AI_OPERATION_NAME: semconv.OP_EXECUTE_TOOL,
            semconv.GEN_AI_TOOL_NAME: name,
            semconv.GEN_AI_TOOL_TYPE: "function",
            **code_attributes(fn),
        }
        super().__init__(
            f"{semconv.OP_EXECUTE_TOOL} {name}",
            static,
            fn,
            semconv.GEN_AI_TOOL_CALL_ARGUMENTS,
            semconv.GEN_AI_TOOL_CALL_RESULT,
        )


def route_label(value: Any) -> str | None:
    """The chosen target's name: strings as they are, enums by value, callables and classes
    by qualified name; ``None`` for any other value (which is content, not a name)."""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, str):
        return value
    if callable(value) and hasattr(value, "__qualname__"):
        return str(value.__qualname__)
    return None


def route_target(value: Any) -> str:
    """The chosen target as a label: its name (see ``route_label``), else its JSON."""
    label = route_label(value)
    return label if label is not None else to_json(value)


class RouteSpec(_CapturingSpec):
    """A routing decision: its input and the chosen target (no GenAI operation name)."""

    __slots__ = ()

    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        static: dict[str, AttributeValue] = {semconv.ROUTE_NAME: name, **code_attributes(fn)}
        super().__init__(
            f"{semconv.OP_ROUTE} {name}", static, fn, semconv.ROUTE_INPUT, semconv.ROUTE_TARGET
        )

    def on_result(self, run: Run, value: Any) -> Any:
        settings = run.settings
        if settings.capture_content:
            capture_text(run.span, semconv.ROUTE_TARGET, route_target(value), settings)
            capture_exact(run.span, semconv.CONTENT_OUTPUT, value, settings)
        else:
            label = route_label(value)  # a target's name is not content: recorded anyway
            if label is not None:
                capture_text(run.span, semconv.ROUTE_TARGET, label, settings)
        return value

    def on_stream_end(
        self, run: Run, outcome: str, stats: StreamStats | None, items: list[Any]
    ) -> None:
        if items:
            self.on_result(run, items[-1])  # a streaming router's last word is its choice
