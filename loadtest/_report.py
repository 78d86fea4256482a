"""The gate's JSON report: one object per stage, and the verdict over all of them.

Shape (documented in ``docs/loadtest.md``)::

    {"passed": bool, "capacity_users": int | null, "stopped_early": bool, "run_id": str,
     "stages": [{"stage": 1, "users": 10, "requests": 812, "passed": true,
                 "ttft_ms": {"p50": .., "p95": .., "p99": ..}, "tbt_ms": {..}, "e2e_ms": {..},
                 "error_rate": 0.0, "timeout_rate": 0.0, "checks": [..], ...}], ...}
"""

from __future__ import annotations

from typing import Any

from loadtest._slo import Check
from loadtest._stats import StageStats

__all__ = ["build_report", "stage_report"]


def stage_report(stage: StageStats, checks: list[Check], *, users: int) -> dict[str, Any]:
    """One stage's entry: the issue's fields first, then details."""
    duration = stage.duration_s
    attainment = stage.attainment
    return {
        "stage": stage.index + 1,
        "users": users,
        "requests": stage.requests,
        "passed": all(check.passed for check in checks),
        "ttft_ms": stage.ttft.summary(),
        "tbt_ms": stage.tbt.summary(),
        "e2e_ms": stage.e2e.summary(),
        "error_rate": round(stage.error_rate, 6),
        "timeout_rate": round(stage.timeout_rate, 6),
        "success_only": {
            "ttft_ms": stage.ok_ttft.summary(),
            "tbt_ms": stage.ok_tbt.summary(),
            "e2e_ms": stage.ok_e2e.summary(),
        },
        "attainment": None if attainment is None else round(attainment, 6),
        "goodput_per_s": round(stage.conforming / duration, 3) if duration else None,
        "errors": stage.errors,
        "timeouts": stage.timeouts,
        "duration_s": round(duration, 3),
        "requests_per_s": round(stage.requests / duration, 3) if duration else None,
        "output_tokens_per_s": round(stage.output_tokens / duration, 3) if duration else None,
        "peak_inflight": stage.peak_inflight,
        "checks": [check.to_json() for check in checks],
        "error_samples": dict(stage.error_samples),
    }


def build_report(
    stages: list[dict[str, Any]],
    *,
    planned_stages: int,
    run: dict[str, Any],
    interrupted: bool = False,
    warnings: list[str] | None = None,
    capacity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The verdict: passed only if every planned stage ran and met every objective (for a
    capacity search: if the search found the capacity, see :mod:`loadtest._search`)."""
    if capacity is not None:
        found = capacity["value"] if capacity["metric"] == "concurrency" else None
        return {
            "passed": capacity["verdict"] == "passed" and not interrupted,
            "capacity_users": None if found is None else int(found),
            "stages": stages,
            "stopped_early": False,
            "interrupted": interrupted,
            "planned_stages": len(stages),
            **run,
            "capacity": capacity,
            "warnings": list(warnings or []),
        }
    passed_users = [s["users"] for s in stages if s["passed"]]
    failed = any(not s["passed"] for s in stages)
    passed = bool(stages) and not failed and not interrupted and len(stages) == planned_stages
    held = None
    for stage in stages:  # the highest stage before the first breach
        if not stage["passed"]:
            break
        held = stage["users"] if held is None else max(held, stage["users"])
    return {
        "passed": passed,
        "capacity_users": held if passed_users else None,
        "stages": stages,
        "stopped_early": failed and len(stages) < planned_stages,
        "interrupted": interrupted,
        "planned_stages": planned_stages,
        **run,
        "warnings": list(warnings or []),
    }


EXIT_CODES = {"passed": 0, "breached": 1, "interrupted": 1, "incomplete": 1, "inconclusive": 3}
"""Exit code of each verdict; 2 is bad input, before any load is sent."""


def verdict(report: dict[str, Any]) -> str:
    """``passed``, ``breached``, ``inconclusive`` (a capacity search only), ``interrupted``
    or ``incomplete`` (stopped before every stage ran)."""
    if report.get("interrupted"):
        return "interrupted"
    capacity = report.get("capacity")
    if capacity is not None:
        return str(capacity["verdict"])
    if report["passed"]:
        return "passed"
    if any(not stage["passed"] for stage in report["stages"]):
        return "breached"
    return "incomplete"
