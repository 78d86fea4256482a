"""Replay engine overhead, printed (not a pass/fail test).

Run: .venv/bin/python benchmarks/bench_replay.py

Real parts: an embedded ClickHouse, the collector and the LLM simulator as child processes,
1,000 runs of a small agent (router, two skills, one streamed LLM call) recorded through the
tracer. Then, in this process:

1. engine overhead per step: one trace replayed at a time; the time a replay takes minus the
   simulator's own time for its LLM call (its request record), per step (span) of the trace;
2. 1,000 traces replayed at concurrency 32 (``replay.run``, as ``agentflight replay --agent``
   does): replays/s and this process's CPU, against a baseline in the same run: the same LLM
   requests sent straight to the simulator at the same concurrency, without the engine.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai

TRACES = int(os.environ.get("BENCH_TRACES", "1000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
SINGLE = int(os.environ.get("BENCH_SINGLE", "40"))
STEPS = 5  # agent, route, two skills, one LLM call
PROFILE = {"defaults": {"max_batch": 64, "prefill_base_ms": 5, "tbt_base_ms": 2,
                        "tbt_slope_ms": 0, "output_tokens": 16}}  # fmt: skip
REPO = Path(__file__).resolve().parent.parent


def _child(args: list[str], env: dict[str, str], pattern: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "agentflight", *args], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        match = re.search(pattern, line)
        if match:
            return process, match[1]
    raise RuntimeError(f"{args[0]} did not start")


def _wait(condition: Any, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _record(n: int) -> None:
    import _replay_agent

    import tracer

    tracer.configure(service_name="bench-agent")
    tracer.instrument_openai()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        questions = [f"who knows topic {i}?" for i in range(n)]
        list(
            pool.map(
                lambda q: contextvars.copy_context().run(_replay_agent.assistant, q), questions
            )
        )
    tracer.force_flush(60_000)


def _sim_ms(sim: str, since: int) -> list[float]:
    rows = httpx.get(f"{sim}/simulator/requests", params={"since": since}).json()["requests"]
    return [(r["finished_at"] - r["received_at"]) * 1000 for r in rows]


def _seq(sim: str) -> int:
    return int(httpx.get(f"{sim}/simulator/state").json()["requests"])


def main() -> None:
    import replay
    from collector import Store, embedded

    tmp = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    info, _ = embedded.start(tmp / "clickhouse", port=0)
    children: list[subprocess.Popen[str]] = []
    try:
        (tmp / "profile.json").write_text(json.dumps(PROFILE))
        env = {**os.environ, "AGENTFLIGHT_CLICKHOUSE_URL": info.dsn,
               "AGENTFLIGHT_DATABASE": "bench_replay", "PYTHONUNBUFFERED": "1"}  # fmt: skip
        store = Store.connect(info.dsn, database="bench_replay")
        collector, collector_url = _child(
            ["serve", "--port", "0", "--spool-dir", str(tmp / "spool")], env,
            r"listening on (http://\S+)",
        )  # fmt: skip
        sim, sim_url = _child(
            ["simulate-llm", "--port", "0", "--seed", "1", "--profile", str(tmp / "profile.json")],
            env, r"listening on (http://\S+)",
        )  # fmt: skip
        children += [collector, sim]
        sim_root = sim_url.removesuffix("/v1")
        os.environ.update(AGENTFLIGHT_ENDPOINT=collector_url, BENCH_LLM_URL=sim_url)
        sys.path.insert(0, str(Path(__file__).parent))
        print(f"agentflight replay benchmark: {TRACES} traces, concurrency {CONCURRENCY}")

        started = time.perf_counter()
        _record(TRACES)
        count = (
            "SELECT count() FROM {db:Identifier}.genai_spans WHERE agent_name = 'bench_assistant'"
        )
        _wait(lambda: store.query(count).result_rows[0][0] >= TRACES, "the recorded traces")
        took = time.perf_counter() - started
        print(f"   recorded {TRACES} traces through the collector in {took:.1f} s")
        options = replay.ReplayOptions(base_url=sim_url, concurrency=CONCURRENCY)

        print("\n1. engine overhead per step (one trace at a time)")
        ids = replay.select_traces(store, "bench_assistant", since_ns=0, limit=SINGLE)
        replayer = replay.Replayer(store, options)
        load_ms, run_ms, sim_ms = [], [], []
        for trace_id in ids:
            before = _seq(sim_root)
            t0 = time.perf_counter()
            tree = replayer.load(trace_id)
            t1 = time.perf_counter()
            result = replayer.replay(tree)
            t2 = time.perf_counter()
            assert result.status == "ok", result.errors
            load_ms.append((t1 - t0) * 1000)
            run_ms.append((t2 - t1) * 1000)
            sim_ms.append(sum(_sim_ms(sim_root, before)))
        replayer.close()
        mid = len(ids) // 2
        median = lambda xs: sorted(xs)[mid]  # noqa: E731
        overhead = median([r - s for r, s in zip(run_ms, sim_ms, strict=True)])
        print(f"   simulator's own time per LLM call (median): {median(sim_ms):8.2f} ms")
        print(f"   replay of the trace, loading excluded:       {median(run_ms):8.2f} ms")
        per_step = overhead / STEPS
        print(f"   engine overhead per trace / per step:       {overhead:8.2f} / {per_step:.2f} ms")
        print(f"   loading a trace from ClickHouse (median):    {median(load_ms):8.2f} ms")

        print(f"\n2. {TRACES} traces at concurrency {CONCURRENCY}")
        body = {
            "model": "gpt-4o-mini",
            "stream": True,
            "stream_options": {"include_usage": True},
            "seed": 1,
            "messages": [{"role": "user", "content": "who knows topic 1?"}],
        }
        raw = openai.OpenAI(base_url=sim_url, api_key="unused", max_retries=0)

        def call(_: int) -> None:
            for _chunk in raw.chat.completions.create(**body):
                pass

        cpu0, t0 = time.process_time(), time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(call, range(TRACES)))
        baseline = TRACES / (time.perf_counter() - t0)
        base_cpu = (time.process_time() - cpu0) / TRACES * 1000
        raw.close()
        print(f"   baseline: the LLM calls alone, no engine:    {baseline:8.1f} calls/s")
        print(f"   baseline CPU in this process:                {base_cpu:8.1f} ms/call")
        cpu0, t0 = time.process_time(), time.perf_counter()
        report = replay.run(store, options, agent="bench_assistant", since="1d", limit=TRACES)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        ok = sum(r.status == "ok" for r in report.results)
        n = len(report.results)
        rate = n / wall
        print(f"   replays: {n} ({ok} ok) in {wall:.1f} s: {rate:8.1f} replays/s")
        print(f"   replays/s against the baseline's calls/s:    {rate / baseline:8.2f}")
        busy, per_replay = cpu / wall, cpu / n * 1000
        print(f"   engine CPU: {cpu:.1f} s = {busy:.2f} cores busy, {per_replay:.1f} ms/replay")
        print(f"   (this machine has {os.cpu_count()} cores)")
        print(f"   summary: {json.dumps(report.summary)}")
    finally:
        for child in children:
            child.terminate()
            child.wait(30)
        embedded.stop(tmp / "clickhouse")


if __name__ == "__main__":
    main()
