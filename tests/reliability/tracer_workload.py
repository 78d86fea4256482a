"""A traced agent under everything that could go wrong around it; prints what it saw as JSON.

Run as ``python -m tests.reliability.tracer_workload ENDPOINT SPANS``: the tracer exports to
ENDPOINT (down, slow or failing, as the test arranges); the agent makes SPANS traced calls
from many threads, with huge and unserialisable arguments, deep recursion and a fork.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from typing import Any

import tracer


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class Cyclic:
    def __init__(self) -> None:
        self.me = self


@tracer.skill("lookup")
def lookup(query: Any, blob: Any = None) -> dict[str, Any]:
    return {"query": "x", "echo": blob}


@tracer.agent("recursive", timeout_ms=1000)
def recursive(depth: int) -> int:
    return 0 if depth == 0 else 1 + recursive(depth - 1)


@tracer.agent("worker", timeout_ms=1000)
def work(i: int) -> int:
    lookup(f"q{i}")
    return i


def rss_kib() -> int:
    """The resident set size now (not the peak), KiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


def main() -> None:
    endpoint, spans = sys.argv[1], int(sys.argv[2])
    tracer.configure(service_name="reliability", endpoint=endpoint, export_timeout_ms=2000)
    errors: list[str] = []
    slowest = 0.0
    lock = threading.Lock()

    def timed(call: Any, *args: Any) -> None:
        nonlocal slowest
        started = time.perf_counter()
        try:
            call(*args)
        except Exception as exc:  # anything from the tracer would land here
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        took = time.perf_counter() - started
        with lock:
            slowest = max(slowest, took)

    base = rss_kib()
    # Odd arguments: huge, unprintable, cyclic, bytes.
    for blob in ("x" * 10_000_000, Unprintable(), Cyclic(), b"\xff" * 1000, {1: {2: [3] * 1000}}):
        timed(lookup, Unprintable(), blob)
    timed(recursive, 400)  # deep recursion: 401 nested spans
    after_first = rss_kib()
    # Thousands of threads, each tracing calls; twice, to see whether memory keeps growing.
    per_thread = max(1, spans // 4000)
    peaks = []
    for _ in range(2):
        threads = [
            threading.Thread(target=lambda n=n: [timed(work, n * per_thread + k)
                                                 for k in range(per_thread)])
            for n in range(2000)
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        peaks.append(rss_kib())
    # A fork: the child traces and exits cleanly; the parent goes on.
    pid = os.fork()
    if pid == 0:
        try:
            for k in range(100):
                work(k)
            tracer.shutdown()
            os._exit(0)
        except BaseException:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    child_ok = os.waitstatus_to_exitcode(status) == 0
    started = time.perf_counter()
    tracer.shutdown()
    shutdown_s = time.perf_counter() - started
    print(json.dumps({
        "errors": errors,
        "slowest_call_ms": slowest * 1000,
        "calls": 6 + 4000 * per_thread,
        "rss_growth_odd_args_mib": (after_first - base) / 1024,
        "rss_growth_first_half_mib": (peaks[0] - after_first) / 1024,
        "rss_growth_second_half_mib": (peaks[1] - peaks[0]) / 1024,
        "dropped": tracer.dropped_spans(),
        "fork_child_ok": child_ok,
        "shutdown_s": shutdown_s,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
