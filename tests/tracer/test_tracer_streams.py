"""Streams: TTFT and TBT, usage from the final chunk, and a span that ends exactly once."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import tracer
from tracer import _run, _stream, semconv
from tracer._gaps import percentile
from tracer._stats import StreamStats, timing_attributes
from tracer.testing import CapturedSpans
from tracer.testing import attributes as attrs

MS = 1_000_000  # nanoseconds


class FakeClock:
    """Replaces ``perf_counter_ns`` in the tracer; the test moves it."""

    def __init__(self) -> None:
        self.now = 1_000 * MS

    def __call__(self) -> int:
        return self.now

    def advance_ms(self, ms: float) -> None:
        self.now += int(ms * MS)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(_run, "_now", fake)
    monkeypatch.setattr(_stream, "_now", fake)
    return fake


def test_ttft_and_tbt_summary_from_a_deterministic_clock(
    clock: FakeClock, spans: CapturedSpans
) -> None:
    gaps_ms = [10, 20, 30, 40, 100]

    @tracer.llm(model="m")
    def stream() -> Iterator[str]:
        clock.advance_ms(250)
        yield ""  # not content-bearing: not timed
        yield "a"
        for gap in gaps_ms:
            clock.advance_ms(gap)
            yield "b"

    assert "".join(stream()) == "abbbbb"
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] == pytest.approx(0.25)
    assert span_attributes[semconv.LLM_STREAMED] is True
    assert span_attributes[semconv.LLM_CHUNK_COUNT] == 7
    assert span_attributes[semconv.LLM_TBT_COUNT] == 5
    assert span_attributes[semconv.LLM_TBT_MEAN_MS] == pytest.approx(40)
    assert span_attributes[semconv.LLM_TBT_P50_MS] == pytest.approx(30)
    assert span_attributes[semconv.LLM_TBT_P95_MS] == pytest.approx(88)  # 40 + 0.8 * 60
    assert span_attributes[semconv.LLM_TBT_MAX_MS] == pytest.approx(100)
    assert span_attributes[semconv.GEN_AI_OUTPUT_MESSAGES] == (
        '[{"role":"assistant","parts":[{"type":"text","content":"abbbbb"}]}]'
    )


def test_ttft_and_tbt_from_controlled_sleeps(spans: CapturedSpans) -> None:
    @tracer.llm(model="m")
    def stream() -> Iterator[str]:
        time.sleep(0.08)
        yield "first"
        for _ in range(4):
            time.sleep(0.03)
            yield "next"

    called = time.perf_counter()
    seen = [time.perf_counter() for _ in stream()]  # when the consumer got each chunk
    span_attributes = attrs(spans.spans[0])
    ttft = span_attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    mean_ms = span_attributes[semconv.LLM_TBT_MEAN_MS]
    # Sleeps last at least what was asked: lower bounds. The tracer stamps a chunk before the
    # consumer sees it, and starts after the call began: the consumer's own clock bounds it
    # from above, in the same run, however loaded the machine is.
    assert 0.08 <= ttft <= seen[0] - called
    assert span_attributes[semconv.LLM_TBT_COUNT] == 4
    assert mean_ms >= 30 and ttft + 4 * mean_ms / 1000 <= seen[-1] - called
    assert 29 <= span_attributes[semconv.LLM_TBT_P50_MS] <= span_attributes[semconv.LLM_TBT_MAX_MS]
    assert span_attributes[semconv.LLM_TBT_MAX_MS] <= (seen[-1] - called) * 1000


def test_openai_shaped_chunks_give_usage_finish_reason_and_truncation(
    spans: CapturedSpans,
) -> None:
    def chunk(delta: dict[str, Any] | None, finish: str | None = None) -> dict[str, Any]:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return {"id": "c-1", "model": "m-2024", "choices": choices}

    @tracer.llm(model="m", provider="acme")
    def call(max_tokens: int) -> Iterator[dict[str, Any]]:
        return iter_chunks()

    def iter_chunks() -> Iterator[dict[str, Any]]:
        yield chunk({"role": "assistant", "content": ""})
        yield chunk({"content": "Hel"})
        yield chunk({"content": "lo"})
        yield chunk({}, "length")
        yield {
            **chunk(None),
            "usage": {
                "prompt_tokens": 9,
                "completion_tokens": 2,
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        }

    assert len(list(call(max_tokens=2))) == 5
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 2
    assert span_attributes[semconv.LLM_CHUNK_COUNT] == 5
    assert span_attributes[semconv.LLM_TBT_COUNT] == 1
    assert span_attributes[semconv.GEN_AI_RESPONSE_MODEL] == "m-2024"
    assert span_attributes[semconv.GEN_AI_RESPONSE_ID] == "c-1"
    assert span_attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)
    assert span_attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 9
    assert span_attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert span_attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 0
    assert span_attributes[semconv.WASTE_CAUSE] == "truncated"
    assert span_attributes[semconv.GEN_AI_OUTPUT_MESSAGES] == (
        '[{"role":"assistant","parts":[{"type":"text","content":"Hello"}],'
        '"finish_reason":"length"}]'
    )


def test_a_dropped_stream_is_ended_once_as_abandoned(spans: CapturedSpans) -> None:
    closed = []

    @tracer.llm(model="m")
    def stream() -> Iterator[str]:
        try:
            yield from ["a", "b", "c", "d"]
        finally:
            closed.append(True)

    consumer = stream()
    assert next(consumer) == "a"
    assert next(consumer) == "b"
    assert spans.spans == ()
    del consumer
    gc.collect()
    (span,) = spans.spans
    span_attributes = attrs(span)
    assert span_attributes[semconv.WASTE_CAUSE] == "abandoned"
    assert span_attributes[semconv.LLM_CHUNK_COUNT] == 2
    assert span_attributes[semconv.GEN_AI_OUTPUT_MESSAGES] == (
        '[{"role":"assistant","parts":[{"type":"text","content":"ab"}]}]'
    )
    assert span.status.status_code is StatusCode.UNSET
    assert closed == [True]


def test_a_returned_stream_closed_early_is_abandoned(spans: CapturedSpans) -> None:
    def source() -> Iterator[str]:
        yield from ["x", "y", "z"]

    @tracer.llm(model="m")
    def call() -> Iterator[str]:
        return source()

    with call() as stream:  # type: ignore[attr-defined]
        for text in stream:
            if text == "y":
                break
    assert attrs(spans.spans[0])[semconv.WASTE_CAUSE] == "abandoned"
    assert attrs(spans.spans[0])[semconv.LLM_CHUNK_COUNT] == 2
    stream.close()  # closing twice is harmless
    assert len(spans.spans) == 1


def test_reading_past_the_end_ends_the_span_once(spans: CapturedSpans) -> None:
    @tracer.llm(model="m")
    def call() -> Iterator[str]:
        return iter(["only"])

    stream = call()
    assert list(stream) == ["only"]
    with pytest.raises(StopIteration):
        next(stream)
    assert len(spans.spans) == 1
    assert semconv.WASTE_CAUSE not in attrs(spans.spans[0])


def test_a_complete_stream_closed_before_its_end_is_not_waste(spans: CapturedSpans) -> None:
    @tracer.llm(model="m")
    def call() -> Iterator[dict[str, Any]]:
        yield {"choices": [{"index": 0, "delta": {"content": "done"}, "finish_reason": "stop"}]}
        yield {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}

    stream = call()
    next(stream)
    stream.close()
    assert semconv.WASTE_CAUSE not in attrs(spans.spans[0])


def test_an_error_mid_stream_is_recorded_with_what_was_consumed(spans: CapturedSpans) -> None:
    @tracer.llm(model="m")
    def stream() -> Iterator[str]:
        yield "partial"
        raise ConnectionError("reset")

    received = []
    with pytest.raises(ConnectionError):
        received.extend(stream())
    assert received == ["partial"]
    (span,) = spans.spans
    span_attributes = attrs(span)
    assert span.status.status_code is StatusCode.ERROR
    assert span_attributes[semconv.WASTE_CAUSE] == "failed"
    assert span_attributes[semconv.LLM_CHUNK_COUNT] == 1


def test_send_and_throw_reach_the_wrapped_generator(spans: CapturedSpans) -> None:
    @tracer.skill
    def echo() -> Iterator[str]:
        received = yield "ready"
        while True:
            try:
                received = yield f"got {received}"
            except KeyError:
                received = yield "recovered"

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send("a") == "got a"
    assert gen.throw(KeyError("k")) == "recovered"
    gen.close()
    assert attrs(spans.spans[0])[semconv.GEN_AI_TOOL_CALL_RESULT] == (
        '["ready","got a","recovered"]'
    )


def test_a_generator_return_value_passes_through(spans: CapturedSpans) -> None:
    @tracer.skill
    def returns() -> Iterator[int]:
        yield 1
        return 42

    def delegate() -> Iterator[int]:
        result = yield from returns()
        yield result

    assert list(delegate()) == [1, 42]


def test_spans_inside_a_generator_nest_and_nothing_leaks_between_steps(
    spans: CapturedSpans,
) -> None:
    @tracer.skill
    def fetch(i: int) -> int:
        return i

    @tracer.llm(model="m")
    def stream() -> Iterator[str]:
        for i in range(2):
            fetch(i)
            yield str(i)

    @tracer.agent
    def consumer() -> None:
        mine = trace.get_current_span()
        for _ in stream():
            assert trace.get_current_span() is mine

    consumer()
    by_name = {span.name: span for span in spans.spans}
    llm_span = by_name["chat m"]
    agent_span = next(span for span in spans.spans if span.name.startswith("invoke_agent"))
    fetches = [span for span in spans.spans if span.name.startswith("execute_tool")]
    assert [span.parent.span_id for span in fetches] == [llm_span.context.span_id] * 2
    assert llm_span.parent.span_id == agent_span.context.span_id


async def test_async_streams_are_timed_and_nest(clock: FakeClock, spans: CapturedSpans) -> None:
    @tracer.skill
    async def fetch() -> int:
        return 1

    @tracer.llm(model="m")
    async def stream() -> AsyncIterator[str]:
        clock.advance_ms(100)
        await fetch()
        yield "a"
        clock.advance_ms(20)
        yield "b"

    assert [text async for text in stream()] == ["a", "b"]
    fetch_span, llm_span = spans.spans
    assert fetch_span.parent.span_id == llm_span.context.span_id
    span_attributes = attrs(llm_span)
    assert span_attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] == pytest.approx(0.1)
    assert span_attributes[semconv.LLM_TBT_MEAN_MS] == pytest.approx(20)


async def test_async_stream_abandoned_by_aclose_and_returned_async_streams(
    spans: CapturedSpans,
) -> None:
    async def source() -> AsyncIterator[str]:
        for text in ["a", "b", "c"]:
            yield text

    @tracer.llm(model="m")
    async def call() -> AsyncIterator[str]:
        return source()

    stream = await call()
    assert await stream.__anext__() == "a"
    await stream.aclose()
    assert attrs(spans.spans[0])[semconv.WASTE_CAUSE] == "abandoned"

    @tracer.llm(model="m")
    async def generate() -> AsyncIterator[str]:
        async for text in source():
            yield text

    gen = generate()
    async for text in gen:
        if text == "b":
            break
    await gen.aclose()  # type: ignore[attr-defined]
    assert attrs(spans.spans[1])[semconv.WASTE_CAUSE] == "abandoned"
    assert attrs(spans.spans[1])[semconv.LLM_CHUNK_COUNT] == 2


async def test_async_generator_asend_and_athrow(spans: CapturedSpans) -> None:
    @tracer.route("choose")
    async def chooser() -> AsyncIterator[str]:
        hint = yield "thinking"
        try:
            yield f"hint:{hint}"
        except ValueError:
            yield "fallback"

    gen = chooser()
    assert await gen.__anext__() == "thinking"
    assert await gen.asend("x") == "hint:x"
    assert await gen.athrow(ValueError("v")) == "fallback"
    with pytest.raises(StopAsyncIteration):
        await gen.__anext__()
    assert attrs(spans.spans[0])[semconv.ROUTE_TARGET] == "fallback"


async def test_cancelling_an_async_stream_consumer_abandons_it(spans: CapturedSpans) -> None:
    release = asyncio.Event()

    @tracer.llm(model="m")
    async def stream() -> AsyncIterator[str]:
        yield "a"
        await release.wait()
        yield "b"

    async def consume() -> None:
        async for _ in stream():
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (span,) = spans.spans
    assert span.status.status_code is StatusCode.UNSET
    assert attrs(span)[semconv.WASTE_CAUSE] == "abandoned"


def test_non_llm_generators_capture_their_items_up_to_the_cap(
    content_settings: Any, spans: CapturedSpans
) -> None:
    content_settings(max_content_chars=20)

    @tracer.agent
    def numbers() -> Iterator[int]:
        yield from range(100)

    assert sum(numbers()) == 4950
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.AGENT_OUTPUT] == "[0,1,2,3,4,5,6,7,8,9"
    assert span_attributes[semconv.CONTENT_TRUNCATED] == '["agentflight.agent.output"]'
    assert semconv.LLM_CHUNK_COUNT not in span_attributes


# --- the summary maths --------------------------------------------------------------------
def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([1.0], 0.95) == 1.0
    assert percentile([1.0, 2.0], 0.5) == 1.5
    assert percentile([10.0, 20.0, 30.0, 40.0, 100.0], 0.95) == pytest.approx(88.0)


def test_a_stream_without_content_has_no_ttft() -> None:
    assert timing_attributes(0, [], 3) == {
        semconv.LLM_STREAMED: True,
        semconv.LLM_CHUNK_COUNT: 3,
        semconv.LLM_TBT_COUNT: 0,
    }


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=2, max_size=200))
def test_tbt_summary_is_ordered_and_bounded(gaps: list[int]) -> None:
    times = [0]
    for gap in gaps:
        times.append(times[-1] + gap)
    summary = timing_attributes(0, times, len(times))
    values = [
        summary[key]
        for key in (semconv.LLM_TBT_P50_MS, semconv.LLM_TBT_P95_MS, semconv.LLM_TBT_MAX_MS)
    ]
    assert values == sorted(values)
    mean = summary[semconv.LLM_TBT_MEAN_MS]
    assert min(gaps) / 1e6 - 1e-9 <= mean <= max(gaps) / 1e6 + 1e-9
    assert summary[semconv.LLM_TBT_MAX_MS] == max(gaps) / 1e6
    assert summary[semconv.LLM_TBT_COUNT] == len(gaps)


_deltas = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["assistant", "", None]),
        "content": st.sampled_from(["tok", "", None]),
        "refusal": st.sampled_from(["no", "", None]),
        "tool_calls": st.just([{"index": 0, "id": "t", "function": {"arguments": "{}"}}]),
    },
)
_choices = st.fixed_dictionaries(
    {},
    optional={
        "index": st.sampled_from([0, 1, None]),
        "delta": _deltas | st.none() | st.just("text"),
        "finish_reason": st.sampled_from([None, "", "stop"]),
    },
)
_texts = st.sampled_from(["tok", "", None])
_openai_chunks = st.fixed_dictionaries(  # what the fast path is for, and its near misses
    {
        "id": st.just("c-1"),
        "choices": st.lists(
            st.fixed_dictionaries(
                {
                    "index": st.sampled_from([0, 0, 1, None]),
                    "delta": st.fixed_dictionaries(
                        {"content": _texts},
                        optional={
                            "role": st.sampled_from(["assistant", ""]),
                            "refusal": _texts,
                            "tool_calls": st.just([{"index": 0, "function": {"name": "f"}}]),
                        },
                    ),
                    "finish_reason": st.sampled_from([None, None, "stop"]),
                }
            ),
            min_size=1,
            max_size=2,
        ),
    },
    optional={
        "model": st.sampled_from(["m-1", "", None]),
        "usage": st.none() | st.just({"prompt_tokens": 3, "completion_tokens": 1}),
    },
)
_chunks = _openai_chunks | st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["c-1", None, 7]),
        "model": st.sampled_from(["m-1", None, 7]),
        "usage": st.none() | st.just({"prompt_tokens": 3, "completion_tokens": 1}),
        "choices": st.lists(_choices, max_size=2) | st.none() | st.just("x"),
    },
)


def _as_objects(value: Any) -> Any:
    """The same chunk as objects with fields, as the OpenAI SDK's models are."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: _as_objects(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_as_objects(v) for v in value]
    return value


def _text_chunk(**delta: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


@settings(max_examples=500)
@given(st.lists(_chunks, max_size=6), st.booleans(), st.booleans())
@example(
    [_text_chunk(role="", content=""), _text_chunk(role="assistant", content="a")], True, False
)
def test_the_fast_path_leaves_the_state_of_the_general_path(
    chunks: list[dict[str, Any]], capture: bool, objects: bool
) -> None:
    """``observe`` reads the common OpenAI chunk, a dict or an object, with a few subscripts;
    every chunk must leave what the general field-by-field path leaves."""
    fast, slow = StreamStats(0, capture), StreamStats(0, capture)
    for chunk in map(_as_objects, chunks) if objects else chunks:
        assert fast.observe(chunk) == slow._observe_other(chunk)
        for name in StreamStats.__slots__:
            assert getattr(fast, name) == getattr(slow, name), name


def test_sdk_chunk_objects_are_read_like_their_dicts(spans: CapturedSpans) -> None:
    """The OpenAI SDK's ``ChatCompletionChunk`` models and their ``model_dump()`` dicts give
    the same span, content included."""
    from openai.types.chat import ChatCompletionChunk

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> Any:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        fields = {"id": "c-1", "object": "chat.completion.chunk", "created": 1, "model": "m-1"}
        return ChatCompletionChunk.model_validate({**fields, "choices": [choice], **extra})

    call = {"index": 0, "id": "t-1", "function": {"name": "find", "arguments": '{"q":'}}
    models = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Ana"}),
        chunk({"refusal": None, "content": " knows"}),
        chunk({"tool_calls": [call]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"rust"}'}}]}),
        chunk(
            {}, "tool_calls", usage={"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
        ),
    ]

    @tracer.llm(model="m")
    def stream(dumped: bool) -> Iterator[Any]:
        for model in models:
            yield model.model_dump() if dumped else model

    list(stream(False))  # content capture is on by default
    list(stream(True))
    timing = {semconv.LLM_TBT_MEAN_MS, semconv.LLM_TBT_P50_MS, semconv.LLM_TBT_P95_MS,
              semconv.LLM_TBT_MAX_MS, semconv.LLM_TBT_HISTOGRAM,
              semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK}  # fmt: skip
    objects, dicts = ({k: v for k, v in attrs(s).items() if k not in timing} for s in spans.spans)
    assert objects == dicts
    assert objects[semconv.LLM_CHUNK_COUNT] == 6 and objects[semconv.LLM_TBT_COUNT] == 3
    assert objects[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
    assert '"content":"Ana knows"' in objects[semconv.GEN_AI_OUTPUT_MESSAGES]
    assert '"arguments":{"q":"rust"}' in objects[semconv.GEN_AI_OUTPUT_MESSAGES]
