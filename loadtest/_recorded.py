"""Recorded traffic as the load shape: the LLM calls of a window, read from ``genai_spans``.

Each recorded call becomes a :class:`~loadtest._trace.TraceRow`: its start (the arrival
time), prompt and output token counts, whether it streamed, and the model it asked for.
Calls made by load tests and replays are not production traffic and are left out. With
``--messages recorded`` the calls' own messages are sent (:func:`recorded_messages`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from collector import Store
from loadtest._trace import TraceRow
from loadtest._units import InputError
from loadtest._window import RecordedSelection
from tracer import semconv

__all__ = [
    "MAX_RECORDED_CALLS",
    "read_recorded",
    "recorded_messages",
    "to_openai_messages",
    "with_messages",
]

MAX_RECORDED_CALLS = 500_000
"""More calls than this in one window is an error: narrow the window or the filters."""

# The LLM calls of the selection; {agent} selects the traces with a span of that agent.
_SELECTION = """
FROM {db:Identifier}.genai_spans
WHERE timestamp >= fromUnixTimestamp64Nano({since_ns:Int64})
  AND timestamp < fromUnixTimestamp64Nano({until_ns:Int64})
  AND operation IN ('chat', 'text_completion', 'generate_content')
  AND loadtest_run_id = '' AND replay_run_id = ''
  AND ({service:String} = '' OR service_name = {service:String})
  AND ({model:String} = '' OR request_model = {model:String})
  AND ({agent:String} = '' OR trace_id IN (
        SELECT trace_id FROM {db:Identifier}.genai_spans
        WHERE agent_name = {agent:String}
          AND timestamp >= fromUnixTimestamp64Nano({since_ns:Int64}) - INTERVAL 1 DAY
          AND timestamp < fromUnixTimestamp64Nano({until_ns:Int64})))
"""

_CALLS_SQL = (
    "SELECT toUnixTimestamp64Nano(timestamp) AS start_ns, span_id, "
    "if(request_model != '', request_model, response_model) AS model, "
    "input_tokens, output_tokens, streamed"
    + _SELECTION
    + "ORDER BY timestamp, span_id LIMIT {limit:UInt32}"
)

# The recorded content of the selected calls, from the raw spans' attributes.
_MESSAGES_SQL = f"""
SELECT SpanId,
       SpanAttributes['{semconv.GEN_AI_INPUT_MESSAGES}'] AS messages,
       SpanAttributes['{semconv.GEN_AI_SYSTEM_INSTRUCTIONS}'] AS instructions
FROM {{db:Identifier}}.otel_traces
WHERE Timestamp >= fromUnixTimestamp64Nano({{since_ns:Int64}})
  AND Timestamp < fromUnixTimestamp64Nano({{until_ns:Int64}})
  AND SpanAttributes['{semconv.GEN_AI_INPUT_MESSAGES}'] != ''
  AND SpanId IN (SELECT span_id {_SELECTION})
"""


def read_recorded(store: Store, selection: RecordedSelection) -> list[TraceRow]:
    """The selected calls in arrival order; :class:`InputError` if there are none."""
    params = {**selection.params(), "limit": MAX_RECORDED_CALLS + 1}
    rows = store.query(_CALLS_SQL, params).result_rows
    if not rows:
        raise InputError(f"no recorded LLM calls {selection.describe()}")
    if len(rows) > MAX_RECORDED_CALLS:
        raise InputError(
            f"more than {MAX_RECORDED_CALLS:,} recorded LLM calls {selection.describe()}; "
            "narrow the window (--since/--until) or filter (--service, --agent, --model)"
        )
    first = rows[0][0]
    return [
        TraceRow(
            offset_s=(start_ns - first) / 1e9,
            prompt_tokens=int(input_tokens),
            output_tokens=int(output_tokens),
            model=str(model) or None,
            stream=bool(streamed),
            messages=None,
            span_id=str(span_id),
        )
        for start_ns, span_id, model, input_tokens, output_tokens, streamed in rows
    ]


def recorded_messages(
    store: Store, selection: RecordedSelection
) -> dict[str, list[dict[str, Any]]]:
    """The recorded input messages of the selected calls, by span id, as OpenAI chat
    messages. Calls recorded without content (or with content cut short) are absent.

    The content comes from the raw spans' ``gen_ai.input.messages`` and
    ``gen_ai.system_instructions`` attributes (what the tracer records with content
    capture on); this is the one place to read it from a content table instead.
    """
    found: dict[str, list[dict[str, Any]]] = {}
    for span_id, messages, instructions in store.query(
        _MESSAGES_SQL, selection.params()
    ).result_rows:
        converted = to_openai_messages(messages, instructions)
        if converted:
            found[str(span_id)] = converted
    return found


def with_messages(
    rows: list[TraceRow], messages: dict[str, list[dict[str, Any]]]
) -> list[TraceRow]:
    return [replace(row, messages=messages.get(row.span_id or "")) for row in rows]


def _text(parts: list[Any]) -> str | list[dict[str, Any]]:
    texts = [p.get("content") for p in parts if isinstance(p, dict) and p.get("type") == "text"]
    others = [
        p
        for p in parts
        if isinstance(p, dict) and p.get("type") not in ("text", "tool_call", "tool_call_response")
    ]
    if not others:
        return "".join(str(t or "") for t in texts)
    return [{"type": "text", "text": str(t or "")} for t in texts] + others


def _arguments(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def to_openai_messages(
    messages_json: str, instructions_json: str = ""
) -> list[dict[str, Any]] | None:
    """Semantic-convention messages (``{"role", "parts"}``) as OpenAI chat messages;
    ``None`` when the JSON does not parse (content cut at the capture limit) or is empty."""
    try:
        messages = json.loads(messages_json)
        instructions = json.loads(instructions_json) if instructions_json else None
    except ValueError:
        return None
    if not isinstance(messages, list) or not messages:
        return None
    out: list[dict[str, Any]] = []
    if isinstance(instructions, list) and instructions:
        out.append({"role": "system", "content": _text(instructions)})
    for message in messages:
        if not isinstance(message, dict):
            return None
        role = str(message.get("role") or "user")
        raw_parts = message.get("parts")
        parts: list[Any] = raw_parts if isinstance(raw_parts, list) else []
        for part in parts:
            if isinstance(part, dict) and part.get("type") == "tool_call_response":
                response = part.get("response")
                out.append(
                    {
                        "role": "tool",
                        "tool_call_id": part.get("id"),
                        "content": response if isinstance(response, str) else json.dumps(response),
                    }
                )
        if role == "tool":
            continue
        converted: dict[str, Any] = {"role": role, "content": _text(parts)}
        calls = [p for p in parts if isinstance(p, dict) and p.get("type") == "tool_call"]
        if calls:
            converted["tool_calls"] = [
                {
                    "id": call.get("id"),
                    "type": "function",
                    "function": {
                        "name": call.get("name"),
                        "arguments": _arguments(call.get("arguments")),
                    },
                }
                for call in calls
            ]
            if not converted["content"]:
                converted["content"] = None
        if message.get("name"):
            converted["name"] = message["name"]
        out.append(converted)
    return out


def load_recorded(
    selection: RecordedSelection, *, messages: bool
) -> tuple[list[TraceRow], list[str]]:
    """Read the selected calls (and, with ``messages``, their recorded messages) from the
    configured database; warnings to report. :class:`InputError` for an empty selection or
    a database that is missing or down."""
    from loadtest._history import connect

    warnings: list[str] = []
    with connect() as store:
        rows = read_recorded(store, selection)
        if messages:
            found = recorded_messages(store, selection)
            if not found:
                raise InputError(
                    f"--messages recorded: none of the {len(rows)} recorded LLM calls "
                    f"{selection.describe()} has its messages captured (content capture was off)"
                )
            rows = with_messages(rows, found)
            missing = sum(1 for row in rows if row.messages is None)
            if missing:
                warnings.append(
                    f"{missing} of {len(rows)} recorded calls had no usable captured messages: "
                    "synthetic prompts of their recorded sizes were sent for them"
                )
    return rows, warnings
