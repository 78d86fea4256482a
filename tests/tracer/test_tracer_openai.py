"""OpenAI instrumentation: recorded interactions (vcrpy cassettes) and a live local server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import vcr
from openai.resources.chat.completions import AsyncCompletions, Completions
from opentelemetry.trace import StatusCode

import tracer
from tracer import semconv
from tracer._fingerprint import request_fingerprint
from tracer._openai import openai_instrumented
from tracer.testing import CapturedSpans, summary
from tracer.testing import attributes as attrs

pytestmark = pytest.mark.timeout(60)

CASSETTES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "openai-cassettes"
# vcrpy patches HTTP libraries process-wide. It patches only the OpenAI SDK's here: a
# urllib3 request on another thread (an export still retrying from an earlier test) opens
# vcrpy's "real connection" window, which can unpatch a live cassette or leave its patch
# behind for the tests that follow.
replay = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none",
    filter_headers=["authorization", "api-key", "openai-organization"],
    match_on=["method", "scheme", "host", "port", "path"],
    skip_patchers=["httplib", "requests", "boto3", "urllib3", "httplib2", "tornado", "aiohttp"],
)
JOKE = [{"role": "user", "content": "Tell me a joke about opentelemetry"}]


@pytest.fixture
def instrumented() -> Iterator[None]:
    original_sync, original_async = Completions.create, AsyncCompletions.create
    assert tracer.instrument_openai()
    yield
    assert tracer.uninstrument_openai()
    assert Completions.create is original_sync
    assert AsyncCompletions.create is original_async
    assert not openai_instrumented()


@pytest.fixture
def client() -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", max_retries=0)


def test_a_recorded_chat_completion(
    instrumented: None, client: openai.OpenAI, spans: CapturedSpans
) -> None:
    with replay.use_cassette("test_chat.yaml"):
        response = client.chat.completions.create(model="gpt-3.5-turbo", messages=JOKE)
    (span,) = spans.spans
    assert summary(span) == {
        "name": "chat gpt-3.5-turbo",
        "kind": "CLIENT",
        "span_id": 1,
        "parent_id": None,
        "status": "UNSET",
        "attributes": {
            semconv.GEN_AI_OPERATION_NAME: "chat",
            semconv.GEN_AI_PROVIDER_NAME: "openai",
            semconv.GEN_AI_REQUEST_MODEL: "gpt-3.5-turbo",
            semconv.SERVER_ADDRESS: "api.openai.com",
            semconv.SERVER_PORT: 443,
            semconv.LLM_REQUEST_FINGERPRINT: request_fingerprint(
                {semconv.GEN_AI_REQUEST_MODEL: "gpt-3.5-turbo"}, {}, None, JOKE
            ),
            semconv.LLM_INFLIGHT: 1,
            semconv.GEN_AI_INPUT_MESSAGES: json.dumps(
                [
                    {
                        "role": "user",
                        "parts": [{"type": "text", "content": JOKE[0]["content"]}],
                    }
                ],
                separators=(",", ":"),
            ),
            semconv.CONTENT_INPUT: json.dumps(
                {"model": "gpt-3.5-turbo", "messages": JOKE}, separators=(",", ":")
            ),
            semconv.GEN_AI_RESPONSE_MODEL: "gpt-3.5-turbo-0125",
            semconv.GEN_AI_RESPONSE_ID: response.id,
            semconv.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 15,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 19,
            semconv.GEN_AI_OUTPUT_MESSAGES: json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": response.choices[0].message.content}],
                        "finish_reason": "stop",
                    }
                ],
                ensure_ascii=False,
                separators=(",", ":"),
            ),
        },
        "events": [],
    }


def test_reasoning_tokens_and_request_parameters(
    instrumented: None, client: openai.OpenAI, spans: CapturedSpans
) -> None:
    with replay.use_cassette("test_chat_reasoning.yaml"):
        client.chat.completions.create(
            model="gpt-5-nano",
            messages=[{"role": "user", "content": "Count r's in strawberry"}],
            reasoning_effort="low",
            seed=7,
            n=1,
        )
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 11
    assert span_attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 228
    assert span_attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 192
    assert span_attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 0
    assert span_attributes[semconv.GEN_AI_REQUEST_SEED] == 7
    assert semconv.GEN_AI_REQUEST_CHOICE_COUNT not in span_attributes  # n=1 is the default


def test_a_tool_call_round_trip(
    instrumented: None, client: openai.OpenAI, spans: CapturedSpans
) -> None:
    messages: list[Any] = [
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "1",
                    "type": "function",
                    "function": {
                        "name": "get_current_weather",
                        "arguments": '{"location": "San Francisco"}',
                    },
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "1",
            "content": "The weather in San Francisco is 70 degrees and sunny.",
        },
    ]
    with replay.use_cassette("test_chat_tool_calls.yaml"):
        client.chat.completions.create(model="gpt-3.5-turbo", messages=messages)
    recorded = json.loads(attrs(spans.spans[0])[semconv.GEN_AI_INPUT_MESSAGES])
    assert recorded == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "1",
                    "name": "get_current_weather",
                    "arguments": {"location": "San Francisco"},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [
                {"type": "tool_call_response", "id": "1", "response": messages[1]["content"]}
            ],
        },
    ]


def test_streamed_tool_call_chunks(
    instrumented: None, client: openai.OpenAI, spans: CapturedSpans
) -> None:
    with replay.use_cassette("test_chat_tools_streaming.yaml"):
        stream = client.chat.completions.create(
            model="gpt-3.5-turbo",
            messages=[{"role": "user", "content": "What's the weather like in San Francisco?"}],
            stream=True,
        )
        assert spans.spans == ()  # the span lasts as long as the stream
        chunks = list(stream)
    assert len(chunks) == 8
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.GEN_AI_REQUEST_STREAM] is True
    assert span_attributes[semconv.LLM_STREAMED] is True
    assert span_attributes[semconv.LLM_CHUNK_COUNT] == 8
    assert span_attributes[semconv.LLM_TBT_COUNT] == 6  # 7 tool-call deltas carry content
    assert span_attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert span_attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert json.loads(span_attributes[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_P9Ayqu3UQNYuTBVAg2sLimh9",
                    "name": "get_current_weather",
                    "arguments": {"location": "San Francisco"},
                }
            ],
            "finish_reason": "tool_calls",
        }
    ]


async def test_a_recorded_async_stream(instrumented: None, spans: CapturedSpans) -> None:
    client = openai.AsyncOpenAI(api_key="sk-test", max_retries=0)
    with replay.use_cassette("test_chat_async_streaming.yaml"):
        stream = await client.chat.completions.create(
            model="gpt-3.5-turbo", messages=JOKE, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    await client.close()
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.LLM_CHUNK_COUNT] == 26
    assert span_attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    output = json.loads(span_attributes[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert output[0]["parts"][0]["content"] == text
    assert span_attributes[semconv.LLM_TBT_COUNT] == 23  # 26 chunks: role, 24 texts, finish


def test_instrumenting_twice_does_not_wrap_twice(
    instrumented: None, client: openai.OpenAI, spans: CapturedSpans
) -> None:
    wrapper = Completions.create
    assert tracer.instrument_openai()
    assert Completions.create is wrapper
    with replay.use_cassette("test_chat.yaml"):
        client.chat.completions.create(model="gpt-3.5-turbo", messages=JOKE)
    assert len(spans.spans) == 1


def test_uninstrumented_calls_record_nothing(client: openai.OpenAI, spans: CapturedSpans) -> None:
    tracer.instrument_openai()
    tracer.uninstrument_openai()
    tracer.uninstrument_openai()  # twice is harmless
    with replay.use_cassette("test_chat.yaml"):
        client.chat.completions.create(model="gpt-3.5-turbo", messages=JOKE)
    assert spans.spans == ()


def test_calls_nest_under_the_agent(
    instrumented: None, client: openai.OpenAI, spans: CapturedSpans
) -> None:
    @tracer.agent("joker")
    def joker() -> str:
        response = client.chat.completions.create(model="gpt-3.5-turbo", messages=JOKE)
        return response.choices[0].message.content or ""

    with replay.use_cassette("test_chat.yaml"):
        joker()
    chat, agent = spans.spans
    assert chat.parent.span_id == agent.context.span_id


def test_a_call_inside_an_llm_span_records_onto_it(
    instrumented: None, client: openai.OpenAI, spans: CapturedSpans
) -> None:
    @tracer.llm("ask", provider="openai")
    def ask() -> str:
        first = client.chat.completions.create(model="gpt-3.5-turbo", messages=JOKE)
        retry = client.chat.completions.create(model="gpt-3.5-turbo", messages=JOKE)
        tracer.current_span().mark_waste("retried")
        return (first.choices[0].message.content or "") + (retry.choices[0].message.content or "")

    with replay.use_cassette("test_chat.yaml", allow_playback_repeats=True):
        ask()
    (span,) = spans.spans  # one logical call, one chat span: tokens are not counted twice
    span_attributes = attrs(span)
    assert span.name == "ask"
    assert span_attributes[semconv.GEN_AI_REQUEST_MODEL] == "gpt-3.5-turbo"
    assert span_attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 30  # both calls, summed
    assert span_attributes[semconv.WASTE_CAUSE] == "retried"


# --- a live local server: timing, usage chunk, errors ------------------------------------------
@pytest.fixture
def local_client(openai_server: tuple[str, Any]) -> Iterator[openai.OpenAI]:
    url, _ = openai_server
    client = openai.OpenAI(api_key="sk-test", base_url=url, max_retries=0)
    yield client
    client.close()


def test_ttft_and_tbt_from_a_streaming_server(
    instrumented: None,
    local_client: openai.OpenAI,
    openai_server: tuple[str, Any],
    spans: CapturedSpans,
) -> None:
    _, script = openai_server
    script.first_delay_s, script.gap_s = 0.2, 0.05
    script.texts = ["a", "b", "c", "d", "e"]
    script.usage = {"prompt_tokens": 8, "completion_tokens": 5, "total_tokens": 13}
    called = time.perf_counter()
    stream = local_client.chat.completions.create(
        model="sim", messages=JOKE, stream=True, stream_options={"include_usage": True}
    )
    texts, seen = [], []  # each text, and when the consumer got it
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            texts.append(chunk.choices[0].delta.content)
            seen.append(time.perf_counter())
    assert "".join(texts) == "abcde"
    assert script.bodies[0]["stream_options"] == {"include_usage": True}
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
    ttft = span_attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    mean_ms = span_attributes[semconv.LLM_TBT_MEAN_MS]
    # Lower bounds from the server's sleeps; upper bounds from the consumer's own clock in the
    # same run (the tracer stamps a chunk before the consumer sees it), never absolute times.
    assert 0.2 <= ttft <= seen[0] - called
    assert span_attributes[semconv.LLM_TBT_COUNT] == 4
    # The server sleeps 50 ms between chunks; one late delivery shortens the next gap, so the
    # mean, (last - first) / 4, is what has a firm lower bound.
    assert mean_ms >= 40 and ttft + 4 * mean_ms / 1000 <= seen[-1] - called
    assert span_attributes[semconv.LLM_TBT_P50_MS] <= span_attributes[semconv.LLM_TBT_MAX_MS]
    assert span_attributes[semconv.LLM_TBT_MAX_MS] <= (seen[-1] - called) * 1000
    assert span_attributes[semconv.LLM_CHUNK_COUNT] == 8  # role, 5 texts, finish, usage
    assert span_attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 8
    assert span_attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert span_attributes[semconv.GEN_AI_RESPONSE_MODEL] == "sim-model-001"


@pytest.fixture
def one_to_four(
    instrumented: None, local_client: openai.OpenAI, openai_server: tuple[str, Any]
) -> openai.OpenAI:
    """The instrumented local client, its server streaming the texts "one" to "four"."""
    _, script = openai_server
    script.texts = ["one", "two", "three", "four"]
    return local_client


def test_an_openai_stream_abandoned_mid_way(
    one_to_four: openai.OpenAI, spans: CapturedSpans
) -> None:
    with one_to_four.chat.completions.create(model="sim", messages=JOKE, stream=True) as stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content == "two":
                break
    assert stream.response.is_closed
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.WASTE_CAUSE] == "abandoned"
    assert span_attributes[semconv.LLM_CHUNK_COUNT] == 3
    assert json.loads(span_attributes[semconv.GEN_AI_OUTPUT_MESSAGES])[0]["parts"] == [
        {"type": "text", "content": "onetwo"}
    ]


def test_loops_over_an_openai_stream_go_on_where_the_last_stopped(
    one_to_four: openai.OpenAI, spans: CapturedSpans
) -> None:
    stream = one_to_four.chat.completions.create(model="sim", messages=JOKE, stream=True)

    def text(chunk: Any) -> str:
        return chunk.choices[0].delta.content or "" if chunk.choices else ""

    texts = []
    for chunk in stream:  # role, one, two
        texts.append(text(chunk))
        if texts[-1] == "two":
            break
    assert spans.spans == ()  # a loop left is not a stream abandoned
    texts.append(text(next(stream)))  # three
    texts += [text(chunk) for chunk in stream]  # four, finish
    assert "".join(texts) == "onetwothreefour"
    assert list(stream) == []
    (span,) = spans.spans
    span_attributes = attrs(span)
    assert semconv.WASTE_CAUSE not in span_attributes
    assert span_attributes[semconv.LLM_CHUNK_COUNT] == 6
    assert span_attributes[semconv.LLM_TBT_COUNT] == 3
    assert span_attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_an_llm_function_returning_an_openai_stream(
    instrumented: None, local_client: openai.OpenAI, spans: CapturedSpans
) -> None:
    @tracer.llm("stream_reply", provider="openai")
    def stream_reply() -> Any:
        return local_client.chat.completions.create(model="sim", messages=JOKE, stream=True)

    assert len(list(stream_reply())) == 5
    (span,) = spans.spans
    span_attributes = attrs(span)
    assert span.name == "stream_reply"
    assert span_attributes[semconv.LLM_CHUNK_COUNT] == 5
    assert span_attributes[semconv.GEN_AI_REQUEST_STREAM] is True


def test_an_api_error_is_a_failed_call(
    instrumented: None,
    local_client: openai.OpenAI,
    openai_server: tuple[str, Any],
    spans: CapturedSpans,
) -> None:
    _, script = openai_server
    script.status = 500
    with pytest.raises(openai.InternalServerError):
        local_client.chat.completions.create(model="sim", messages=JOKE)
    (span,) = spans.spans
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[semconv.ERROR_TYPE] == "openai.InternalServerError"
    assert attrs(span)[semconv.WASTE_CAUSE] == "failed"
