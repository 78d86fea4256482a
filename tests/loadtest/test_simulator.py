"""The simulator over real HTTP, driven by the real ``openai`` client.

One simulator process serves every model these tests need: its profile gives each model the
capacity or failure the test is about.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from loadtest import Capacity, load_profile, predict, running_simulator
from tests.loadtest.conftest import AGENTFLIGHT, Simulator, child_env

CAPACITY = {
    "max_batch": 8,
    "prefill_base_ms": 30,
    "prefill_ms_per_token": 0,
    "tbt_base_ms": 8,
    "tbt_slope_ms": 1.5,
    "output_tokens": 24,
}
PROFILE = {
    "defaults": {"prefill_base_ms": 2, "tbt_base_ms": 1, "tbt_slope_ms": 0, "output_tokens": 8},
    "models": {
        "capacity": CAPACITY,
        "thinker": {"reasoning_tokens": 6, "tbt_base_ms": 5, "output_tokens": 4},
        "flaky": {"error_rate": 1.0},
        "dropper": {"drop_rate": 1.0, "output_tokens": 20},
        "staller": {"stall_rate": 1.0, "stall_ms": 300, "output_tokens": 6},
        "slow": {"server_timeout_s": 0.2, "max_batch": 1, "output_tokens": 100, "tbt_base_ms": 5},
        "wide": {"max_batch": 5000, "prefill_base_ms": 10, "tbt_base_ms": 100, "output_tokens": 6},
    },
}
MESSAGES: Any = [{"role": "user", "content": "Say something."}]


@pytest.fixture(scope="module")
def sim(simulator_factory: Callable[..., Simulator]) -> Simulator:
    return simulator_factory(profile=PROFILE)


@pytest.fixture
def client(sim: Simulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.url, api_key="unused", max_retries=0, timeout=20)


def test_streams_end_with_done_and_carry_usage_when_asked(sim: Simulator) -> None:
    body = {"model": "any-name-at-all", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", f"{sim.url}/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        request_id = response.headers["x-request-id"]
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    assert '"usage"' not in "".join(lines)  # not asked for
    record = next(r for r in sim.records() if r["id"] == request_id)
    assert (record["status"], record["model"], record["completion_tokens"]) == (
        "ok",
        "any-name-at-all",
        8,
    )


def test_openai_client_streams_with_reasoning_tokens_in_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="thinker",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 4
    usage = chunks[-1].usage
    assert usage is not None and chunks[-1].choices == []
    assert usage.completion_tokens == 10
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 6
    assert usage.total_tokens == usage.prompt_tokens + 10


def test_whole_answers_always_carry_usage_and_a_seed_repeats_them(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model="m", messages=MESSAGES, seed=42, max_tokens=5)
    again = client.chat.completions.create(model="m", messages=MESSAGES, seed=42, max_tokens=5)
    assert first.usage is not None and first.usage.completion_tokens == 5
    assert first.choices[0].finish_reason == "length"
    assert first.choices[0].message.content == again.choices[0].message.content


def test_tool_calls_stream_through_the_openai_client(client: openai.OpenAI) -> None:
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "lookup_order",
                "parameters": {
                    "type": "object",
                    "properties": {"order_id": {"type": "integer"}},
                    "required": ["order_id"],
                },
            },
        }
    ]
    stream = client.chat.completions.create(model="m", messages=MESSAGES, tools=tools, stream=True)
    name, arguments, finish = "", "", None
    for chunk in stream:
        delta = chunk.choices[0].delta
        for call in delta.tool_calls or []:
            name += call.function.name or "" if call.function else ""
            arguments += call.function.arguments or "" if call.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert (name, arguments, finish) == ("lookup_order", '{"order_id": 1}', "tool_calls")


def test_models_are_listed_and_any_name_is_served(client: openai.OpenAI) -> None:
    names = {model.id for model in client.models.list()}
    assert {"capacity", "thinker", "flaky"} <= names
    assert client.models.retrieve("whatever").id == "whatever"


def test_injected_server_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="flaky", messages=MESSAGES)
    assert caught.value.status_code in (500, 503)


def test_injected_dropped_connections(client: openai.OpenAI, sim: Simulator) -> None:
    with pytest.raises(openai.APIConnectionError):
        list(client.chat.completions.create(model="dropper", messages=MESSAGES, stream=True))
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="dropper", messages=MESSAGES)
    assert [r["status"] for r in sim.records() if r["model"] == "dropper"] == ["dropped"] * 2


def test_injected_stalls_pause_the_stream_once(client: openai.OpenAI, sim: Simulator) -> None:
    stamps = [time.perf_counter()]
    for chunk in client.chat.completions.create(model="staller", messages=MESSAGES, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())
    gaps = sorted(b - a for a, b in itertools.pairwise(stamps))  # the first is the TTFT
    assert len(stamps) == 7
    # One pause of 300 ms: the longest gap is at least that, and it stands alone (a second
    # pause would make the next-longest gap as long). Tokens are 1 ms apart otherwise.
    assert gaps[-1] >= 0.25 and gaps[-1] > 2 * gaps[-2]
    assert [r["stalled"] for r in sim.records() if r["model"] == "staller"] == [True]


async def test_the_server_timeout_ends_queued_and_streaming_requests(sim: Simulator) -> None:
    client = openai.AsyncOpenAI(base_url=sim.url, api_key="unused", max_retries=0)

    async def streamed() -> None:
        stream = await client.chat.completions.create(model="slow", messages=MESSAGES, stream=True)
        async for _ in stream:
            pass

    async def queued() -> None:
        await asyncio.sleep(0.02)  # arrive second, behind the only batch slot
        await client.chat.completions.create(model="slow", messages=MESSAGES)

    results = await asyncio.gather(streamed(), queued(), return_exceptions=True)
    await client.close()
    assert isinstance(results[0], openai.APIError)
    assert "timeout" in str(results[0])
    assert isinstance(results[1], openai.APIStatusError) and results[1].status_code == 504
    slow = [r for r in sim.records() if r["model"] == "slow"]
    # Without the 200 ms timeout the stream would take 500 ms and the queued request 1 s.
    assert [r["status"] for r in slow] == ["timeout", "timeout"]
    assert all(r["e2e_ms"] >= 190 for r in slow)
    streamed_record = min(slow, key=lambda r: r["received_at"])
    assert streamed_record["stream"] and streamed_record["ttft_ms"] is not None


async def _measure(client: openai.AsyncOpenAI, concurrency: int, rounds: int) -> Any:
    ttft: list[float] = []
    tbt: list[float] = []

    async def one_client() -> None:
        for _ in range(rounds):
            start = time.perf_counter()
            stream = await client.chat.completions.create(
                model="capacity", messages=MESSAGES, stream=True
            )
            stamps = []
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    stamps.append(time.perf_counter())
            ttft.append((stamps[0] - start) * 1000)
            # The mean gap of the stream: a late client reads chunks in bursts (gaps of 0
            # and long ones), but cannot read the last chunk before it was due.
            tbt.append((stamps[-1] - stamps[0]) * 1000 / (len(stamps) - 1))

    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return statistics.median(ttft), statistics.median(tbt)


async def test_latency_under_concurrency_follows_the_capacity_model(sim: Simulator) -> None:
    """TTFT and TBT at concurrency 16 exceed those at 1 as the model predicts.

    Only orderings, lower bounds and ratios: a busy machine makes every figure late, never
    early. The simulator can send nothing before the model says it is due, and its own
    record shows 16 clients on 8 slots waiting one service time each.
    """
    client = openai.AsyncOpenAI(base_url=sim.url, api_key="unused", max_retries=0, timeout=30)
    since = sim.last_seq()
    ttft_1, tbt_1 = await _measure(client, 1, rounds=8)
    middle = sim.last_seq()
    ttft_16, tbt_16 = await _measure(client, 16, rounds=3)
    await client.close()
    capacity = Capacity.from_mapping(CAPACITY)
    one = predict(capacity, 1, prompt_tokens=4, output_tokens=24)
    sixteen = predict(capacity, 16, prompt_tokens=4, output_tokens=24)
    assert (one.ttft_ms, one.tbt_ms) == (30, 9.5)
    assert (sixteen.tbt_ms, round(sixteen.ttft_ms)) == (20, 520)
    assert ttft_16 > 5 * ttft_1 and tbt_16 > 1.5 * tbt_1
    assert ttft_1 >= 0.95 * one.ttft_ms and ttft_16 >= 0.9 * sixteen.ttft_ms
    assert tbt_1 >= 0.9 * one.tbt_ms and tbt_16 >= 0.9 * sixteen.tbt_ms
    alone = [r for r in sim.records(since) if r["seq"] <= middle]
    crowded = [r for r in sim.records(middle) if r["model"] == "capacity"]
    assert all(r["queue_ms"] < 0.5 * (r["e2e_ms"] - r["queue_ms"]) for r in alone)
    # After the first wave (8 requests admitted at once), 16 clients on 8 slots wait about
    # one service time each: queue / service = 16 / 8 - 1.
    queued = sorted(crowded, key=lambda r: r["seq"])[8:]
    ratio = statistics.median(r["queue_ms"] / (r["e2e_ms"] - r["queue_ms"]) for r in queued)
    assert ratio == pytest.approx(16 / 8 - 1, rel=0.25)


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


async def test_a_thousand_open_streams_need_no_thread_each(sim: Simulator) -> None:
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=0)
    body = {"model": "wide", "messages": MESSAGES, "stream": True}
    peak_threads = 0
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:

        async def stream() -> int:
            async with http.stream("POST", f"{sim.url}/chat/completions", json=body) as response:
                return sum(1 for line in [x async for x in response.aiter_lines()] if line)

        tasks = [asyncio.create_task(stream()) for _ in range(1000)]
        while not all(task.done() for task in tasks):
            await asyncio.sleep(0.05)
            peak_threads = max(peak_threads, _threads(sim.process.pid))
        counts = await asyncio.gather(*tasks)
    assert counts == [6 + 3] * 1000  # role, 6 tokens, finish, [DONE]
    running = httpx.get(f"{sim.root}/simulator/state").json()["models"]["wide"]
    assert running == {"running": 0, "queued": 0, "max_batch": 5000}
    assert peak_threads < 16


def test_bad_simulator_settings_are_one_line(tmp_path: Path) -> None:
    """(Every profile error is one line too: see test_capacity.py.)"""
    done = subprocess.run(
        [AGENTFLIGHT, "simulate-llm", "--port", "0", "--max-batch", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env=child_env(),
    )
    assert done.returncode == 2
    assert (
        done.stderr == "agentflight simulate-llm: defaults: max_batch must be at least 1, got 0\n"
    )


def test_the_simulator_runs_on_a_background_thread_too() -> None:
    profile = load_profile(overrides={"output_tokens": 3, "tbt_base_ms": 1})
    with running_simulator(profile, seed=5) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        answer = client.chat.completions.create(model="m", messages=MESSAGES)
        assert answer.usage is not None and answer.usage.completion_tokens == 3
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=MESSAGES)
