"""A load-test run against the simulator, traced to a collector: its TBT and TTFT fits
against the simulator's configured capacity model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from analytics import Filters, load_fits
from collector import Store
from tests.collector.conftest import LiveCollector, count, start_collector, wait_until
from tests.loadtest.conftest import GateRun, run_gate, start_simulator

__all__ = ["run_gate", "start_collector"]  # fixtures used by name below

TBT_BASE_MS, TBT_SLOPE_MS, PREFILL_MS = 4.0, 2.0, 10.0


def test_fits_of_a_ramp_recover_the_simulators_capacity_model(
    store: Store,
    start_collector: Callable[..., LiveCollector],
    run_gate: Callable[..., GateRun],
    tmp_path: Path,
) -> None:
    collector = start_collector()
    simulator = start_simulator(
        "--max-batch", "32", "--tbt-base-ms", str(TBT_BASE_MS), "--tbt-slope-ms",
        str(TBT_SLOPE_MS), "--prefill-base-ms", str(PREFILL_MS), "--prefill-ms-per-token", "0",
        "--output-tokens", "24", tmp=tmp_path,
    )  # fmt: skip
    try:
        since = datetime.now(UTC) - timedelta(seconds=5)
        gate = run_gate(
            "--target", simulator.url, "--model", "sim", "--stages", "2:3,6:3,12:3",
            "--slo", "error_rate<50%", "--timeout", "10s", "--prompt-tokens", "16",
            env={"AGENTFLIGHT_ENDPOINT": collector.url},
        )  # fmt: skip
    finally:
        simulator.process.terminate()
        simulator.process.communicate(timeout=10)
    assert gate.report is not None, gate.stderr
    run_id = gate.report["run_id"]
    where = "loadtest_run_id = {r:String}"
    wait_until(lambda: count(store, where, "genai_spans", r=run_id) >= 60, what="load-test spans")
    until = datetime.now(UTC) + timedelta(seconds=1)
    fits = load_fits(store, since, until, Filters(loadtest_run=run_id))
    tbt = fits.filter(pl.col("metric") == "tbt_ms").row(0, named=True)
    ttft = fits.filter(pl.col("metric") == "ttft_ms").row(0, named=True)
    assert tbt["source"] == "loadtest" and tbt["loadtest_run_id"] == run_id
    assert tbt["concurrency_hi"] >= 10  # the ramp reached 12 users
    # Below max_batch a decode step is tbt_base + tbt_slope x (sequences in the batch):
    # the fitted slope is the configured one (client timing adds noise, not slope).
    lo, hi = tbt["slope_ci95_lo"], tbt["slope_ci95_hi"]
    assert abs(tbt["slope_ms_per_concurrent"] - TBT_SLOPE_MS) <= 0.25 * TBT_SLOPE_MS, (lo, hi)
    assert abs(tbt["intercept_ms"] - TBT_BASE_MS) <= 3.0
    # No queue below max_batch: TTFT (prefill + first step) hardly grows with load.
    assert abs(ttft["slope_ms_per_concurrent"]) < TBT_SLOPE_MS
