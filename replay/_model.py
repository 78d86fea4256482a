"""A trace as a list of steps (agent run, routes, skills, LLM calls), from either source:
a recorded trace read from ClickHouse, or the spans a replay just produced in-process."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from tracer import semconv

AGENT: Final = "agent"
ROUTE: Final = "route"
SKILL: Final = "skill"
LLM: Final = "llm"
OTHER: Final = "other"
_KINDS: Final = {
    semconv.OP_INVOKE_AGENT: AGENT,
    semconv.OP_ROUTE: ROUTE,
    semconv.OP_EXECUTE_TOOL: SKILL,
    semconv.OP_CHAT: LLM,
    "text_completion": LLM,
    "generate_content": LLM,
    "completion": LLM,  # OpenLLMetry's llm.request.type
}


@dataclass
class Step:
    """One span of a trace, with what replay and the diff read from it."""

    span_id: str
    parent_id: str
    kind: str
    name: str
    """Agent name, route name, skill name; for LLM calls the span name."""
    start_ns: int = 0
    duration_ms: float = 0.0
    status: str = "Unset"
    error_type: str = ""
    error_message: str = ""
    route_target: str = ""
    model: str = ""
    response_model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    streamed: bool = False
    ttft_ms: float | None = None
    tbt_mean_ms: float | None = None
    stubbed: bool = False
    replay_of: str = ""
    # Content (texts as recorded; empty when not captured).
    input: str = ""
    output: str = ""
    display_input: str = ""
    display_output: str = ""
    input_messages: str = ""
    output_messages: str = ""
    system_instructions: str = ""
    tool_definitions: str = ""
    truncated: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_content(self) -> bool:
        return any(
            (self.input, self.output, self.display_input, self.display_output,
             self.input_messages, self.output_messages)
        )  # fmt: skip

    @property
    def entrypoint(self) -> str:
        return self.attributes.get(semconv.AGENT_ENTRYPOINT, "")

    @property
    def failed(self) -> bool:
        return self.status == "Error"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class TraceTree:
    """The steps of one trace, oldest first."""

    trace_id: str
    steps: list[Step]
    project: str = ""
    service: str = ""

    def of_kind(self, kind: str) -> list[Step]:
        return [step for step in self.steps if step.kind == kind]

    @property
    def agent(self) -> Step | None:
        """The outermost agent run (the first one, if several are siblings)."""
        agents = self.of_kind(AGENT)
        ids = {step.span_id for step in agents}
        outer = [step for step in agents if step.parent_id not in ids]
        return outer[0] if outer else None

    @property
    def root(self) -> Step | None:
        ids = {step.span_id for step in self.steps}
        roots = [step for step in self.steps if step.parent_id not in ids]
        return roots[0] if roots else None


def _truncated(text: str) -> tuple[str, ...]:
    try:
        keys = json.loads(text) if text else []
    except ValueError:
        return ()
    return tuple(str(k) for k in keys) if isinstance(keys, list) else ()


def step_from_row(row: Mapping[str, Any], content: Mapping[str, Any] | None) -> Step:
    """A step from a ``genai_spans`` row and its ``genai_content`` row (if it has one)."""
    operation = str(row["operation"])
    kind = _KINDS.get(operation, OTHER)
    name = {
        AGENT: row["agent_name"],
        ROUTE: row["route_name"],
        SKILL: row["skill_name"],
    }.get(kind) or str(row["span_name"])
    content = content or {}
    return Step(
        span_id=str(row["span_id"]),
        parent_id=str(row["parent_span_id"]),
        kind=kind,
        name=str(name),
        start_ns=int(row["start_ns"]),
        duration_ms=float(row["duration_ms"]),
        status=str(row["status_code"]),
        error_type=str(row["error_type"]),
        route_target=str(row["route_target"]),
        model=str(row["request_model"]),
        response_model=str(row["response_model"]),
        input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]),
        reasoning_tokens=int(row["reasoning_tokens"]),
        cached_tokens=int(row["cached_tokens"]),
        streamed=bool(row["streamed"]),
        ttft_ms=row["ttft_ms"],
        tbt_mean_ms=row["tbt_mean_ms"],
        replay_of=str(row["replay_of"]),
        input=str(content.get("input", "")),
        output=str(content.get("output", "")),
        display_input=str(content.get("display_input", "")),
        display_output=str(content.get("display_output", "")),
        input_messages=str(content.get("input_messages", "")),
        output_messages=str(content.get("output_messages", "")),
        system_instructions=str(content.get("system_instructions", "")),
        tool_definitions=str(content.get("tool_definitions", "")),
        truncated=_truncated(str(content.get("truncated", ""))),
        attributes=dict(content.get("attributes") or {}),
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def step_from_span(span: ReadableSpan) -> Step:
    """A step from a span the replay produced in this process (before export)."""
    a = dict(span.attributes or {})
    operation = a.get(semconv.GEN_AI_OPERATION_NAME)
    if operation is None and semconv.ROUTE_NAME in a:
        operation = semconv.OP_ROUTE
    kind = _KINDS.get(str(operation), OTHER)
    name = {
        AGENT: a.get(semconv.GEN_AI_AGENT_NAME),
        ROUTE: a.get(semconv.ROUTE_NAME),
        SKILL: a.get(semconv.GEN_AI_TOOL_NAME),
    }.get(kind) or span.name
    ttft_s = _float(a.get(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK))
    context = span.context
    parent = span.parent
    start, end = span.start_time or 0, span.end_time or span.start_time or 0
    status = span.status.status_code
    display_input = next(
        (str(a[k]) for k in (semconv.GEN_AI_TOOL_CALL_ARGUMENTS, semconv.AGENT_INPUT,
                             semconv.ROUTE_INPUT) if k in a), "")  # fmt: skip
    display_output = next(
        (str(a[k]) for k in (semconv.GEN_AI_TOOL_CALL_RESULT, semconv.AGENT_OUTPUT) if k in a), ""
    )
    return Step(
        span_id=f"{context.span_id:016x}" if context else "",
        parent_id=f"{parent.span_id:016x}" if parent else "",
        kind=kind,
        name=str(name),
        start_ns=start,
        duration_ms=(end - start) / 1e6,
        status={StatusCode.ERROR: "Error", StatusCode.OK: "Ok"}.get(status, "Unset"),
        error_type=str(a.get(semconv.ERROR_TYPE, "")),
        error_message=span.status.description or "",
        route_target=str(a.get(semconv.ROUTE_TARGET, "")),
        model=str(a.get(semconv.GEN_AI_REQUEST_MODEL, "")),
        response_model=str(a.get(semconv.GEN_AI_RESPONSE_MODEL, "")),
        input_tokens=_int(a.get(semconv.GEN_AI_USAGE_INPUT_TOKENS)),
        output_tokens=_int(a.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)),
        reasoning_tokens=_int(a.get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)),
        cached_tokens=_int(a.get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)),
        streamed=bool(a.get(semconv.LLM_STREAMED, False)),
        ttft_ms=None if ttft_s is None else ttft_s * 1000,
        tbt_mean_ms=_float(a.get(semconv.LLM_TBT_MEAN_MS)),
        stubbed=bool(a.get(semconv.REPLAY_STUBBED, False)),
        replay_of=str(a.get(semconv.REPLAY_OF, "")),
        input=str(a.get(semconv.CONTENT_INPUT, "")),
        output=str(a.get(semconv.CONTENT_OUTPUT, "")),
        display_input=display_input,
        display_output=display_output,
        input_messages=str(a.get(semconv.GEN_AI_INPUT_MESSAGES, "")),
        output_messages=str(a.get(semconv.GEN_AI_OUTPUT_MESSAGES, "")),
        system_instructions=str(a.get(semconv.GEN_AI_SYSTEM_INSTRUCTIONS, "")),
        tool_definitions=str(a.get(semconv.GEN_AI_TOOL_DEFINITIONS, "")),
        truncated=_truncated(str(a.get(semconv.CONTENT_TRUNCATED, ""))),
    )


def tree_from_spans(trace_id: str, spans: Iterable[ReadableSpan]) -> TraceTree:
    """The replayed trace, from its in-process spans, oldest first."""
    steps = sorted((step_from_span(span) for span in spans), key=lambda s: (s.start_ns, s.span_id))
    return TraceTree(trace_id, steps)
