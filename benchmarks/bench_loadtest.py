"""Load-test benchmarks: how exact Locust's TTFT is, and how fast one Locust worker goes.

1. TTFT measurement error: for every request, the TTFT Locust measured (``OpenAIChatUser``)
   minus the true one, i.e. the simulator's own record of when it sent the first content
   chunk, minus the client's wall-clock start. Goal: median error <= 2 ms.
2. Throughput: the highest rate of completed streamed requests one Locust worker process
   sustains against the simulator on this machine, over a few user counts. CPU use of both
   processes says which one was the limit (on a machine shared with other work, neither
   may be: the load average is printed first).
3. Planning a recorded replay: the largest recording ``--shape recorded`` takes (500,000
   calls) through ``--multiplier 2`` into an arrival schedule, against the same recording
   at ``--multiplier 1`` as the baseline: seconds and peak memory.

Run: ``.venv/bin/python benchmarks/bench_loadtest.py`` (about a minute). Locust
monkey-patches this process, so it is imported first, in ``main``.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any

STEP_S = 4.0
TTFT_RUN_S = 8.0


def start_simulator(*flags: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "agentflight", "simulate-llm", "--port", "0", "--seed", "1", *flags],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    match = re.search(r"listening on (\S+)", process.stdout.readline())
    if match is None:
        process.kill()
        raise SystemExit("the simulator did not start")
    return process, match.group(1)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    last = len(ordered) - 1
    pick = [ordered[min(last, round(q * last))] for q in (0.5, 0.95, 0.99)]
    return "p50 {:+.2f}  p95 {:+.2f}  p99 {:+.2f}".format(*pick)


def run_users(user_class: type, users: int, seconds: float) -> list[Any]:
    """Run ``users`` users for ``seconds``; the ``RequestResult`` of every request."""
    import gevent
    from locust.env import Environment

    results: list[Any] = []

    def on_request(context: dict[str, Any], **_: Any) -> None:
        if "agentflight" in context:
            results.append(context["agentflight"])

    env = Environment(user_classes=[user_class])
    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=max(users, 1))
    gevent.sleep(seconds)
    env.stop_timeout = 0
    runner.quit()
    return results


def bench_ttft_error(user_base: type) -> None:
    simulator, url = start_simulator(
        "--max-batch", "256", "--prefill-base-ms", "20", "--tbt-base-ms", "10",
        "--tbt-slope-ms", "0", "--output-tokens", "16",
    )  # fmt: skip
    try:
        import urllib.request

        class User(user_base):
            host = url

        print("TTFT measurement error (Locust minus the simulator's first-chunk record), ms")
        for users in (1, 8, 64):
            results = [r for r in run_users(User, users, TTFT_RUN_S) if r.outcome == "ok"]
            with urllib.request.urlopen(url.removesuffix("/v1") + "/simulator/requests") as reply:
                records = {r["id"]: r for r in json.load(reply)["requests"]}
            errors = [
                r.ttft_ms - (records[r.request_id]["first_chunk_at"] - r.started_at) * 1000
                for r in results
                if r.request_id in records and r.ttft_ms is not None
            ]
            verdict = "meets" if statistics.median(errors) <= 2.0 else "MISSES"
            print(
                f"  {users:3d} users, {len(errors):5d} requests: {percentiles(errors)}"
                f"  -> median {verdict} the 2 ms goal"
            )
    finally:
        simulator.terminate()
        simulator.wait()


def bench_throughput(user_base: type) -> None:
    simulator, url = start_simulator(
        "--max-batch", "4096", "--prefill-base-ms", "0", "--prefill-ms-per-token", "0",
        "--tbt-base-ms", "0", "--tbt-slope-ms", "0", "--output-tokens", "1",
    )  # fmt: skip

    class User(user_base):
        host = url
        prompt_tokens = 16

    print("Throughput of one Locust worker (streamed requests of 1 token, zero model latency)")
    best = (0.0, 0)
    try:
        for users in (1, 4, 16, 32, 64):
            worker_cpu, sim_cpu = cpu_seconds(os.getpid()), cpu_seconds(simulator.pid)
            began = time.perf_counter()
            results = run_users(User, users, STEP_S)
            elapsed = time.perf_counter() - began
            rate = sum(1 for r in results if r.outcome == "ok") / STEP_S
            worker = (cpu_seconds(os.getpid()) - worker_cpu) / elapsed
            sim = (cpu_seconds(simulator.pid) - sim_cpu) / elapsed
            print(
                f"  {users:3d} users: {rate:7.0f} requests/s "
                f"(Locust worker CPU {worker:4.0%}, simulator CPU {sim:4.0%})"
            )
            best = max(best, (rate, users))
    finally:
        simulator.terminate()
        simulator.wait()
    print(f"  highest sustained: {best[0]:.0f} requests/s at {best[1]} users")


def bench_recorded_plan() -> None:
    import random
    import tracemalloc

    from loadtest._recorded import MAX_RECORDED_CALLS
    from loadtest._trace import ArrivalSchedule, TraceRow, multiply

    rng = random.Random(1)
    rows, offset = [], 0.0
    for _ in range(MAX_RECORDED_CALLS):
        rows.append(TraceRow(offset, rng.randint(50, 4000), rng.randint(1, 800), model="m"))
        offset += rng.expovariate(6.0)  # 500,000 calls over about a day
    print(f"recorded replay plan: {len(rows):,} calls over {offset / 3600:.1f} h")
    for multiplier in (1.0, 2.0):
        began = time.perf_counter()
        schedule = ArrivalSchedule(multiply(rows, multiplier), 60.0, 10.0)
        elapsed = time.perf_counter() - began
        del schedule
        tracemalloc.start()  # a second pass for memory: tracing slows allocation down
        schedule = ArrivalSchedule(multiply(rows, multiplier), 60.0, 10.0)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(
            f"  x{multiplier:g}: {len(schedule):,} arrivals in {schedule.stage_count} stages, "
            f"{elapsed:.2f} s, peak {peak / 2**20:.0f} MiB"
        )


def main() -> None:
    import locust  # first: it monkey-patches this process before anything opens sockets
    from locust import constant

    from loadtest.users import OpenAIChatUser

    class Base(OpenAIChatUser):
        abstract = True
        model = "bench"
        prompt_tokens = 64
        wait_time = constant(0)

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"{os.cpu_count()} CPUs (load average {load}), Python {sys.version.split()[0]}, "
        f"Locust {locust.__version__}"
    )
    bench_ttft_error(Base)
    bench_throughput(Base)
    bench_recorded_plan()


if __name__ == "__main__":
    main()
