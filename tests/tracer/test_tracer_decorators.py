"""The four decorators on the four kinds of callables, checked span by whole span."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest.mock import ANY

import pytest

import tracer
from tracer import semconv
from tracer._fingerprint import request_fingerprint
from tracer.testing import CapturedSpans, summary
from tracer.testing import attributes as attrs

MODULE = __name__


@tracer.agent("job_assistant", timeout_ms=8000)
def assistant(question: str, *, user: str = "anon") -> str:
    target = choose(question)
    found = people_search(question, limit=2)
    reply = complete([{"role": "user", "content": question}], temperature=0.1)
    return f"{target}:{len(found)}:{reply['choices'][0]['message']['content']}"


@tracer.route("router")
def choose(question: str) -> str:
    return "people_search"


@tracer.skill("people_search")
def people_search(query: str, limit: int = 5) -> list[dict[str, str]]:
    return [{"name": f"{query}-{i}"} for i in range(limit)]


@tracer.llm(model="gpt-4o-mini", provider="openai")
def complete(messages: list[dict[str, str]], temperature: float = 1.0) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 5,
            "completion_tokens_details": {"reasoning_tokens": 2},
            "prompt_tokens_details": {"cached_tokens": 4},
        },
    }


def test_an_agent_run_is_one_trace_of_whole_spans(spans: CapturedSpans) -> None:
    assert assistant("who knows rust?", user="ana") == "people_search:2:hi"
    by_name = {span.name: summary(span) for span in spans.spans}
    assert by_name == {
        "route router": {
            "name": "route router",
            "kind": "INTERNAL",
            "span_id": 2,
            "parent_id": 1,
            "status": "UNSET",
            "attributes": {
                semconv.ROUTE_NAME: "router",
                semconv.CODE_NAMESPACE: MODULE,
                semconv.CODE_FUNCTION: "choose",
                semconv.ROUTE_INPUT: '{"question":"who knows rust?"}',
                semconv.CONTENT_INPUT: '{"question":"who knows rust?"}',
                semconv.ROUTE_TARGET: "people_search",
                semconv.CONTENT_OUTPUT: '"people_search"',
            },
            "events": [],
        },
        "execute_tool people_search": {
            "name": "execute_tool people_search",
            "kind": "INTERNAL",
            "span_id": 3,
            "parent_id": 1,
            "status": "UNSET",
            "attributes": {
                semconv.GEN_AI_OPERATION_NAME: "execute_tool",
                semconv.GEN_AI_TOOL_NAME: "people_search",
                semconv.GEN_AI_TOOL_TYPE: "function",
                semconv.CODE_NAMESPACE: MODULE,
                semconv.CODE_FUNCTION: "people_search",
                semconv.GEN_AI_TOOL_CALL_ARGUMENTS: '{"query":"who knows rust?","limit":2}',
                semconv.CONTENT_INPUT: '{"query":"who knows rust?","limit":2}',
                semconv.GEN_AI_TOOL_CALL_RESULT: (
                    '[{"name":"who knows rust?-0"},{"name":"who knows rust?-1"}]'
                ),
                semconv.CONTENT_OUTPUT: (
                    '[{"name":"who knows rust?-0"},{"name":"who knows rust?-1"}]'
                ),
            },
            "events": [],
        },
        "chat gpt-4o-mini": {
            "name": "chat gpt-4o-mini",
            "kind": "CLIENT",
            "span_id": 4,
            "parent_id": 1,
            "status": "UNSET",
            "attributes": {
                semconv.GEN_AI_OPERATION_NAME: "chat",
                semconv.GEN_AI_PROVIDER_NAME: "openai",
                semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                semconv.CODE_NAMESPACE: MODULE,
                semconv.CODE_FUNCTION: "complete",
                semconv.GEN_AI_REQUEST_TEMPERATURE: 0.1,
                semconv.LLM_REQUEST_FINGERPRINT: request_fingerprint(
                    {
                        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                        semconv.GEN_AI_REQUEST_TEMPERATURE: 0.1,
                    },
                    {},
                    None,
                    [{"role": "user", "content": "who knows rust?"}],
                ),
                semconv.LLM_INFLIGHT: 1,
                semconv.GEN_AI_INPUT_MESSAGES: (
                    '[{"role":"user","parts":[{"type":"text","content":"who knows rust?"}]}]'
                ),
                semconv.CONTENT_INPUT: (
                    '{"model":"gpt-4o-mini","messages":[{"role":"user",'
                    '"content":"who knows rust?"}],"temperature":0.1}'
                ),
                semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
                semconv.GEN_AI_RESPONSE_ID: "chatcmpl-1",
                semconv.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
                semconv.GEN_AI_USAGE_INPUT_TOKENS: 12,
                semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
                semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 2,
                semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 4,
                semconv.GEN_AI_OUTPUT_MESSAGES: (
                    '[{"role":"assistant","parts":[{"type":"text","content":"hi"}],'
                    '"finish_reason":"stop"}]'
                ),
            },
            "events": [],
        },
        "invoke_agent job_assistant": {
            "name": "invoke_agent job_assistant",
            "kind": "INTERNAL",
            "span_id": 1,
            "parent_id": None,
            "status": "UNSET",
            "attributes": {
                semconv.GEN_AI_OPERATION_NAME: "invoke_agent",
                semconv.GEN_AI_AGENT_NAME: "job_assistant",
                semconv.AGENT_ENTRYPOINT: f"{MODULE}:assistant",
                semconv.CODE_NAMESPACE: MODULE,
                semconv.CODE_FUNCTION: "assistant",
                semconv.AGENT_TIMEOUT_MS: 8000,
                semconv.AGENT_INPUT: '{"question":"who knows rust?","user":"ana"}',
                semconv.CONTENT_INPUT: '{"question":"who knows rust?","user":"ana"}',
                semconv.AGENT_OUTPUT: '"people_search:2:hi"',
                semconv.CONTENT_OUTPUT: '"people_search:2:hi"',
                semconv.AGENT_ELAPSED_MS: ANY,
                semconv.AGENT_TIMED_OUT: False,
            },
            "events": [],
        },
    }
    agent_attributes = attrs(spans.by_name("invoke_agent job_assistant"))
    assert 0 < agent_attributes[semconv.AGENT_ELAPSED_MS] < 8000
    assert [span.name for span in spans.spans][-1] == "invoke_agent job_assistant"


def test_agent_deadline_exceeded_is_recorded(spans: CapturedSpans) -> None:
    @tracer.agent(timeout_ms=1)
    def slow() -> None:
        import time

        time.sleep(0.01)

    slow()
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.AGENT_TIMED_OUT] is True
    assert span_attributes[semconv.AGENT_ELAPSED_MS] >= 10


@pytest.mark.parametrize("decorator", [tracer.agent, tracer.route, tracer.skill, tracer.llm])
def test_bare_decorators_default_to_the_qualified_name(
    decorator: Any, spans: CapturedSpans
) -> None:
    @decorator
    def helper(x: int) -> int:
        return x + 1

    assert helper(1) == 2
    (span,) = spans.spans
    qualname = "test_bare_decorators_default_to_the_qualified_name.<locals>.helper"
    assert attrs(span)[semconv.CODE_FUNCTION] == qualname
    expected_name = {
        tracer.agent: f"invoke_agent {qualname}",
        tracer.route: f"route {qualname}",
        tracer.skill: f"execute_tool {qualname}",
        tracer.llm: "chat",
    }[decorator]
    assert span.name == expected_name


def test_the_four_kinds_of_callables(spans: CapturedSpans) -> None:
    @tracer.skill
    def sync_fn() -> int:
        return 1

    @tracer.skill
    async def async_fn() -> int:
        return 2

    @tracer.skill
    def gen_fn() -> Iterator[int]:
        yield 3

    @tracer.skill
    async def agen_fn() -> AsyncIterator[int]:
        yield 4

    assert not inspect.iscoroutinefunction(sync_fn)
    assert inspect.iscoroutinefunction(async_fn)
    # Generator functions return a proxy that starts the span at the call (see docs).
    assert isinstance(gen_fn(), Iterator) and isinstance(agen_fn(), AsyncIterator)
    assert sync_fn.__name__ == "sync_fn"
    assert inspect.unwrap(gen_fn).__name__ == "gen_fn"
    spans.clear()  # the two proxies above were dropped unconsumed: abandoned spans

    async def consume() -> list[int]:
        return [item async for item in agen_fn()]

    assert sync_fn() == 1
    assert asyncio.run(async_fn()) == 2
    assert list(gen_fn()) == [3]
    assert asyncio.run(consume()) == [4]
    results = [attrs(span)[semconv.GEN_AI_TOOL_CALL_RESULT] for span in spans.spans]
    assert results == ["1", "2", "[3]", "[4]"]


def test_methods_static_and_class_methods(spans: CapturedSpans) -> None:
    class Searcher:
        def __init__(self) -> None:
            self.prefix = "p"

        @tracer.skill("method")
        def method(self, q: str) -> str:
            return self.prefix + q

        @tracer.skill("static")
        @staticmethod
        def static(q: str) -> str:
            return q

        @tracer.skill("cls")
        @classmethod
        def klass(cls, q: str) -> str:
            return cls.__name__ + q

    searcher = Searcher()
    assert searcher.method("a") == "pa"
    assert Searcher.static("b") == "b"
    assert Searcher.klass("c") == "Searcherc"
    arguments = [attrs(span)[semconv.GEN_AI_TOOL_CALL_ARGUMENTS] for span in spans.spans]
    assert arguments == ['{"q":"a"}', '{"q":"b"}', '{"q":"c"}']  # no self, no cls


def test_varargs_and_kwargs_are_captured_by_name(spans: CapturedSpans) -> None:
    @tracer.skill
    def many(a: int, *rest: int, **options: str) -> int:
        return a + sum(rest)

    assert many(1, 2, 3, mode="x") == 6
    captured = attrs(spans.spans[0])[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]
    assert captured == '{"a":1,"rest":[2,3],"mode":"x"}'


def test_llm_model_from_a_call_argument(spans: CapturedSpans) -> None:
    @tracer.llm(provider="acme")
    def call(prompt: str, model: str, max_tokens: int = 10, stop: str | None = None) -> str:
        return "ok"

    call("hello", "acme-large", max_tokens=64, stop="\n")
    (span,) = spans.spans
    assert span.name == "chat acme-large"
    assert attrs(span) == {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "acme",
        semconv.CODE_NAMESPACE: MODULE,
        semconv.CODE_FUNCTION: "test_llm_model_from_a_call_argument.<locals>.call",
        semconv.GEN_AI_REQUEST_MODEL: "acme-large",
        semconv.GEN_AI_REQUEST_MAX_TOKENS: 64,
        semconv.GEN_AI_REQUEST_STOP_SEQUENCES: ("\n",),
        semconv.LLM_REQUEST_FINGERPRINT: request_fingerprint(
            {
                semconv.GEN_AI_REQUEST_MODEL: "acme-large",
                semconv.GEN_AI_REQUEST_MAX_TOKENS: 64,
                semconv.GEN_AI_REQUEST_STOP_SEQUENCES: ["\n"],
            },
            {},
            None,
            "hello",
        ),
        semconv.LLM_INFLIGHT: 1,
        semconv.GEN_AI_INPUT_MESSAGES: (
            '[{"role":"user","parts":[{"type":"text","content":"hello"}]}]'
        ),
        semconv.CONTENT_INPUT: (
            '{"model":"acme-large","prompt":"hello","max_tokens":64,"stop":"\\n"}'
        ),
        semconv.GEN_AI_OUTPUT_MESSAGES: (
            '[{"role":"assistant","parts":[{"type":"text","content":"ok"}]}]'
        ),
    }


def test_llm_system_instructions_and_named_span(spans: CapturedSpans) -> None:
    @tracer.llm("summarise", model="m")
    def summarise(messages: list[dict[str, str]], system: str) -> None:
        return None

    summarise([{"role": "user", "content": "x"}], system="be brief")
    (span,) = spans.spans
    assert span.name == "summarise"
    assert attrs(span)[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] == (
        '[{"type":"text","content":"be brief"}]'
    )


def test_current_span_helpers(spans: CapturedSpans) -> None:
    @tracer.llm(model="local")
    def call() -> str:
        handle = tracer.current_span()
        handle.set_usage(input_tokens=7, output_tokens=3, reasoning_tokens=1, cached_tokens=0)
        handle.set_model("local", response_model="local-v2").mark_waste("parse_error")
        handle.set_attribute("app.custom", "yes")
        return "{not json"

    call()
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 7
    assert span_attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    assert span_attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 1
    assert span_attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 0
    assert span_attributes[semconv.GEN_AI_RESPONSE_MODEL] == "local-v2"
    assert span_attributes[semconv.WASTE_CAUSE] == "parse_error"
    assert span_attributes["app.custom"] == "yes"


def test_set_usage_wins_over_usage_in_the_return_value(spans: CapturedSpans) -> None:
    @tracer.llm(model="m")
    def call() -> dict[str, Any]:
        tracer.current_span().set_usage(input_tokens=100, output_tokens=50)
        return {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}

    call()
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 100
    assert span_attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 50


def test_truncated_completion_is_marked_as_waste(spans: CapturedSpans) -> None:
    @tracer.llm(model="m")
    def call() -> dict[str, Any]:
        return {"choices": [{"message": {"content": "cut"}, "finish_reason": "length"}]}

    call()
    assert attrs(spans.spans[0])[semconv.WASTE_CAUSE] == "truncated"


def test_current_span_without_a_span_is_a_no_op(spans: CapturedSpans) -> None:
    handle = tracer.current_span()
    assert not handle.is_recording()
    handle.set_usage(input_tokens=1).mark_waste("retried").set_attribute("k", "v")
    assert spans.spans == ()


def test_bad_decorator_arguments_raise_at_decoration_time() -> None:
    with pytest.raises(ValueError, match="timeout_ms"):
        tracer.agent("a", timeout_ms=-1)
    with pytest.raises(ValueError, match="model"):
        tracer.llm(model="")
    with pytest.raises(ValueError, match="name"):
        tracer.skill("")
