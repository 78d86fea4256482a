"""Content capture: on by default, capped per value, redacted, and robust to odd values."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracer
from tracer import semconv
from tracer._content import REDACTED_API_KEY, REDACTED_EMAIL, redact_builtin, to_json
from tracer._messages import input_messages, output_messages_from_choices
from tracer.testing import CapturedSpans
from tracer.testing import attributes as attrs


@tracer.skill("echo")
def echo(value: Any) -> Any:
    return value


def test_values_longer_than_the_cap_are_cut_and_marked(
    content_settings: Any, spans: CapturedSpans
) -> None:
    content_settings(max_content_chars=32)
    echo("x" * 100)
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"value":"' + "x" * 22
    assert span_attributes[semconv.GEN_AI_TOOL_CALL_RESULT] == '"' + "x" * 31
    assert json.loads(span_attributes[semconv.CONTENT_TRUNCATED]) == [
        semconv.GEN_AI_TOOL_CALL_ARGUMENTS,
        semconv.GEN_AI_TOOL_CALL_RESULT,
    ]


def test_short_values_are_not_marked(spans: CapturedSpans) -> None:
    echo("short")
    assert semconv.CONTENT_TRUNCATED not in attrs(spans.spans[0])


def test_emails_and_api_keys_are_redacted_by_default(spans: CapturedSpans) -> None:
    echo(
        {
            "to": "Ana.Lopez+jobs@example.co.uk",
            "openai": "sk-proj-" + "A1b2C3d4" * 5,
            "aws": "AKIAIOSFODNN7EXAMPLE",
            "header": "Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123",
            "text": "keep me",
        }
    )
    captured = json.loads(attrs(spans.spans[0])[semconv.GEN_AI_TOOL_CALL_ARGUMENTS])["value"]
    assert captured == {
        "to": REDACTED_EMAIL,
        "openai": REDACTED_API_KEY,
        "aws": REDACTED_API_KEY,
        "header": f"Authorization: Bearer {REDACTED_API_KEY}",
        "text": "keep me",
    }


def test_a_secret_straddling_the_cap_is_still_redacted(
    content_settings: Any, spans: CapturedSpans
) -> None:
    content_settings(max_content_chars=40)
    echo("y" * 20 + " someone@example.org and more")
    arguments = attrs(spans.spans[0])[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]
    assert "someone" not in arguments and "@" not in arguments
    assert len(arguments) == 40


def test_a_redact_hook_sees_each_value_with_its_key(
    content_settings: Any, spans: CapturedSpans
) -> None:
    seen: list[str] = []

    def redact(text: str, key: str) -> str:
        seen.append(key)
        return text.replace("Ana", "[NAME]")

    content_settings(redact=redact)
    echo("Ana wrote to ana@example.com")
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.GEN_AI_TOOL_CALL_RESULT] == f'"[NAME] wrote to {REDACTED_EMAIL}"'
    assert span_attributes[semconv.CONTENT_OUTPUT] == f'"[NAME] wrote to {REDACTED_EMAIL}"'
    assert seen == [
        semconv.GEN_AI_TOOL_CALL_ARGUMENTS,
        semconv.CONTENT_INPUT,
        semconv.GEN_AI_TOOL_CALL_RESULT,
        semconv.CONTENT_OUTPUT,
    ]


def test_capture_off_records_no_content(content_settings: Any, spans: CapturedSpans) -> None:
    content_settings(capture_content=False)

    @tracer.agent
    def run(q: str) -> str:
        return chat([{"role": "user", "content": q}])

    @tracer.llm(model="m")
    def chat(messages: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "choices": [{"message": {"content": "secret answer"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        }

    @tracer.llm(model="m")
    def stream() -> Iterator[str]:
        yield "secret"

    @tracer.route
    def choose(q: str) -> str:
        return "target"

    @tracer.route
    def choose_data(q: str) -> dict[str, str]:
        return {"secret": q}

    run("secret question")
    list(stream())
    choose("secret")
    choose_data("secret")
    content_keys = {
        semconv.AGENT_INPUT,
        semconv.AGENT_OUTPUT,
        semconv.GEN_AI_INPUT_MESSAGES,
        semconv.GEN_AI_OUTPUT_MESSAGES,
        semconv.ROUTE_INPUT,
        semconv.CONTENT_INPUT,
        semconv.CONTENT_OUTPUT,
    }
    for span in spans.spans:
        assert not content_keys & set(attrs(span)), span.name
        assert "secret" not in json.dumps(attrs(span))
    usage = attrs(spans.spans[0])
    assert usage[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 3  # usage is not content
    # A target's name is not content: recorded with capture off; a target that is data is.
    assert attrs(spans.spans[-2])[semconv.ROUTE_TARGET] == "target"
    assert semconv.ROUTE_TARGET not in attrs(spans.spans[-1])


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque " + "z" * 5000 + ">"


class Unrepresentable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Model:
    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        return {"mode": mode}


def test_values_that_are_not_json_are_recorded_sensibly(spans: CapturedSpans) -> None:
    echo(
        {
            "opaque": Opaque(),
            "broken": Unrepresentable(),
            "color": Color.RED,
            "point": Point(1, 2),
            "model": Model(),
            "set": {3},
            "bytes": b"raw",
            "tuple": (1, 2),
        }
    )
    value = json.loads(attrs(spans.spans[0])[semconv.GEN_AI_TOOL_CALL_ARGUMENTS])["value"]
    assert value["opaque"] == "<Opaque " + "z" * 992  # repr, capped at 1000 characters
    assert value["broken"] == "<unrepresentable Unrepresentable>"
    assert value["color"] == "red"
    assert value["point"] == {"x": 1, "y": 2}
    assert value["model"] == {"mode": "json"}
    assert value["set"] == [3]
    assert value["bytes"] == "raw"
    assert value["tuple"] == [1, 2]


def test_circular_values_fall_back_to_repr() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert to_json(loop) == '"[[...]]"'


def test_one_shot_message_iterators_are_not_consumed(spans: CapturedSpans) -> None:
    @tracer.llm(model="m")
    def chat(messages: Any) -> int:
        return len(list(messages))

    assert chat(iter([{"role": "user", "content": "hi"}])) == 1
    assert semconv.GEN_AI_INPUT_MESSAGES not in attrs(spans.spans[0])


def test_openai_messages_become_semconv_messages() -> None:
    messages = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    assert input_messages(messages) == [
        {"role": "system", "parts": [{"type": "text", "content": "be nice"}]},
        {
            "role": "user",
            "parts": [{"type": "text", "content": "look"}, {"type": "image_url"}],
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "c1", "name": "weather", "arguments": {"city": "Paris"}}
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "c1", "response": "sunny"}],
        },
    ]
    assert output_messages_from_choices(
        [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]
    ) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "hi"}], "finish_reason": "stop"}
    ]


@settings(max_examples=200)
@given(st.text())
def test_redaction_never_leaves_an_email_behind(text: str) -> None:
    redacted = redact_builtin(text + " a.b@example.com " + text)
    assert "a.b@example.com" not in redacted
    assert REDACTED_EMAIL in redacted


@pytest.mark.parametrize(
    "secret",
    [
        "sk-ant-api03-" + "x" * 40,
        "ghp_" + "a" * 36,
        "AIza" + "b" * 35,
        "xoxb-1234567890-abcdef",
        "hf_" + "c" * 34,
        "glpat-" + "d" * 20,
    ],
)
def test_builtin_api_key_patterns(secret: str) -> None:
    assert redact_builtin(f"key={secret};") == f"key={REDACTED_API_KEY};"
