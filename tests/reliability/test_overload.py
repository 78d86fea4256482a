"""Overload: Locust at about five times what the collector sustains, measured in the same run.

Guarantee: past its capacity the collector answers 503 with ``Retry-After`` (backpressure),
never another 5xx; its memory stays under the documented bound; and once the load stops,
everything its clients were told was accepted is stored, once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from collector import Store
from tests.collector.conftest import CollectorProcess
from tests.conftest import REPO_ROOT
from tests.reliability.harness import (
    Exporter,
    Row,
    peak_rss_mib,
    scale,
    stored_counts,
    stored_ids,
    wait_for,
)

DOCUMENTED_RSS_BOUND_MIB = 850  # docs/collector.md, "Limits and the memory bound"


def test_five_times_the_sustainable_rate(store: Store, tmp_path: Path) -> None:
    env = {"AGENTFLIGHT_CLICKHOUSE_URL": store.url, "AGENTFLIGHT_DATABASE": store.database,
           "AGENTFLIGHT_QUEUE_MAX_ROWS": "20000"}  # fmt: skip
    collector = CollectorProcess.start(tmp_path / "spool", env)
    try:
        # What it sustains: four exporters in a closed loop, each waiting for its answer,
        # once the collector is warm (connected to ClickHouse, schema checked).
        warm = Exporter(lambda: collector.url)
        warm.send_until(lambda: bool(warm.acked), threading.Event())
        measure_s = scale(4, 30)
        probe = Exporter(lambda: collector.url)
        stop = threading.Event()
        started = time.monotonic()
        workers = probe.run(4, 10**9, stop)
        time.sleep(measure_s)
        stop.set()
        for worker in workers:
            worker.join(60)
        sustainable = len(probe.acked) / (time.monotonic() - started)  # spans/s
        wait_for(lambda: stored_counts(store)[1] >= len(probe.acked), 120, "the probe's spans")
        offered = 5 * sustainable
        seconds = scale(5, 120)
        done = subprocess.run(
            [sys.executable, "-m", "tests.reliability.overload_locust", collector.url,
             str(offered / 100), str(seconds)],
            capture_output=True, text=True, timeout=seconds + 600, cwd=REPO_ROOT,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        acked = set(seen["acked"]) | probe.acked | warm.acked
        wait_for(lambda: stored_counts(store)[1] >= len(acked), 300, "everything acknowledged")
        rss = peak_rss_mib(collector.process.pid)
    finally:
        collector.stop()
    statuses = {int(code): n for code, n in seen["statuses"].items()}
    rows, distinct = stored_counts(store)
    lost = len(acked - stored_ids(store))
    Row("overload (Locust)", f"{offered:,.0f} spans/s = 5 x {sustainable:,.0f} sustained",
        f"{statuses.get(503, 0):,} x 503", "-", len(acked), distinct, lost, rows - distinct,
        rss).record()  # fmt: skip
    assert statuses.get(503, 0) > 0, statuses  # it did push back
    assert set(statuses) <= {200, 503}, statuses  # and nothing else went wrong
    assert seen["missing_retry_after"] == 0
    assert rss < DOCUMENTED_RSS_BOUND_MIB
    assert lost == 0 and rows == distinct
