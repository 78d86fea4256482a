"""Stored runs: the ``loadtest_runs`` table through the collector's store, read back whole."""

from __future__ import annotations

import time
from typing import Any

import pytest
from rich.console import Console

from collector import Store
from loadtest import find_run, list_runs, print_run, print_runs, save_run


def _report(run_id: str, started_at: float, **extra: Any) -> dict[str, Any]:
    stage = {
        "stage": 1,
        "users": 4,
        "requests": 40,
        "passed": True,
        "ttft_ms": {"p50": 10.0, "p95": 12.0, "p99": 13.0},
        "tbt_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0},
        "e2e_ms": {"p50": 20.0, "p95": 22.0, "p99": 23.0},
        "error_rate": 0.0,
        "timeout_rate": 0.0,
        "requests_per_s": 20.0,
        "checks": [{"slo": "ttft_p95<100ms", "observed": 12.0, "passed": True}],
    }
    return {
        "run_id": run_id,
        "passed": True,
        "capacity_users": 4,
        "stages": [stage],
        "stopped_early": False,
        "interrupted": False,
        "planned_stages": 1,
        "target": "http://127.0.0.1:8000/v1",
        "model": "m",
        "shape": "ramp",
        "slo": ["ttft_p95<100ms"],
        "timeout_s": 30.0,
        "started_at": started_at,
        "duration_s": 2.5,
        "warnings": [],
        "verdict": "passed",
        "exit_code": 0,
        "settings": {"model": "m"},
        **extra,
    }


def test_runs_are_stored_whole_listed_latest_first_and_found_by_prefix(store: Store) -> None:
    now = time.time() - 60
    older, newer = _report("aaaa1111", now - 3600), _report("aaab2222", now)
    capacity = {
        "metric": "concurrency",
        "value": 4,
        "tolerance": 1.0,
        "verdict": "passed",
        "upper": 5,
        "reached_max": False,
        "attainment_target": None,
        "levels": [{"level": 4, "verdict": "passed"}, {"level": 5, "verdict": "failed"}],
    }
    search = _report("bbbb3333", now - 60, capacity=capacity)
    for report in (older, newer, search):
        save_run(store, report)
    assert [run["run_id"] for run in list_runs(store)] == ["aaab2222", "bbbb3333", "aaaa1111"]
    assert [run["run_id"] for run in list_runs(store, limit=1)] == ["aaab2222"]
    row = next(run for run in list_runs(store) if run["run_id"] == "bbbb3333")
    assert (row["search"], row["capacity_value"], row["capacity_users"]) == ("concurrency", 4, 4)
    assert (row["stages"], row["requests"], row["verdict"], row["slo"]) == (
        1,
        40,
        "passed",
        "ttft_p95<100ms",
    )
    assert find_run(store, "aaaa1111") == older
    assert find_run(store, "bbbb") == search
    assert find_run(store, "zz") is None
    with pytest.raises(LookupError, match="more than one run"):
        find_run(store, "aaa")
    save_run(store, dict(older, verdict="breached"))  # stored again: the latest wins
    assert find_run(store, "aaaa1111")["verdict"] == "breached"  # type: ignore[index]
    assert len(list_runs(store)) == 3


def test_show_and_list_print_what_was_stored(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTFLIGHT_CLICKHOUSE_URL", store.url)
    monkeypatch.setenv("AGENTFLIGHT_DATABASE", store.database)
    capacity = {
        "metric": "rate",
        "value": 12.5,
        "tolerance": 1.25,
        "verdict": "passed",
        "upper": 14.0,
        "reached_max": False,
        "attainment_target": 0.99,
        "levels": [{"level": 12.5, "verdict": "passed"}, {"level": 14.0, "verdict": "failed"}],
    }
    save_run(store, _report("cccc4444", time.time() - 30, capacity=capacity))
    console = Console(record=True, width=200)
    print_run("cccc", console=console)
    shown = console.export_text()
    assert "load test cccc4444: ramp shape" in shown
    assert "levels measured: 12.5 ok, 14 failed" in shown
    assert "CAPACITY: 12.5 req/s, within 1.25 req/s; the SLO breaks at 14 req/s" in shown
    console = Console(record=True, width=200)
    print_runs(console=console)
    listed = console.export_text()
    assert "cccc4444" in listed and "12.5 req/s" in listed and "search rate" in listed
