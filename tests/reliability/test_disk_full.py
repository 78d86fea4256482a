"""The spool's disk fills: the collector refuses (503) what it cannot keep, and recovers.

Guarantee: the collector never acknowledges a request it could not make durable; when the
disk has room again, it accepts again, and everything it acknowledged is stored once.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector import Store
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

FS_BYTES = 8 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A filesystem of its own for the spool: an 8 MiB tmpfs (needs root, as CI has)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={FS_BYTES}", "tmpfs", str(mount)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, f"cannot mount a tmpfs (root needed): {result.stderr}"
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_a_503_not_a_lost_span(store: Store, small_disk: Path) -> None:
    total = scale(6_000, 60_000)
    env = {
        "AGENTFLIGHT_CLICKHOUSE_URL": store.url,
        "AGENTFLIGHT_DATABASE": store.database,
        "AGENTFLIGHT_BATCH_INTERVAL_MS": "200",
    }
    filler = small_disk / "filler"
    # Leave ~150 KB: enough to start, not enough for the load below.
    with open(filler, "wb") as file:
        file.write(b"\0" * (FS_BYTES - 150 * 1024))
    collector = CollectorProcess.start(small_disk / "spool", env)
    exporter = Exporter(lambda: collector.url, spans_per_request=50)
    stop = threading.Event()
    workers = exporter.run(2, total, stop)
    try:
        wait_for(lambda: exporter.statuses.get(503, 0) >= 5, 120, "the disk to fill")
        refused_while_full = exporter.statuses.get(503, 0)
        acked_while_full = len(exporter.acked)
        os.unlink(filler)  # room again
        for worker in workers:
            worker.join(300)
        wait_for(lambda: stored_counts(store)[1] >= len(exporter.acked), 120, "everything stored")
        rss = peak_rss_mib(collector.process.pid)
    finally:
        stop.set()
        collector.stop()
    rows, distinct = stored_counts(store)
    lost = len(exporter.acked - stored_ids(store))
    Row("spool disk full", f"{total:,} spans, 2 exporters",
        f"tmpfs full ({refused_while_full} x 503), then freed", len(exporter.sent),
        len(exporter.acked), distinct, lost, rows - distinct, rss).record()  # fmt: skip
    assert refused_while_full >= 5 and acked_while_full < total
    assert len(exporter.acked) >= total  # it recovered
    assert set(exporter.statuses) <= {200, 503}  # refusals, never a 500
    assert exporter.retry_after_missing == 0
    assert lost == 0 and rows == distinct
