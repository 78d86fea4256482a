"""A real collector for the tests: uvicorn on a free loopback port, in a thread of the test.

It writes to the session's ClickHouse, into the ``store`` fixture's database of its own, with
a spool in the test's temporary directory.
"""

from __future__ import annotations

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
        collector: Collector = self.server.config.app.state.collector  # type: ignore[attr-defined]
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
