"""Recorded LLM calls as OpenAI chat-completions requests, and the overrides applied to them.

A request is rebuilt from the first of these that the span has:

1. the exact request (``agentflight.content.input``, agentflight's tracer);
2. the GenAI conventions' ``gen_ai.input.messages`` (+ ``gen_ai.system_instructions``,
   ``gen_ai.tool.definitions`` and the ``gen_ai.request.*`` parameters): agentflight before
   exact capture, the official OpenTelemetry OpenAI instrumentation;
3. OpenLLMetry's ``gen_ai.prompt.{i}.*`` (+ ``llm.request.functions.{i}.*``);
4. OpenInference's ``llm.input_messages.{i}.message.*`` (+ ``llm.invocation_parameters``,
   ``llm.tools.{i}.tool.json_schema``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from tracer import ReplayOverrides, exact, semconv

from ._model import Step

__all__ = [
    "apply_overrides",
    "output_text",
    "recorded_output",
    "recorded_request",
    "system_prompt_index",
]

# Fields of the exact request that are not chat-completions body fields (``@llm`` arguments).
_NOT_BODY = ("prompt", "system", "instructions", "system_prompt")
_SYSTEM_ROLES = ("system", "developer")
# gen_ai.request.* attribute -> chat-completions field.
_PARAMETERS = {
    semconv.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    semconv.GEN_AI_REQUEST_TOP_P: "top_p",
    semconv.GEN_AI_REQUEST_MAX_TOKENS: "max_tokens",
    semconv.GEN_AI_REQUEST_SEED: "seed",
    semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY: "frequency_penalty",
    semconv.GEN_AI_REQUEST_PRESENCE_PENALTY: "presence_penalty",
    semconv.GEN_AI_REQUEST_STOP_SEQUENCES: "stop",
    semconv.GEN_AI_REQUEST_CHOICE_COUNT: "n",
}
_INDEXED = re.compile(r"^(\d+)\.(.+)$")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _indexed(attributes: Mapping[str, str], prefix: str) -> list[dict[str, str]]:
    """``{prefix}{i}.{rest}`` attributes grouped by ``i``, in index order."""
    groups: dict[int, dict[str, str]] = {}
    for key, value in attributes.items():
        if key.startswith(prefix):
            match = _INDEXED.match(key[len(prefix) :])
            if match:
                groups.setdefault(int(match[1]), {})[match[2]] = value
    return [groups[i] for i in sorted(groups)]


def _from_exact(step: Step) -> dict[str, Any] | None:
    tree = _json(step.input)
    if not isinstance(tree, dict) or exact.is_omitted(tree):
        return None
    body = exact.plain(tree)
    if not isinstance(body, dict):
        return None
    messages = body.get("messages")
    if not isinstance(messages, list):
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            return None
        messages = [{"role": "user", "content": prompt}]
    system = next((body[k] for k in _NOT_BODY[1:] if isinstance(body.get(k), str)), None)
    if system is not None:
        messages = [{"role": "system", "content": system}, *messages]
    request = {k: v for k, v in body.items() if k not in _NOT_BODY and v is not None}
    request["messages"] = messages
    request.setdefault("model", step.model)
    return request


def _text_of(parts: list[Any]) -> str:
    return "".join(
        str(p.get("content", "")) for p in parts if isinstance(p, dict) and p.get("type") == "text"
    )


def _semconv_message(message: Mapping[str, Any]) -> dict[str, Any]:
    role = str(message.get("role") or "user")
    parts = [p for p in message.get("parts") or [] if isinstance(p, dict)]
    responses = [p for p in parts if p.get("type") == "tool_call_response"]
    if role == "tool" and responses:
        response = responses[0].get("response")
        content = response if isinstance(response, str) else json.dumps(response)
        return {"role": "tool", "tool_call_id": responses[0].get("id"), "content": content}
    out: dict[str, Any] = {"role": role, "content": _text_of(parts)}
    calls = [p for p in parts if p.get("type") == "tool_call"]
    if calls:
        out["tool_calls"] = [
            {
                "id": call.get("id"),
                "type": "function",
                "function": {
                    "name": call.get("name"),
                    "arguments": call["arguments"]
                    if isinstance(call.get("arguments"), str)
                    else json.dumps(call.get("arguments")),
                },
            }
            for call in calls
        ]
        if not out["content"]:
            out["content"] = None
    if message.get("name"):
        out["name"] = message["name"]
    return out


def _parameters(step: Step) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, name in _PARAMETERS.items():
        if key in step.attributes:
            params[name] = _json(step.attributes[key])
    return params


def _from_semconv(step: Step) -> dict[str, Any] | None:
    messages = _json(step.input_messages)
    if not isinstance(messages, list) or not messages:
        return None
    converted = [_semconv_message(m) for m in messages if isinstance(m, dict)]
    system = _json(step.system_instructions) if step.system_instructions else None
    if isinstance(system, list) and system:
        converted.insert(0, {"role": "system", "content": _text_of(system)})
    request: dict[str, Any] = {"model": step.model, "messages": converted, **_parameters(step)}
    tools = _json(step.tool_definitions) if step.tool_definitions else None
    if isinstance(tools, list) and tools:
        request["tools"] = tools
    return request


def _from_openllmetry(step: Step) -> dict[str, Any] | None:
    prompts = _indexed(step.attributes, semconv.OPENLLMETRY_PROMPT_PREFIX)
    if not prompts:
        return None
    messages = []
    for prompt in prompts:
        message: dict[str, Any] = {"role": prompt.get("role", "user")}
        message["content"] = prompt.get("content")
        if prompt.get("tool_call_id"):
            message["tool_call_id"] = prompt["tool_call_id"]
        calls = _indexed(prompt, "tool_calls.")
        if calls:
            message["tool_calls"] = [
                {
                    "id": c.get("id"),
                    "type": "function",
                    "function": {"name": c.get("name"), "arguments": c.get("arguments", "{}")},
                }
                for c in calls
            ]
        messages.append(message)
    request: dict[str, Any] = {"model": step.model, "messages": messages, **_parameters(step)}
    functions = _indexed(step.attributes, semconv.OPENLLMETRY_FUNCTIONS_PREFIX)
    if functions:
        request["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": f.get("name"),
                    "description": f.get("description", ""),
                    "parameters": _json(f.get("parameters", "{}")),
                },
            }
            for f in functions
        ]
    return request


def _from_openinference(step: Step) -> dict[str, Any] | None:
    inputs = _indexed(step.attributes, semconv.OPENINFERENCE_INPUT_MESSAGES_PREFIX)
    if not inputs:
        return None
    messages = []
    for entry in inputs:
        message: dict[str, Any] = {"role": entry.get("message.role", "user")}
        content = entry.get("message.content")
        if content is None:
            parts = _indexed(entry, "message.contents.")
            content = "".join(p.get("message_content.text", "") for p in parts)
        message["content"] = content
        if entry.get("message.tool_call_id"):
            message["tool_call_id"] = entry["message.tool_call_id"]
        calls = _indexed(entry, "message.tool_calls.")
        if calls:
            message["tool_calls"] = [
                {
                    "id": c.get("tool_call.id"),
                    "type": "function",
                    "function": {
                        "name": c.get("tool_call.function.name"),
                        "arguments": c.get("tool_call.function.arguments", "{}"),
                    },
                }
                for c in calls
            ]
        messages.append(message)
    request: dict[str, Any] = {"model": step.model, "messages": messages}
    params = _json(step.attributes.get(semconv.OPENINFERENCE_INVOCATION_PARAMETERS, "{}"))
    if isinstance(params, dict):
        request.update({k: v for k, v in params.items() if k not in ("messages", "model")})
    tools = _indexed(step.attributes, semconv.OPENINFERENCE_TOOLS_PREFIX)
    if tools:
        request["tools"] = [_json(t.get("tool.json_schema", "{}")) for t in tools]
    return request


_SOURCES: tuple[Callable[[Step], dict[str, Any] | None], ...] = (
    _from_exact,
    _from_semconv,
    _from_openllmetry,
    _from_openinference,
)


def recorded_request(step: Step) -> tuple[dict[str, Any] | None, str]:
    """The OpenAI request a recorded LLM call sent, or ``None`` and why it cannot be rebuilt."""
    for source in _SOURCES:
        request = source(step)
        if request is not None:
            if not request.get("model"):
                return None, "no model recorded"
            return request, ""
    if semconv.CONTENT_INPUT in step.truncated:
        return None, "its request was longer than the exact-capture bound and was not kept"
    return None, "no input messages recorded (content capture was off)"


def system_prompt_index(messages: list[Any]) -> int | None:
    """The index of the first system (or developer) message, if any."""
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else getattr(message, "role", None)
        if role in _SYSTEM_ROLES:
            return index
    return None


def apply_overrides(
    request: Mapping[str, Any], overrides: ReplayOverrides, step: str
) -> dict[str, Any]:
    """``request`` with the model, parameters and (for this step) system prompt replaced.

    The system prompt replaces the content of the first system or developer message; a
    request without one gets a system message first.
    """
    out = dict(request)
    if overrides.model:
        out["model"] = overrides.model
    out.update(overrides.params)
    if overrides.applies_to(step) and isinstance(out.get("messages"), (list, tuple)):
        messages = list(out["messages"])
        index = system_prompt_index(messages)
        if index is None:
            messages.insert(0, {"role": "system", "content": overrides.system_prompt})
        else:
            original = messages[index]
            role = original.get("role") if isinstance(original, dict) else original.role
            messages[index] = {"role": role, "content": overrides.system_prompt}
        out["messages"] = messages
    return out


def recorded_output(step: Step) -> str:
    """The text an LLM call answered: the conventions' output messages, else OpenLLMetry's
    ``gen_ai.completion.{i}.content``, else OpenInference's ``llm.output_messages.{i}``."""
    if step.output_messages:
        return output_text(step.output_messages)
    completions = _indexed(step.attributes, semconv.OPENLLMETRY_COMPLETION_PREFIX)
    if not completions:
        completions = [
            {"content": m.get("message.content", "")}
            for m in _indexed(step.attributes, semconv.OPENINFERENCE_OUTPUT_MESSAGES_PREFIX)
        ]
    return "\n".join(c.get("content", "") or "" for c in completions)


def output_text(messages_json: str) -> str:
    """The text of recorded or replayed output messages (semconv JSON), parts joined."""
    messages = _json(messages_json) if messages_json else []
    if not isinstance(messages, list):
        return ""
    texts = []
    for message in messages:
        if isinstance(message, dict):
            texts.append(_text_of([p for p in message.get("parts") or [] if isinstance(p, dict)]))
    return "\n".join(texts)
