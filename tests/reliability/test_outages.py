"""ClickHouse killed under load, the collector restarted under load: nothing acknowledged lost.

Guarantee: every span the collector answered 200 is stored exactly once, whatever happens to
ClickHouse, and whether the collector is stopped (SIGTERM: it drains) or killed (SIGKILL: its
spool is replayed at the next start).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector import Store, embedded
from tests.collector.conftest import CollectorProcess
from tests.reliability.harness import (
    Exporter,
    Row,
    peak_rss_mib,
    scale,
    stored_counts,
    stored_ids,
    wait_for,
)


@pytest.fixture
def own_clickhouse(tmp_path: Path) -> Iterator[tuple[Path, embedded.ServerInfo]]:
    data_dir = tmp_path / "clickhouse"
    info, _ = embedded.start(data_dir, port=0)
    yield data_dir, info
    embedded.stop(data_dir)


def collector_env(url: str, database: str) -> dict[str, str]:
    return {
        "AGENTFLIGHT_CLICKHOUSE_URL": url,
        "AGENTFLIGHT_DATABASE": database,
        "AGENTFLIGHT_BATCH_ROWS": "5000",
        "AGENTFLIGHT_BATCH_INTERVAL_MS": "200",
    }


def test_clickhouse_killed_twice_during_ingest(
    own_clickhouse: tuple[Path, embedded.ServerInfo], tmp_path: Path
) -> None:
    data_dir, info = own_clickhouse
    total = scale(12_000, 200_000)
    store = Store.connect(info.dsn, database="outage")
    collector = CollectorProcess.start(tmp_path / "spool", collector_env(info.dsn, "outage"))
    exporter = Exporter(lambda: collector.url)
    stop = threading.Event()
    workers = exporter.run(4, total, stop)
    try:
        for fraction in (0.25, 0.6):  # kill ClickHouse at a quarter and at 60 %
            wait_for(lambda f=fraction: len(exporter.acked) >= f * total, 300, "ingest")
            os.kill(info.pid, signal.SIGKILL)
            wait_for(lambda: embedded.status(data_dir) is None, 30, "ClickHouse to die")
            time.sleep(1.5)  # down for a while: the collector keeps accepting into its spool
            info, _ = embedded.start(data_dir, port=info.port)
        for worker in workers:
            worker.join(600)
        wait_for(lambda: stored_counts(store)[1] >= len(exporter.acked), 300, "the spool drain")
        rss = peak_rss_mib(collector.process.pid)
    finally:
        stop.set()
        collector.stop()
    rows, distinct = stored_counts(store)
    lost = len(exporter.acked - stored_ids(store))
    Row("ClickHouse SIGKILLed twice", f"{total:,} spans, 4 exporters", "2 x SIGKILL + restart",
        len(exporter.sent), len(exporter.acked), distinct, lost, rows - distinct,
        rss).record()  # fmt: skip
    assert lost == 0 and rows == distinct
    assert stored_counts(store, "genai_spans") == (distinct, distinct)
    store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_collector_stopped_and_killed_during_ingest(store: Store, tmp_path: Path) -> None:
    total = scale(12_000, 100_000)
    port = free_port()
    env = collector_env(store.url, store.database)
    spool = tmp_path / "spool"
    current = [CollectorProcess.start(spool, env, port=port)]
    exporter = Exporter(lambda: current[0].url)
    stop = threading.Event()
    workers = exporter.run(4, total, stop)
    peaks = []
    try:
        wait_for(lambda: len(exporter.acked) >= total * 0.3, 300, "ingest")
        peaks.append(peak_rss_mib(current[0].process.pid))
        assert current[0].stop(signal.SIGTERM) == 0  # drains, then exits
        current[0] = CollectorProcess.start(spool, env, port=port)
        wait_for(lambda: len(exporter.acked) >= total * 0.6, 300, "ingest")
        current[0].stop(signal.SIGKILL)  # no drain: the spool has it
        current[0] = CollectorProcess.start(spool, env, port=port)
        for worker in workers:
            worker.join(600)
        wait_for(lambda: stored_counts(store)[1] >= len(exporter.acked), 300, "the replay")
        peaks.append(peak_rss_mib(current[0].process.pid))
    finally:
        stop.set()
        current[0].stop()
    rows, distinct = stored_counts(store)
    lost = len(exporter.acked - stored_ids(store))
    Row("collector SIGTERM, then SIGKILL", f"{total:,} spans, 4 exporters",
        "SIGTERM + restart, SIGKILL + restart", len(exporter.sent), len(exporter.acked), distinct,
        lost, rows - distinct, max(peaks)).record()  # fmt: skip
    assert lost == 0
    # A request whose answer the kill cut off is sent again: stored twice, by design (OTLP
    # clients retry what was not acknowledged). At most the 4 requests then in flight.
    assert rows - distinct <= 4 * exporter.spans_per_request
    assert distinct <= len(exporter.sent)
