"""Chat messages in the shape of the GenAI semantic conventions' JSON schemas.

Input and output messages are ``{"role", "parts": [...]}`` objects whose parts are
``{"type": "text", "content"}``, ``{"type": "tool_call", "id", "name", "arguments"}`` or
``{"type": "tool_call_response", "id", "response"}``; output messages add ``finish_reason``.
OpenAI-style messages (dicts or SDK objects) are converted; system messages that are part of
the chat history stay in the input messages, as the conventions ask.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

Part = dict[str, Any]
Message = dict[str, Any]


class _Attributes:
    """``.get`` over an object's attributes, for objects that keep no ``__dict__``."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self._obj, name, default)


def fields(obj: Any) -> Mapping[str, Any] | _Attributes:
    """Something with ``.get(name)`` over a dict or an object's fields.

    Pydantic models (the OpenAI SDK's types) keep their fields in ``__dict__``, so reading
    them costs one C-level ``dict.get``.
    """
    if isinstance(obj, dict):
        return obj
    values = getattr(obj, "__dict__", None)
    return values if isinstance(values, dict) else _Attributes(obj)


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` for objects, ``None`` when absent."""
    return fields(obj).get(name)


def _arguments(raw: Any) -> Any:
    """Tool-call arguments: parsed when they are a JSON string, as given otherwise."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def text_part(text: str) -> Part:
    """A text part."""
    return {"type": "text", "content": text}


def tool_call_part(call: Any) -> Part:
    """A tool-call request part from an OpenAI ``tool_calls`` item (dict or object)."""
    get = fields(call).get
    function = fields(get("function")).get
    return {
        "type": "tool_call",
        "id": get("id"),
        "name": function("name"),
        "arguments": _arguments(function("arguments")),
    }


def _content_parts(content: Any) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [text_part(content)]
    parts: list[Part] = []
    if isinstance(content, (list, tuple)):  # never consume a one-shot iterator
        for item in content:
            kind = field(item, "type")
            if kind == "text":
                parts.append(text_part(field(item, "text") or ""))
            elif isinstance(item, dict):
                parts.append(item)
            else:
                parts.append({"type": str(kind or "unknown"), "value": item})
        return parts
    return [{"type": "unknown", "value": content}]


def input_message(message: Any) -> Message:
    """One OpenAI-style chat message as a semconv input message."""
    if isinstance(message, str):
        return {"role": "user", "parts": [text_part(message)]}
    get = fields(message).get
    role = get("role") or "user"
    content = get("content")
    if role == "tool":
        parts: list[Part] = [
            {
                "type": "tool_call_response",
                "id": get("tool_call_id"),
                "response": content,
            }
        ]
    else:
        parts = _content_parts(content)
        parts.extend(tool_call_part(call) for call in get("tool_calls") or ())
    out: Message = {"role": role, "parts": parts}
    name = get("name")
    if name:
        out["name"] = name
    return out


def input_messages(messages: Any) -> list[Message] | None:
    """A ``messages`` argument (a list of messages, or a prompt string) as semconv messages.

    ``None`` for other iterables: they may be one-shot, and the call still needs them.
    """
    if isinstance(messages, (str, dict)):
        return [input_message(messages)]
    if isinstance(messages, (list, tuple)):
        return [input_message(message) for message in messages]
    return None


def system_instructions(value: Any) -> list[Part]:
    """A separate system/instructions argument as semconv system instructions."""
    if isinstance(value, str):
        return [text_part(value)]
    return _content_parts(value)


def output_message(
    role: str | None,
    text: str | None,
    tool_calls: Iterable[Any] = (),
    finish_reason: str | None = None,
) -> Message:
    """An assistant output message."""
    parts: list[Part] = [text_part(text)] if text else []
    parts.extend(tool_call_part(call) for call in tool_calls)
    out: Message = {"role": role or "assistant", "parts": parts}
    if finish_reason is not None:
        out["finish_reason"] = finish_reason
    return out


def output_messages_from_choices(choices: Iterable[Any]) -> list[Message]:
    """Output messages from a ChatCompletion's ``choices`` (dicts or SDK objects)."""
    messages = []
    for choice in choices:
        choice_get = fields(choice).get
        get = fields(choice_get("message")).get
        messages.append(
            output_message(
                get("role"),
                get("content") or get("refusal"),
                get("tool_calls") or (),
                choice_get("finish_reason"),
            )
        )
    return messages
