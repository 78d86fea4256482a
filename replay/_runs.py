"""Stored replay runs (migration 0007): ``replay_runs`` and ``replay_traces``."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from collector import Store

from ._errors import ReplayInputError
from ._failif import parse_fail_if
from ._report import RunReport

__all__ = ["load_run", "save_run"]

_RUN_COLUMNS = (
    "run_id", "created_at", "finished_at", "agent", "traces", "passed", "fail_if",
    "failed_conditions", "route_agreement", "mean_similarity", "tokens_delta_pct",
    "cost_delta_pct", "p95_latency_delta_pct", "divergences", "errors", "settings", "summary",
)  # fmt: skip
_TRACE_COLUMNS = (
    "run_id", "trace_id", "replay_trace_id", "status", "mode", "route_changed", "similarity",
    "tokens_delta", "cost_delta_usd", "latency_delta_ms", "ttft_delta_ms", "divergences",
    "errors", "detail",
)  # fmt: skip


def _time(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC)


def save_run(store: Store, report: RunReport) -> None:
    """Store a finished run and its traces."""
    s = report.summary
    run_row = [
        report.run_id, _time(report.created_ns), _time(time.time_ns()),
        str(report.settings.get("agent") or ""), s["traces"], report.passed,
        [c.text for c in report.conditions], report.failed_conditions, s["route_agreement"],
        s["mean_similarity"], s["tokens_delta_pct"], s["cost_delta_pct"],
        s["p95_latency_delta_pct"], s["divergences"], s["errors"],
        json.dumps(report.settings, default=str), json.dumps(s),
    ]  # fmt: skip
    trace_rows = []
    for result in report.results:
        record = result.to_json()
        trace_rows.append(
            [
                report.run_id, result.trace_id, result.replay_trace_id, result.status,
                result.mode, result.route_changed, result.similarity, result.tokens_delta,
                result.cost_delta_usd, result.latency_delta_ms, result.ttft_delta_ms,
                len(result.divergences), len(result.errors),
                json.dumps(record, default=str, ensure_ascii=False),
            ]
        )  # fmt: skip
    client, database = store.client, store.database
    if trace_rows:
        client.insert("replay_traces", trace_rows, column_names=list(_TRACE_COLUMNS),
                      database=database)  # fmt: skip
    client.insert("replay_runs", [run_row], column_names=list(_RUN_COLUMNS), database=database)


def load_run(store: Store, run_id: str) -> RunReport:
    """A stored run, as it was reported; ``ReplayInputError`` if there is none."""
    result = store.query(
        "SELECT run_id, toUnixTimestamp64Nano(created_at), fail_if, settings, summary "
        "FROM {db:Identifier}.replay_runs FINAL WHERE run_id = {run_id:String}",
        {"run_id": run_id.strip()},
    )
    if not result.result_rows:
        raise ReplayInputError(f"no replay run {run_id!r} in the database")
    run, created, fail_if, settings, summary = result.result_rows[0]
    details = store.query(
        "SELECT detail FROM {db:Identifier}.replay_traces FINAL "
        "WHERE run_id = {run_id:String} ORDER BY trace_id",
        {"run_id": run},
    ).result_rows
    traces: list[dict[str, Any]] = [json.loads(row[0]) for row in details]
    return RunReport(
        run_id=str(run),
        settings=json.loads(settings),
        conditions=parse_fail_if(",".join(fail_if)),
        summary=json.loads(summary),
        created_ns=int(created),
        traces_json=traces,
    )
