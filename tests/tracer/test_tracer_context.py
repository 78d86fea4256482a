"""Nesting follows the call stack across await, tasks and threads started with context; the
in-flight count per model follows concurrency."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import tracer
from tracer import semconv
from tracer._inflight import INFLIGHT
from tracer.testing import CapturedSpans
from tracer.testing import attributes as attrs

pytestmark = pytest.mark.timeout(30)


def _parents(spans: CapturedSpans) -> dict[str, str | None]:
    names = {span.context.span_id: span.name for span in spans.spans}
    return {
        f"{span.name}#{span.context.span_id}": names.get(span.parent.span_id)
        if span.parent
        else None
        for span in spans.spans
    }


async def test_concurrent_tasks_nest_under_their_caller(spans: CapturedSpans) -> None:
    both_started = asyncio.Barrier(2)
    seen_inflight: list[int] = []

    @tracer.llm(model="gpt-x")
    async def call(i: int) -> str:
        if i < 3:  # the two concurrent calls wait for each other
            await both_started.wait()
            seen_inflight.append(INFLIGHT.get("gpt-x"))
        await asyncio.sleep(0)
        return str(i)

    @tracer.agent("fan_out")
    async def fan_out() -> list[str]:
        return list(await asyncio.gather(call(1), call(2)))

    @tracer.agent("sequential")
    async def sequential() -> None:
        await call(3)

    assert await fan_out() == ["1", "2"]
    await sequential()
    chats = [span for span in spans.spans if span.name == "chat gpt-x"]
    fan_out_span = next(s for s in spans.spans if s.name == "invoke_agent fan_out")
    sequential_span = next(s for s in spans.spans if s.name == "invoke_agent sequential")
    assert [c.parent.span_id for c in chats[:2]] == [fan_out_span.context.span_id] * 2
    assert chats[2].parent.span_id == sequential_span.context.span_id
    assert sorted(attrs(c)[semconv.LLM_INFLIGHT] for c in chats[:2]) == [1, 2]
    assert attrs(chats[2])[semconv.LLM_INFLIGHT] == 1
    assert seen_inflight == [2, 2]
    assert fan_out_span.parent is None and sequential_span.parent is None


def test_threads_started_with_context_nest(spans: CapturedSpans) -> None:
    @tracer.skill
    def work(i: int) -> int:
        return i

    @tracer.agent("threaded")
    def threaded() -> None:
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(contextvars.copy_context().run, work, i) for i in range(2)]
            assert [f.result() for f in futures] == [0, 1]
        thread = threading.Thread(target=contextvars.copy_context().run, args=(work, 2))
        thread.start()
        thread.join()
        # A thread started without the context starts a trace of its own.
        plain = threading.Thread(target=work, args=(3,))
        plain.start()
        plain.join()

    threaded()
    agent = next(s for s in spans.spans if s.name == "invoke_agent threaded")
    works = {
        attrs(s)[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]: s
        for s in spans.spans
        if s.name.startswith("execute_tool")
    }
    for i in range(3):
        span = works[f'{{"i":{i}}}']
        assert span.parent.span_id == agent.context.span_id
        assert span.context.trace_id == agent.context.trace_id
    orphan = works['{"i":3}']
    assert orphan.parent is None
    assert orphan.context.trace_id != agent.context.trace_id


def test_inflight_counts_concurrent_threads_per_model(spans: CapturedSpans) -> None:
    gate = threading.Barrier(3)

    @tracer.llm
    def call(model: str) -> None:
        gate.wait(timeout=5)

    threads = [
        threading.Thread(target=call, args=(model,)) for model in ("gpt-a", "gpt-a", "gpt-b")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = sorted(
        (attrs(s)[semconv.GEN_AI_REQUEST_MODEL], attrs(s)[semconv.LLM_INFLIGHT])
        for s in spans.spans
    )
    assert counts[2] == ("gpt-b", 1)
    assert sorted(c for m, c in counts if m == "gpt-a") == [1, 2]
    assert INFLIGHT.get("gpt-a") == INFLIGHT.get("gpt-b") == 0


def test_a_stream_consumed_in_another_thread_keeps_its_parent(spans: CapturedSpans) -> None:
    @tracer.llm(model="m")
    def stream() -> object:
        yield "a"
        yield "b"

    @tracer.agent("producer")
    def producer() -> object:
        return stream()

    gen = producer()
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.extend(gen))  # type: ignore[call-overload]
    thread.start()
    thread.join()
    assert result == ["a", "b"]
    parents = _parents(spans)
    # The span started at the call, under the agent, though consumed after it returned.
    assert parents == {"invoke_agent producer#1": None, "chat m#2": "invoke_agent producer"}
