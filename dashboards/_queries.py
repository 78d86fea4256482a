"""The reads a page needs that ``analytics`` does not give: filter choices, a page of traces,
one trace's typed timings, the stored load-test runs (``loadtest_runs``, written by
``agentflight loadtest``) and replay runs (``replay_runs``, written by ``replay``). Each is
bounded (a LIMIT, or one trace's time span) and bound server-side, through
:class:`collector.Store`.

The trace list selects traces as every figure selects spans (docs/analytics.md, "Window
and filters"): a trace is listed when it has a span in the window; without a load-test run
only production traces are listed (not load tests, not replays), with one only that run's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collector import Store

__all__ = [
    "LOADTEST_COLUMNS",
    "REPLAY_COLUMNS",
    "TRACE_STATUSES",
    "TracePage",
    "filter_choices",
    "list_traces",
    "loadtest_report",
    "loadtest_runs",
    "replay_runs",
    "span_timings",
]

TRACE_STATUSES = ("Ok", "Error", "Unset")
_CHOICES = 200
_EPOCH_NS = 1_000_000_000
_MODEL = "if(request_model != '', request_model, response_model)"

_CHOICES_SQL = f"""
SELECT groupUniqArray({_CHOICES})(project) AS choice_project,
       groupUniqArray({_CHOICES})(service_name) AS choice_service,
       groupUniqArrayIf({_CHOICES})({_MODEL}, {_MODEL} != ''
           AND operation NOT IN ('invoke_agent', 'execute_tool', 'route')) AS choice_model,
       groupUniqArrayIf({_CHOICES})(agent_name, operation = 'invoke_agent' AND agent_name != '')
           AS choice_agent,
       groupUniqArrayIf({_CHOICES})(loadtest_run_id, loadtest_run_id != '') AS choice_loadtest_run
FROM {{db:Identifier}}.genai_spans
WHERE timestamp >= fromUnixTimestamp64Nano({{since_ns:Int64}})
  AND timestamp < fromUnixTimestamp64Nano({{until_ns:Int64}})
  AND ({{project:String}} = '' OR project = {{project:String}})
"""

_WINDOW = """timestamp >= fromUnixTimestamp64Nano({since_ns:Int64})
  AND timestamp < fromUnixTimestamp64Nano({until_ns:Int64})
  AND ({project:String} = '' OR project = {project:String})
  AND loadtest_run_id = {loadtest_run:String}
  AND replay_run_id = ''"""
_STATUS = """multiIf(countIf(status_code = 'Error') > 0, 'Error',
               countIf(status_code = 'Ok') > 0, 'Ok', 'Unset')"""

# Which traces, newest first: one light aggregate per trace (its start), the filters on it.
_PAGE_SQL = (
    """
SELECT trace_id, toUnixTimestamp64Nano(min(timestamp)) AS start_ns
FROM {db:Identifier}.genai_spans
WHERE """
    + _WINDOW
    + """
GROUP BY trace_id
HAVING ({service:String} = '' OR countIf(service_name = {service:String}) > 0)
   AND ({model:String} = ''
        OR countIf(request_model = {model:String} OR response_model = {model:String}) > 0)
   AND ({agent:String} = '' OR countIf(agent_name = {agent:String}) > 0)
   AND ({status:String} = '' OR """
    + _STATUS
    + """ = {status:String})
   AND (start_ns, trace_id) < ({before_ns:Int64}, {before_id:String})
ORDER BY start_ns DESC, trace_id DESC
LIMIT {limit:UInt32}
"""
)

# What the list shows of those traces (their spans in the window).
_SUMMARY_SQL = (
    f"""
SELECT trace_id,
       toUnixTimestamp64Nano(min(timestamp)) AS start_ns,
       max(toUnixTimestamp64Nano(timestamp) + toInt64(duration_ms * 1e6)) AS end_ns,
       count() AS spans,
       argMinIf(span_name, timestamp, parent_span_id = '') AS root_span,
       arraySort(groupUniqArray(service_name)) AS services,
       {_STATUS} AS status,
       arraySort(arrayFilter(x -> x != '', groupUniqArray({_MODEL}))) AS models,
       arraySort(arrayFilter(x -> x != '', groupUniqArray(agent_name))) AS agents,
       sum(input_tokens) AS total_input_tokens,
       sum(output_tokens) AS total_output_tokens,
       any(project) AS trace_project
FROM {{db:Identifier}}.genai_spans
WHERE """
    + _WINDOW
    + """ AND trace_id IN {ids:Array(String)}
GROUP BY trace_id
"""
)

_TIMINGS_SQL = f"""
SELECT span_id, operation, {_MODEL} AS model, agent_name, skill_name, route_name,
       route_target, streamed, ttft_ms, tbt_mean_ms, tbt_p50_ms, tbt_p95_ms, tbt_max_ms,
       tbt_count, chunk_count, input_tokens, output_tokens, reasoning_tokens, cached_tokens,
       finish_reason, waste_cause, timeout_ms, timed_out, inflight
FROM {{db:Identifier}}.genai_spans
WHERE trace_id = {{trace_id:String}}
  AND timestamp >= fromUnixTimestamp64Nano({{since_ns:Int64}})
  AND timestamp <= fromUnixTimestamp64Nano({{until_ns:Int64}})
  AND ({{project:String}} = '' OR project = {{project:String}})
"""


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * _EPOCH_NS + moment.microsecond * 1000


def filter_choices(
    store: Store, since: datetime, until: datetime, project: str = ""
) -> dict[str, list[str]]:
    """The values each shared filter can take in the window (up to 200 each, sorted)."""
    params = {"since_ns": _ns(since), "until_ns": _ns(until), "project": project}
    result = store.query(_CHOICES_SQL, params)
    row = dict(zip(result.column_names, result.result_rows[0], strict=True))
    return {
        key.removeprefix("choice_"): sorted(str(v) for v in values) for key, values in row.items()
    }


@dataclass(frozen=True, slots=True)
class TracePage:
    traces: list[dict[str, Any]]
    """Newest first: ``trace_id, start_ns, end_ns, spans, root_span, services, status,
    models, agents, total_input_tokens, total_output_tokens, trace_project``."""
    more: bool
    """Whether older traces match too (fetch them with ``before`` = the last trace)."""


def list_traces(
    store: Store,
    since: datetime,
    until: datetime,
    *,
    project: str = "",
    service: str = "",
    model: str = "",
    agent: str = "",
    loadtest_run: str = "",
    status: str = "",
    limit: int = 50,
    before: tuple[int, str] | None = None,
) -> TracePage:
    """One page of the traces with a span in the window, newest first (by their first span
    in the window), summarised from their spans in the window.

    ``before`` (``(start_ns, trace_id)`` of the last trace of the previous page) pages on.
    """
    if not 1 <= limit <= 1000:
        raise ValueError(f"limit must be between 1 and 1000, got {limit}")
    if status and status not in TRACE_STATUSES:
        raise ValueError(f"status must be one of {', '.join(TRACE_STATUSES)}, got {status!r}")
    before_ns, before_id = before or (2**63 - 1, "")
    params = {
        "since_ns": _ns(since),
        "until_ns": _ns(until),
        "project": project,
        "service": service,
        "model": model,
        "agent": agent,
        "loadtest_run": loadtest_run,
        "status": status,
        "before_ns": before_ns,
        "before_id": before_id,
        "limit": limit + 1,
    }
    page = store.query(_PAGE_SQL, params).result_rows
    ids = [str(trace_id) for trace_id, _ in page[:limit]]
    if not ids:
        return TracePage([], False)
    result = store.query(_SUMMARY_SQL, params | {"ids": ids})
    found = {r[0]: dict(zip(result.column_names, r, strict=True)) for r in result.result_rows}
    return TracePage([found[i] for i in ids if i in found], len(page) > limit)


def span_timings(
    store: Store, trace_id: str, start_ns: int, end_ns: int, project: str = ""
) -> dict[str, dict[str, Any]]:
    """The typed columns of one trace's spans (``genai_spans``), by span id.

    ``start_ns``/``end_ns`` bound the trace's start times (from its raw spans), so the read
    touches one trace's parts only.
    """
    params = {
        "trace_id": trace_id,
        "since_ns": start_ns,
        "until_ns": end_ns,
        "project": project,
    }
    result = store.query(_TIMINGS_SQL, params)
    names = result.column_names
    return {row[0]: dict(zip(names, row, strict=True)) for row in result.result_rows}


LOADTEST_COLUMNS = (
    "run_id",
    "started_at",
    "duration_s",
    "shape",
    "search",
    "target",
    "model",
    "verdict",
    "stages",
    "requests",
    "capacity_users",
    "capacity_value",
    "slo",
)
# With a project (API keys), a run is the project's when its spans are.
_RUNS_SQL = f"""
SELECT {", ".join(LOADTEST_COLUMNS)}
FROM {{db:Identifier}}.loadtest_runs FINAL
WHERE started_at >= fromUnixTimestamp64Nano({{since_ns:Int64}})
  AND started_at < fromUnixTimestamp64Nano({{until_ns:Int64}})
  AND ({{project:String}} = '' OR run_id IN (
        SELECT DISTINCT loadtest_run_id FROM {{db:Identifier}}.genai_spans
        WHERE project = {{project:String}} AND loadtest_run_id != ''))
ORDER BY started_at DESC, run_id
LIMIT {{limit:UInt32}}
"""
_REPORT_SQL = """
SELECT report
FROM {db:Identifier}.loadtest_runs FINAL
WHERE run_id = {run_id:String}
  AND ({project:String} = '' OR run_id IN (
        SELECT DISTINCT loadtest_run_id FROM {db:Identifier}.genai_spans
        WHERE project = {project:String} AND loadtest_run_id = {run_id:String}))
LIMIT 1
"""


def loadtest_runs(
    store: Store, since: datetime, until: datetime, project: str = "", limit: int = 50
) -> list[dict[str, Any]]:
    """The stored load-test runs (``loadtest_runs``) started in the window, latest first."""
    params = {"since_ns": _ns(since), "until_ns": _ns(until), "project": project, "limit": limit}
    result = store.query(_RUNS_SQL, params)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def loadtest_report(store: Store, run_id: str, project: str = "") -> dict[str, Any] | None:
    """One run's JSON report as stored, or None."""
    rows = store.query(_REPORT_SQL, {"run_id": run_id, "project": project}).result_rows
    if not rows:
        return None
    report = json.loads(rows[0][0])
    return report if isinstance(report, dict) else None


REPLAY_COLUMNS = (
    "run_id",
    "created_at",
    "agent",
    "traces",
    "passed",
    "route_agreement",
    "mean_similarity",
    "tokens_delta_pct",
    "cost_delta_pct",
    "p95_latency_delta_pct",
    "divergences",
    "errors",
    "settings",
)
# With a project (API keys), a run is the project's when it replayed that project's traces.
_REPLAYS_SQL = f"""
SELECT {", ".join(REPLAY_COLUMNS)}
FROM {{db:Identifier}}.replay_runs FINAL
WHERE created_at >= fromUnixTimestamp64Nano({{since_ns:Int64}})
  AND created_at < fromUnixTimestamp64Nano({{until_ns:Int64}})
  AND ({{project:String}} = '' OR JSONExtractString(settings, 'project') = {{project:String}})
ORDER BY created_at DESC, run_id
LIMIT {{limit:UInt32}}
"""


def replay_runs(
    store: Store, since: datetime, until: datetime, project: str = "", limit: int = 50
) -> list[dict[str, Any]]:
    """The stored replay runs (``replay_runs``) created in the window, latest first;
    ``settings`` parsed."""
    params = {"since_ns": _ns(since), "until_ns": _ns(until), "project": project, "limit": limit}
    result = store.query(_REPLAYS_SQL, params)
    rows = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
    for row in rows:
        try:
            row["settings"] = json.loads(row["settings"])
        except ValueError:
            row["settings"] = {}
    return rows
