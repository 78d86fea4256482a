"""The tracer never hurts the agent: a collector down, hanging, or failing; odd arguments;
deep recursion; a fork; thousands of threads.

Guarantee: no exception of the tracer's reaches the agent, the agent's thread never waits on
the network, and memory stays bounded (spans beyond the export queue are dropped and
counted, not kept).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import REPO_ROOT
from tests.http_server import QuietHandler, serving
from tests.reliability.harness import Row, scale

HANG_S = 30.0


class _Hanging(QuietHandler):
    def do_POST(self) -> None:
        threading.Event().wait(HANG_S)  # a collector that never answers in time
        self.send_response(200)
        self.end_headers()


class _Failing(QuietHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        self.send_response(500)
        self.end_headers()


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once closed


@pytest.fixture(params=["down", "hanging", "failing"])
def collector(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    if request.param == "down":
        yield request.param, _closed_port()
    else:
        handler = _Hanging if request.param == "hanging" else _Failing
        with serving(handler) as url:
            yield request.param, url


def test_the_tracer_never_hurts_the_agent(collector: tuple[str, str]) -> None:
    kind, endpoint = collector
    spans = scale(20_000, 200_000)
    result = subprocess.run(
        [sys.executable, "-m", "tests.reliability.tracer_workload", endpoint, str(spans)],
        capture_output=True, text=True, timeout=900, cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "AGENTFLIGHT_STRICT": "0"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    Row(f"tracer, collector {kind}", f"{seen['calls']:,} traced runs, 2 x 2,000 threads",
        "10 MB / unprintable / cyclic args, 400-deep recursion, fork", seen["calls"], "-", "-",
        "-", "-", "-", seen["slowest_call_ms"]).record()  # fmt: skip
    assert seen["errors"] == []  # nothing of the tracer's reached the agent
    assert seen["fork_child_ok"]
    # A call that waited on the network would last at least the hang (or the export timeout).
    assert seen["slowest_call_ms"] < HANG_S * 1000 / 2
    # Memory: the export queue is bounded, so the second half of the calls (as many spans as
    # the first) adds next to nothing: spans beyond the queue are not kept.
    assert seen["rss_growth_second_half_mib"] < 16, seen
    if kind != "failing":
        assert seen["dropped"] > 0  # beyond the queue: dropped and counted, not kept
