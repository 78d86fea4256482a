"""Real parts for the replay tests: the loadtest simulator (two model profiles), a collector
writing to the session's ClickHouse, traces recorded by the test agent in child processes,
and ``agentflight replay`` run as users run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

import loadtest
from collector import Store
from collector.config import CollectorSettings
from collector.server import bind
from collector.server import run as run_collector
from tests.collector.conftest import count, wait_until
from tests.conftest import REPO_ROOT

# Two deployments the simulator serves: the recorded model and a bigger, slower one.
PROFILE = loadtest.SimulatorProfile.build(
    {
        "defaults": {"prefill_base_ms": 5, "tbt_base_ms": 1, "tbt_slope_ms": 0},
        "models": {
            "gpt-4o-mini": {"output_tokens": 12, "tbt_base_ms": 1},
            "gpt-4o": {"output_tokens": 20, "tbt_base_ms": 2, "prefill_base_ms": 15},
        },
    }
)
SIM_SEED = 11
QUESTIONS = ["who knows rust?", "who wrote the billing service?", "who can review go code?"]


@dataclass
class ReplayEnv:
    store: Store
    collector_url: str
    sim_url: str
    calls_file: Path
    tmp: Path

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENT_"))}
        return {
            **base,
            "AGENTFLIGHT_CLICKHOUSE_URL": self.store.url,
            "AGENTFLIGHT_DATABASE": self.store.database,
            "AGENTFLIGHT_ENDPOINT": self.collector_url,
            "AGENT_LLM_URL": self.sim_url,
            "AGENT_CALLS_FILE": str(self.calls_file),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """``agentflight replay ARGS`` in a child process, from the repository root."""
        return subprocess.run(
            [sys.executable, "-m", "agentflight", "replay", *args],
            capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, env=self.env(**env),
        )  # fmt: skip

    def replay_json(self, *args: str, **env: str) -> tuple[int, dict[str, Any]]:
        result = self.cli(*args, "--json", **env)
        assert result.returncode in (0, 1), result.stderr
        try:
            return result.returncode, json.loads(result.stdout)
        except ValueError:
            raise AssertionError(f"no JSON report: {result.stdout!r} {result.stderr}") from None

    def record(
        self, *questions: str, script: bool = False, spans: int = 7, **env: str
    ) -> list[str]:
        """Run the test agent in a child process; the ids of the traces it recorded, stored.
        A question ``--async`` first runs the async agent."""
        module = "tests.replay.agent_app" if script else "tests.replay.record"
        result = subprocess.run(
            [sys.executable, "-m", module, *questions],
            capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, env=self.env(**env),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        ids = result.stdout.split()
        assert len(ids) == len([q for q in questions if q != "--async"]), result.stdout
        for trace_id in ids:
            self.wait_stored(trace_id, spans)
        return ids

    def wait_stored(self, trace_id: str, spans: int) -> None:
        where = "trace_id = {t:String}"
        wait_until(
            lambda: count(self.store, where, "genai_spans", t=trace_id) >= spans,
            what=f"{spans} spans of trace {trace_id}",
        )

    def calls(self) -> list[str]:
        if not self.calls_file.exists():
            return []
        return self.calls_file.read_text().split()

    def sim_seq(self) -> int:
        state = httpx.get(self.sim_url.removesuffix("/v1") + "/simulator/state").json()
        return int(state["requests"])

    def sim_records(self, since: int) -> list[dict[str, Any]]:
        url = self.sim_url.removesuffix("/v1") + f"/simulator/requests?since={since}"
        return list(httpx.get(url).json()["requests"])


def _start_collector(store: Store, spool: Path) -> tuple[str, uvicorn.Server, threading.Thread]:
    settings = CollectorSettings.resolve(spool_dir=spool, batch_interval_ms=50)
    sock = bind("127.0.0.1", 0)
    servers: list[uvicorn.Server] = []
    thread = threading.Thread(
        target=run_collector, args=(settings, sock, store.url, store.database),
        kwargs={"started": servers.append}, daemon=True,
    )  # fmt: skip
    thread.start()
    wait_until(lambda: (bool(servers) and servers[0].started) or not thread.is_alive(), 30)
    assert thread.is_alive(), "the collector failed to start"
    return f"http://127.0.0.1:{sock.getsockname()[1]}", servers[0], thread


@pytest.fixture(scope="module")
def replay_env(
    clickhouse_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReplayEnv]:
    """A database, a collector and the simulator for one test module."""
    tmp = tmp_path_factory.mktemp("replay")
    store = Store.connect(clickhouse_url, database=f"test_replay_{uuid.uuid4().hex[:10]}")
    with ExitStack() as stack:
        sim_url = stack.enter_context(loadtest.running_simulator(PROFILE, seed=SIM_SEED))
        collector_url, server, thread = _start_collector(store, tmp / "spool")
        try:
            yield ReplayEnv(store, collector_url, sim_url, tmp / "calls.txt", tmp)
        finally:
            server.should_exit = True
            thread.join(60)
            store.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC")
            store.close()


@dataclass
class Recorded:
    traces: list[str]  # recorded with content, model gpt-4o-mini
    sim_ranges: list[tuple[int, int]]  # the simulator's request numbers of each trace


@pytest.fixture(scope="module")
def recorded(replay_env: ReplayEnv) -> Recorded:
    """Three runs of the test agent, recorded one by one (so each one's requests are known)."""
    traces, ranges = [], []
    for question in QUESTIONS:
        before = replay_env.sim_seq()
        traces += replay_env.record(question)
        ranges.append((before, replay_env.sim_seq()))
    return Recorded(traces, ranges)
