"""A real collector for the tests: uvicorn on a free loopback port, in a thread of the test.

It writes to the session's ClickHouse, into the ``store`` fixture's database of its own, with
a spool in the test's temporary directory.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from collector import Store
from collector.app import Collector
from collector.config import CollectorSettings
from collector.server import bind, run


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    """Poll ``condition`` until it holds; fail with ``what`` if it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


def count(store: Store, where: str = "1", table: str = "otel_traces", **params: Any) -> int:
    sql = f"SELECT count() FROM {{db:Identifier}}.{table} WHERE {where}"
    return int(store.query(sql, params).result_rows[0][0])


def all_stored(store: Store, trace_id: str, spans: int) -> bool:
    """True once the spans are in otel_traces and in both views (written right after it)."""
    t = {"t": trace_id}
    return (
        count(store, "TraceId = {t:String}", **t) == spans
        and count(store, "trace_id = {t:String}", "genai_spans", **t) == spans
        and count(store, "TraceId = {t:String}", "otel_traces_trace_id_ts", **t) >= 1
    )


@dataclass
class LiveCollector:
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    settings: CollectorSettings

    @property
    def collector(self) -> Collector:
        collector: Collector = self.server.config.app.state.collector  # type: ignore[union-attr]
        return collector

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)
        assert not self.thread.is_alive(), "the collector did not stop"


@pytest.fixture
def start_collector(store: Store, tmp_path: Path) -> Iterator[Callable[..., LiveCollector]]:
    running: list[LiveCollector] = []

    def start(url: str | None = None, **overrides: Any) -> LiveCollector:
        overrides.setdefault("spool_dir", tmp_path / f"spool-{len(running)}")
        overrides.setdefault("batch_interval_ms", 50)
        settings = CollectorSettings.resolve(**overrides)
        sock = bind("127.0.0.1", 0)
        servers: list[uvicorn.Server] = []
        thread = threading.Thread(
            target=run,
            args=(settings, sock, url or store.url, store.database),
            kwargs={"started": servers.append},
            daemon=True,
        )
        thread.start()
        wait_until(
            lambda: (bool(servers) and servers[0].started) or not thread.is_alive(),
            30,
            "the collector to start",
        )
        assert thread.is_alive(), "the collector failed to start (see the log above)"
        live = LiveCollector(
            f"http://127.0.0.1:{sock.getsockname()[1]}", servers[0], thread, settings
        )
        running.append(live)
        return live

    yield start
    for live in running:
        if live.thread.is_alive():
            live.stop()


@dataclass
class CollectorProcess:
    """``python -m agentflight serve`` as a child process."""

    process: subprocess.Popen[str]
    url: str
    output: queue.Queue[str]
    pump: threading.Thread

    @classmethod
    def start(cls, spool_dir: Path, env: dict[str, str], port: int = 0) -> CollectorProcess:
        process = subprocess.Popen(
            [sys.executable, "-m", "agentflight", "serve", "--port", str(port), "--spool-dir",
             str(spool_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )  # fmt: skip
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert process.stdout is not None
            try:
                for line in process.stdout:
                    lines.put(line)
            except ValueError:  # the pipe was closed by stop()
                pass

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        seen = []
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            seen.append(line)
            if "listening on http://" in line:
                url = line.split("listening on ", 1)[1].split()[0]
                return cls(process, url, lines, reader)
        process.kill()
        raise AssertionError(f"the collector did not start: {''.join(seen)}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the collector, wait for it, release its pipe; return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(60)
        self.pump.join(10)  # everything it printed has been read
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code

    def log(self) -> str:
        out = []
        while not self.output.empty():
            out.append(self.output.get())
        return "".join(out)
