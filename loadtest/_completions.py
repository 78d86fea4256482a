"""What the simulator answers to one chat-completion request, decided before any waiting.

Token counts use the usual rule of thumb of four characters per token; there is no
tokenizer. The answer's length follows ``max_tokens`` / ``max_completion_tokens`` (a cap on
a length drawn from the profile's distribution), vLLM's ``ignore_eos`` (write exactly
``max_tokens``) and ``min_tokens``. Tool calls are chosen deterministically from the request.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass
from typing import Any

from loadtest._capacity import Capacity

__all__ = ["CHARS_PER_TOKEN", "Plan", "RequestError", "ToolCall", "count_tokens", "plan_request"]

CHARS_PER_TOKEN = 4
_WORDS = (
    "the", "model", "answers", "with", "plain", "words", "so", "that", "every", "chunk",
    "carries", "one", "token", "of", "text", "and", "the", "load", "test", "can", "count",
    "latency", "follows", "capacity", "batch", "sequences", "decode", "together", "serving",
)  # fmt: skip
_EFFORT_SCALE = {"none": 0.0, "minimal": 0.0, "low": 0.5, "medium": 1.0, "high": 2.0}


class RequestError(ValueError):
    """A request the OpenAI API would reject with 400."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything random about a request, drawn up front so a seed fixes it."""

    model: str
    stream: bool
    include_usage: bool
    prompt_tokens: int
    reasoning_tokens: int
    pieces: tuple[str, ...]
    """Visible tokens: content text, or the tool call's argument text in pieces."""
    tool_call: ToolCall | None
    finish_reason: str
    fail_status: int | None
    stall_at: int | None
    drop_at: int | None

    @property
    def completion_tokens(self) -> int:
        return self.reasoning_tokens + len(self.pieces)

    @property
    def content(self) -> str | None:
        return None if self.tool_call else "".join(self.pieces)


def count_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _message_text(message: Any) -> str:
    if not isinstance(message, dict):
        raise RequestError("each message must be an object")
    content = message.get("content")
    if content is None or isinstance(content, str):
        text = content or ""
    elif isinstance(content, list):
        text = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    else:
        raise RequestError("message content must be a string or a list of parts")
    if message.get("tool_calls"):
        text += json.dumps(message["tool_calls"])
    return text


def _int_param(body: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RequestError(f"{name} must be a positive integer")
        return value
    return None


def _example_value(schema: Any, key: str) -> Any:
    if not isinstance(schema, dict):
        return key
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return {
        "integer": 1,
        "number": 1.5,
        "boolean": True,
        "array": [],
        "object": {},
        "null": None,
    }.get(str(kind), f"{key} value")


def _tool_call(body: dict[str, Any], seed: int | None, request_id: str) -> ToolCall | None:
    tools = body.get("tools")
    if not tools:
        return None
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise RequestError("tools must be a list of objects")
    functions = [t.get("function") or {} for t in tools]
    names = [str(f.get("name") or "") for f in functions]
    if not all(names):
        raise RequestError("every tool needs function.name")
    choice = body.get("tool_choice", "auto")
    messages = body.get("messages") or []
    if choice == "none":
        return None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        if wanted not in names:
            raise RequestError(f"tool_choice names unknown function {wanted!r}")
        index = names.index(wanted)
    else:
        last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
        if choice != "required" and last.get("role") == "tool":
            return None  # the tool result came back: answer in text, so agent loops end
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        key = f"{seed}|{_message_text(users[-1]) if users else ''}".encode()
        index = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % len(names)
    params = functions[index].get("parameters") or {}
    properties = params.get("properties") or {}
    required = params.get("required") or list(properties)
    arguments = {k: _example_value(properties.get(k), k) for k in required}
    return ToolCall(
        id="call_" + request_id.removeprefix("chatcmpl-"),
        name=names[index],
        arguments=json.dumps(arguments),
    )


def plan_request(
    body: Any,
    capacity: Capacity,
    rng: random.Random,
    *,
    request_id: str,
    seed: int | None,
) -> Plan:
    """Validate ``body`` and decide the whole answer with ``rng``."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model is required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list")
    prompt_text = "".join(_message_text(m) for m in messages)
    prompt_tokens = count_tokens(prompt_text) + (
        count_tokens(json.dumps(body["tools"])) if body.get("tools") else 0
    )
    stream = body.get("stream") is True
    options = body.get("stream_options") or {}
    include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True

    effort = body.get("reasoning_effort", "medium")
    reasoning = round(capacity.reasoning_tokens * _EFFORT_SCALE.get(str(effort), 1.0))

    tool_call = _tool_call(body, seed, request_id)
    natural = capacity.sample_output_tokens(rng)
    if tool_call is not None:
        args = tool_call.arguments
        pieces = tuple(args[i : i + CHARS_PER_TOKEN] for i in range(0, len(args), CHARS_PER_TOKEN))
        finish = "tool_calls"
    else:
        cap = _int_param(body, "max_completion_tokens", "max_tokens")
        floor = _int_param(body, "min_tokens") or 1
        if cap is not None and (body.get("ignore_eos") is True or max(natural, floor) > cap):
            length, finish = cap, "length"
        else:
            length, finish = max(natural, floor), "stop"
        words = [rng.choice(_WORDS) for _ in range(length)]
        pieces = tuple(w if i == 0 else " " + w for i, w in enumerate(words))

    steps = reasoning + len(pieces)
    fail_status = rng.choice((500, 503)) if rng.random() < capacity.error_rate else None
    stall_at = rng.randrange(steps) if rng.random() < capacity.stall_rate else None
    drop_at = rng.randrange(steps) if rng.random() < capacity.drop_rate else None
    return Plan(
        model=model,
        stream=stream,
        include_usage=include_usage,
        prompt_tokens=max(prompt_tokens, 1),
        reasoning_tokens=reasoning,
        pieces=pieces,
        tool_call=tool_call,
        finish_reason=finish,
        fail_status=fail_status,
        stall_at=stall_at,
        drop_at=drop_at,
    )
