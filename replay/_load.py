"""Loading recorded traces through the collector's store: spans from ``genai_spans``, content
from ``genai_content`` (by key), error messages from the ``StatusMessage`` column alone."""

from __future__ import annotations

import re
from typing import Any

from collector import Store

from ._errors import ReplayInputError
from ._model import TraceTree, step_from_row

__all__ = ["is_trace_id", "load_trace", "load_traces", "select_traces"]

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")

# The trace-id -> start-time lookup bounds the scan of the time-partitioned tables.
# Many traces at once (a batch): one query for their spans, one for their content.
_SPANS_SQL = """
SELECT trace_id, toUnixTimestamp64Nano(timestamp) AS start_ns, span_id, parent_span_id,
       service_name, span_name, project, operation, request_model, response_model, agent_name,
       route_name, route_target, skill_name, status_code, error_type, duration_ms, streamed,
       ttft_ms, tbt_mean_ms, input_tokens, output_tokens, reasoning_tokens, cached_tokens,
       replay_of
FROM {db:Identifier}.genai_spans
WHERE trace_id IN {ids:Array(String)}
  AND timestamp >= (SELECT min(Start) FROM {db:Identifier}.otel_traces_trace_id_ts
                    WHERE TraceId IN {ids:Array(String)})
  AND ({project:String} = '' OR project = {project:String})
ORDER BY trace_id, timestamp, span_id
LIMIT 1 BY trace_id, span_id
"""

_CONTENT_SQL = """
SELECT trace_id, span_id, input, output, input_messages, output_messages, system_instructions,
       tool_definitions, display_input, display_output, truncated, attributes
FROM {db:Identifier}.genai_content FINAL
WHERE trace_id IN {ids:Array(String)}
  AND ({project:String} = '' OR project = {project:String})
"""

_ERRORS_SQL = """
SELECT TraceId, SpanId, StatusMessage
FROM {db:Identifier}.otel_traces
WHERE TraceId IN {ids:Array(String)} AND StatusCode = 'Error'
  AND Timestamp >= (SELECT min(Start) FROM {db:Identifier}.otel_traces_trace_id_ts
                    WHERE TraceId IN {ids:Array(String)})
"""

_SELECT_SQL = """
SELECT trace_id, min(timestamp) AS started
FROM {db:Identifier}.genai_spans
WHERE operation = 'invoke_agent' AND agent_name = {agent:String}
  AND timestamp >= fromUnixTimestamp64Nano({since_ns:Int64})
  AND ({service:String} = '' OR service_name = {service:String})
  AND ({project:String} = '' OR project = {project:String})
  AND ({include_replays:UInt8} = 1 OR replay_of = '')
GROUP BY trace_id
ORDER BY started DESC
LIMIT {limit:UInt32}
"""


def is_trace_id(text: str) -> bool:
    """Whether ``text`` is a trace id as stored: 32 lowercase hex digits."""
    return bool(_TRACE_ID.match(text))


def load_trace(store: Store, trace_id: str, project: str | None = None) -> TraceTree:
    """One recorded trace as steps; ``ReplayInputError`` if the id is malformed or unknown."""
    trace_id = trace_id.strip().lower()
    if not is_trace_id(trace_id):
        raise ReplayInputError(f"{trace_id!r} is not a trace id (32 hexadecimal digits)")
    found = load_traces(store, [trace_id], project)
    if trace_id not in found:
        where = f" in project {project!r}" if project else ""
        raise ReplayInputError(f"no trace {trace_id}{where} in the database")
    return found[trace_id]


def _rows(store: Store, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = store.query(sql, params)
    names = result.column_names
    return [dict(zip(names, row, strict=True)) for row in result.result_rows]


def load_traces(
    store: Store, trace_ids: list[str], project: str | None = None
) -> dict[str, TraceTree]:
    """The recorded traces among ``trace_ids`` (unknown ids are left out), in two queries
    (three when a span failed: its error message)."""
    params: dict[str, Any] = {"ids": list(trace_ids), "project": project or ""}
    spans: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(store, _SPANS_SQL, params):
        spans.setdefault(row["trace_id"], []).append(row)
    if not spans:
        return {}
    content: dict[tuple[str, str], dict[str, Any]] = {
        (row["trace_id"], row["span_id"]): row for row in _rows(store, _CONTENT_SQL, params)
    }
    trees = {}
    failed = False
    for trace_id, rows in spans.items():
        steps = [step_from_row(row, content.get((trace_id, row["span_id"]))) for row in rows]
        failed = failed or any(step.failed for step in steps)
        project_name, service = str(rows[0]["project"]), str(rows[0]["service_name"])
        trees[trace_id] = TraceTree(trace_id, steps, project_name, service)
    if failed:
        messages = {
            (str(t), str(s)): str(m) for t, s, m in store.query(_ERRORS_SQL, params).result_rows
        }
        for trace_id, tree in trees.items():
            for step in tree.steps:
                step.error_message = messages.get((trace_id, step.span_id), "")
    return trees


def select_traces(
    store: Store,
    agent: str,
    *,
    since_ns: int,
    limit: int,
    service: str | None = None,
    project: str | None = None,
    include_replays: bool = False,
) -> list[str]:
    """Recorded runs of ``agent`` started since ``since_ns``, newest first (never replays,
    unless ``include_replays``)."""
    params = {
        "agent": agent,
        "since_ns": since_ns,
        "limit": limit,
        "service": service or "",
        "project": project or "",
        "include_replays": int(include_replays),
    }
    return [str(row[0]) for row in store.query(_SELECT_SQL, params).result_rows]
