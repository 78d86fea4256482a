"""What the simulator decides per request, its wire format, and its batch scheduler."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from loadtest import Capacity
from loadtest._completions import RequestError, count_tokens, plan_request
from loadtest._scheduler import BatchScheduler
from loadtest._wire import DONE, ChunkWriter, completion_body

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city", "unit"],
        },
    },
}
SEARCH = {"type": "function", "function": {"name": "search", "parameters": {}}}


def plan(body: dict[str, Any], capacity: Capacity | None = None, seed: int = 1) -> Any:
    request = {"model": "m", "messages": [{"role": "user", "content": "hello there"}], **body}
    return plan_request(
        request,
        capacity or Capacity(output_tokens=30),
        random.Random(seed),
        request_id="chatcmpl-x1",
        seed=seed,
    )


def test_prompt_tokens_are_four_characters_each() -> None:
    assert count_tokens("") == 0
    assert count_tokens("abcd") == 1
    assert count_tokens("abcde") == 2
    assert plan({"messages": [{"role": "user", "content": "x" * 400}]}).prompt_tokens == 100


def test_max_tokens_caps_the_drawn_length_and_ignore_eos_forces_it() -> None:
    natural = plan({})
    assert (len(natural.pieces), natural.finish_reason) == (30, "stop")
    capped = plan({"max_tokens": 10})
    assert (len(capped.pieces), capped.finish_reason) == (10, "length")
    roomy = plan({"max_completion_tokens": 100})
    assert (len(roomy.pieces), roomy.finish_reason) == (30, "stop")
    forced = plan({"max_tokens": 100, "ignore_eos": True})
    assert (len(forced.pieces), forced.completion_tokens) == (100, 100)
    assert len(plan({"min_tokens": 50}).pieces) == 50


def test_reasoning_tokens_count_in_completion_tokens_and_follow_effort() -> None:
    capacity = Capacity(output_tokens=5, reasoning_tokens=40)
    medium = plan({}, capacity)
    assert (medium.reasoning_tokens, medium.completion_tokens) == (40, 45)
    assert plan({"reasoning_effort": "high"}, capacity).reasoning_tokens == 80
    assert plan({"reasoning_effort": "minimal"}, capacity).reasoning_tokens == 0


def test_a_seed_fixes_the_text() -> None:
    assert plan({}, seed=3).content == plan({}, seed=3).content
    assert plan({}, seed=3).content != plan({}, seed=4).content


def test_tool_calls_are_deterministic_and_follow_tool_choice() -> None:
    first = plan({"tools": [WEATHER, SEARCH]})
    assert first.tool_call is not None and first.finish_reason == "tool_calls"
    assert first.tool_call == plan({"tools": [WEATHER, SEARCH]}).tool_call
    forced = plan(
        {
            "tools": [WEATHER, SEARCH],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        }
    )
    assert forced.tool_call is not None and forced.tool_call.name == "get_weather"
    assert json.loads(forced.tool_call.arguments) == {"city": "city value", "unit": "c"}
    assert "".join(forced.pieces) == forced.tool_call.arguments
    assert plan({"tools": [WEATHER], "tool_choice": "none"}).tool_call is None
    after_tool = plan(
        {
            "tools": [WEATHER],
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]},
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            ],
        }
    )
    assert after_tool.tool_call is None and after_tool.finish_reason == "stop"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": ""}, "model is required"),
        ({"messages": []}, "messages must be a non-empty list"),
        ({"messages": ["hi"]}, "each message must be an object"),
        ({"max_tokens": 0}, "max_tokens must be a positive integer"),
        ({"tools": [{"type": "function", "function": {}}]}, "function.name"),
        ({"tools": [WEATHER], "tool_choice": {"function": {"name": "nope"}}}, "unknown function"),
    ],
)
def test_invalid_requests_are_rejected(body: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestError, match=message):
        plan(body)


def test_failure_injection_is_drawn_per_request() -> None:
    always = Capacity(error_rate=1.0, stall_rate=1.0, drop_rate=1.0, output_tokens=8)
    doomed = plan({}, always)
    assert doomed.fail_status in (500, 503)
    assert doomed.stall_at is not None and 0 <= doomed.stall_at < 8
    assert doomed.drop_at is not None and 0 <= doomed.drop_at < 8
    fine = plan({})
    assert (fine.fail_status, fine.stall_at, fine.drop_at) == (None, None, None)


def _events(raw: bytes) -> list[Any]:
    return [
        json.loads(part.removeprefix(b"data: "))
        for part in raw.split(b"\n\n")
        if part and part != DONE.strip()
    ]


def test_stream_chunks_are_openai_chunks() -> None:
    p = plan({"stream": True, "stream_options": {"include_usage": True}, "max_tokens": 3})
    writer = ChunkWriter(p, "chatcmpl-x1", 1700000000)
    raw = (
        writer.role()
        + b"".join(writer.piece(i) for i in range(3))
        + writer.finish()
        + writer.usage()
    )
    events = _events(raw)
    assert all(e["object"] == "chat.completion.chunk" and e["id"] == "chatcmpl-x1" for e in events)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(e["choices"][0]["delta"]["content"] for e in events[1:4]) == p.content
    assert all(e["usage"] is None for e in events[:5])
    assert events[4]["choices"][0]["finish_reason"] == "length"
    assert events[5]["choices"] == [] and events[5]["usage"]["completion_tokens"] == 3


def test_streamed_tool_calls_open_with_the_name_then_stream_arguments() -> None:
    p = plan({"stream": True, "tools": [WEATHER]})
    writer = ChunkWriter(p, "chatcmpl-x1", 0)
    events = _events(b"".join(writer.piece(i) for i in range(len(p.pieces))))
    calls = [e["choices"][0]["delta"]["tool_calls"][0] for e in events]
    assert calls[0]["function"]["name"] == "get_weather" and calls[0]["id"] == "call_x1"
    assert "".join(c["function"]["arguments"] for c in calls) == p.tool_call.arguments
    assert "usage" not in events[0]  # no include_usage: no usage key at all


def test_whole_responses_always_carry_usage() -> None:
    p = plan({"tools": [WEATHER]}, Capacity(reasoning_tokens=4, output_tokens=5))
    body = completion_body(p, "chatcmpl-x1", 0)
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 4
    assert body["usage"]["total_tokens"] == p.prompt_tokens + p.completion_tokens


async def test_the_scheduler_admits_in_arrival_order_up_to_the_batch_size() -> None:
    scheduler = BatchScheduler(2)
    first, second = await scheduler.acquire(), await scheduler.acquire()
    assert first is not None and second is not None and scheduler.running == 2
    order: list[int] = []

    async def wait(n: int) -> None:
        lease = await scheduler.acquire()
        assert lease is not None
        order.append(n)
        await asyncio.sleep(0.01)
        lease.release()

    waiters = [asyncio.create_task(wait(n)) for n in range(4)]
    await asyncio.sleep(0.01)
    assert scheduler.queued == 4
    first.release()
    first.release()  # releasing twice is harmless
    second.release()
    await asyncio.gather(*waiters)
    assert order == [0, 1, 2, 3]
    assert (scheduler.running, scheduler.queued) == (0, 0)


async def test_a_queue_timeout_or_cancellation_gives_the_place_up() -> None:
    scheduler = BatchScheduler(1)
    held = await scheduler.acquire()
    assert held is not None
    assert await scheduler.acquire(timeout=0.01) is None
    cancelled = asyncio.create_task(scheduler.acquire())
    await asyncio.sleep(0.01)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert scheduler.queued == 0
    held.release()
    assert scheduler.running == 0
    again = await scheduler.acquire(timeout=0.01)
    assert again is not None
