"""Every run kept: load-test reports in the ``loadtest_runs`` table (migration 0008).

A run's report is stored whole (JSON) with the figures a list needs in columns of their own,
so ``agentflight loadtest list`` reads a few columns and ``show`` one row. Reports go through
the collector's :class:`~collector.Store`, the one ClickHouse client.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from collector import Store

__all__ = ["LIST_COLUMNS", "find_run", "list_runs", "save_run"]

LIST_COLUMNS = (
    "run_id",
    "started_at",
    "duration_s",
    "shape",
    "search",
    "target",
    "model",
    "verdict",
    "exit_code",
    "stages",
    "requests",
    "capacity_users",
    "capacity_value",
    "slo",
)

_INSERT_COLUMNS = (*LIST_COLUMNS, "report")

_LIST_SQL = f"""
SELECT {", ".join(LIST_COLUMNS)}
FROM {{db:Identifier}}.loadtest_runs FINAL
ORDER BY started_at DESC, run_id
LIMIT {{limit:UInt32}}
"""

_FIND_SQL = """
SELECT run_id, report
FROM {db:Identifier}.loadtest_runs FINAL
WHERE startsWith(run_id, {prefix:String})
ORDER BY run_id
LIMIT 2
"""


def _row(report: dict[str, Any]) -> list[Any]:
    capacity = report.get("capacity") or {}
    stages = report.get("stages") or []
    return [
        str(report["run_id"]),
        datetime.fromtimestamp(float(report.get("started_at") or 0.0), UTC),
        float(report.get("duration_s") or 0.0),
        str(report.get("shape") or ""),
        str(capacity.get("metric") or ""),
        str(report.get("target") or ""),
        str(report.get("model") or ""),
        str(report.get("verdict") or ""),
        int(report.get("exit_code") or 0),
        len(stages),
        sum(int(stage.get("requests") or 0) for stage in stages),
        report.get("capacity_users"),
        None if capacity.get("value") is None else float(capacity["value"]),
        ",".join(report.get("slo") or []),
        json.dumps(report, separators=(",", ":")),
    ]


def save_run(store: Store, report: dict[str, Any]) -> None:
    """Store one run's report (a run stored twice keeps its latest report)."""
    store.client.insert(
        "loadtest_runs",
        [_row(report)],
        column_names=list(_INSERT_COLUMNS),
        database=store.database,
    )


def list_runs(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """The latest runs first, one dict of :data:`LIST_COLUMNS` each."""
    result = store.query(_LIST_SQL, {"limit": limit})
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def find_run(store: Store, run_id: str) -> dict[str, Any] | None:
    """The report of the run whose id is ``run_id`` or starts with it (when only one does).

    Raises ``LookupError`` when the prefix matches more than one run.
    """
    rows = store.query(_FIND_SQL, {"prefix": run_id}).result_rows
    exact = [row for row in rows if row[0] == run_id]
    if exact:
        rows = exact
    if len(rows) > 1:
        raise LookupError(f"run id {run_id!r} matches more than one run; give more of it")
    if not rows:
        return None
    report: dict[str, Any] = json.loads(rows[0][1])
    return report
