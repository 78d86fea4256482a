"""Reading LLM calls: request parameters from call arguments, usage and results from returns."""

from __future__ import annotations

from typing import Any, Final

from opentelemetry.util.types import AttributeValue

from . import semconv
from ._messages import fields

# Call-argument name -> GenAI request attribute. Anything not of a plain type (``None``,
# the OpenAI SDK's ``omit``/``NOT_GIVEN`` sentinels) is skipped.
REQUEST_PARAMETERS: Final[dict[str, str]] = {
    "temperature": semconv.GEN_AI_REQUEST_TEMPERATURE,
    "max_tokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "max_output_tokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "top_p": semconv.GEN_AI_REQUEST_TOP_P,
    "top_k": semconv.GEN_AI_REQUEST_TOP_K,
    "seed": semconv.GEN_AI_REQUEST_SEED,
    "stop": semconv.GEN_AI_REQUEST_STOP_SEQUENCES,
    "frequency_penalty": semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": semconv.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "stream": semconv.GEN_AI_REQUEST_STREAM,
}
# Read from the OpenAI SDK's arguments only: in user functions ``n`` means anything.
OPENAI_PARAMETERS: Final[dict[str, str]] = {
    **REQUEST_PARAMETERS,
    "n": semconv.GEN_AI_REQUEST_CHOICE_COUNT,
}

# What an LLM request's exact form records from an ``@llm`` function's arguments: the
# OpenAI chat-completions body fields (``n`` only from the OpenAI SDK, as above) and the
# prompt/system arguments ``@llm`` reads. The OpenAI instrumentation records every argument
# of ``create`` except these client-side options.
LLM_REQUEST_FIELDS: Final = (
    "model", "messages", "prompt", "system", "instructions", "system_prompt",
    "temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens",
    "max_output_tokens", "stop", "seed", "frequency_penalty", "presence_penalty",
    "logit_bias", "logprobs", "top_logprobs", "tools", "tool_choice", "parallel_tool_calls",
    "response_format", "reasoning_effort", "reasoning", "verbosity", "stream",
    "stream_options", "modalities", "audio", "prediction", "service_tier", "user",
    "metadata", "store", "web_search_options", "extra_body",
)  # fmt: skip
CLIENT_OPTIONS: Final = frozenset({"extra_headers", "extra_query", "timeout"})
_SENTINELS: Final = frozenset({"NotGiven", "Omit"})  # the OpenAI SDK's "not passed" values


def given(value: Any) -> bool:
    """Whether an argument was really passed (not one of the SDK's sentinel defaults)."""
    return type(value).__name__ not in _SENTINELS


def output_type(response_format: Any) -> str | None:
    """``gen_ai.output.type`` from a ``response_format`` argument: ``json`` or ``text``."""
    if isinstance(response_format, type):
        return "json"  # a Pydantic model class, as ``parse()`` takes
    kind = fields(response_format).get("type") if response_format is not None else None
    if kind in ("json_object", "json_schema"):
        return "json"
    if kind == "text":
        return "text"
    return None


USAGE_KEYS: Final = (
    semconv.GEN_AI_USAGE_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
    semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
)


def request_value(key: str, value: Any) -> AttributeValue | None:
    """A call argument as the value of request attribute ``key``, or ``None`` to skip it."""
    if key == semconv.GEN_AI_REQUEST_STREAM:
        return value if isinstance(value, bool) else None
    if key == semconv.GEN_AI_REQUEST_STOP_SEQUENCES:
        if isinstance(value, str):
            return [value]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if key == semconv.GEN_AI_REQUEST_CHOICE_COUNT and value == 1:
        return None  # recorded only when not 1, as the conventions say
    return value


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_attributes(usage: Any) -> dict[str, int]:
    """GenAI usage attributes from an OpenAI-style usage object or dict.

    Accepts Chat Completions names (``prompt_tokens``, ``completion_tokens``,
    ``*_tokens_details``) and Responses API names (``input_tokens``, ``output_tokens``).
    """
    if usage is None:
        return {}
    get = fields(usage).get
    attributes: dict[str, int] = {}
    input_tokens = _int(get("prompt_tokens"))
    if input_tokens is None:
        input_tokens = _int(get("input_tokens"))
    if input_tokens is not None:
        attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
    output_tokens = _int(get("completion_tokens"))
    if output_tokens is None:
        output_tokens = _int(get("output_tokens"))
    if output_tokens is not None:
        attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
    details = get("completion_tokens_details") or get("output_tokens_details")
    if details is not None:
        reasoning = _int(fields(details).get("reasoning_tokens"))
        if reasoning is not None:
            attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning
    details = get("prompt_tokens_details") or get("input_tokens_details")
    if details is not None:
        cached = _int(fields(details).get("cached_tokens"))
        if cached is not None:
            attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cached
    return attributes


def looks_like_completion(result: Any) -> bool:
    """Whether ``result`` is a ChatCompletion, or a dict in that shape."""
    if isinstance(result, dict):
        return "choices" in result or "usage" in result
    return hasattr(result, "choices") and hasattr(result, "usage")


def completion_attributes(result: Any) -> dict[str, AttributeValue]:
    """Response model, id, finish reasons and usage of a ChatCompletion (object or dict)."""
    get = fields(result).get
    attributes: dict[str, AttributeValue] = {}
    model = get("model")
    if isinstance(model, str):
        attributes[semconv.GEN_AI_RESPONSE_MODEL] = model
    response_id = get("id")
    if isinstance(response_id, str):
        attributes[semconv.GEN_AI_RESPONSE_ID] = response_id
    reasons = []
    for choice in get("choices") or ():
        reason = fields(choice).get("finish_reason")
        if isinstance(reason, str):
            reasons.append(reason)
    if reasons:
        attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    attributes.update(usage_attributes(get("usage")))
    return attributes


def is_truncated(attributes: dict[str, AttributeValue]) -> bool:
    """Whether the finish reasons say the output was cut at the token limit."""
    reasons = attributes.get(semconv.GEN_AI_RESPONSE_FINISH_REASONS)
    return isinstance(reasons, list) and "length" in reasons
