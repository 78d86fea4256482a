"""Loading recorded traces through the collector's store: spans from ``genai_spans``, content
from ``genai_content`` (by key), error messages from the ``StatusMessage`` column alone."""

from __future__ import annotations

import re
from typing import Any

from collector import Store

from ._errors import ReplayInputError
from ._model import TraceTree, step_from_row

__all__ = ["is_trace_id", "load_trace", "select_traces"]

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")

# The trace-id -> start-time lookup bounds the scan of the time-partitioned tables.
_SINCE_START = """timestamp >= (SELECT min(Start) FROM {db:Identifier}.otel_traces_trace_id_ts
                    WHERE TraceId = {trace_id:String})"""

_SPANS_SQL = f"""
SELECT toUnixTimestamp64Nano(timestamp) AS start_ns, span_id, parent_span_id, service_name,
       span_name, project, operation, request_model, response_model, agent_name, route_name,
       route_target, skill_name, status_code, error_type, duration_ms, streamed, ttft_ms,
       tbt_mean_ms, input_tokens, output_tokens, reasoning_tokens, cached_tokens, replay_of
FROM {{db:Identifier}}.genai_spans
WHERE trace_id = {{trace_id:String}} AND {_SINCE_START}
  AND ({{project:String}} = '' OR project = {{project:String}})
ORDER BY timestamp, span_id
LIMIT 1 BY span_id
"""

_ERRORS_SQL = """
SELECT SpanId, StatusMessage
FROM {db:Identifier}.otel_traces
WHERE TraceId = {trace_id:String} AND StatusCode = 'Error'
  AND Timestamp >= (SELECT min(Start) FROM {db:Identifier}.otel_traces_trace_id_ts
                    WHERE TraceId = {trace_id:String})
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
    params: dict[str, Any] = {"trace_id": trace_id, "project": project or ""}
    result = store.query(_SPANS_SQL, params)
    rows = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
    if not rows:
        where = f" in project {project!r}" if project else ""
        raise ReplayInputError(f"no trace {trace_id}{where} in the database")
    content = store.trace_content(trace_id, project)
    steps = [step_from_row(row, content.get(row["span_id"])) for row in rows]
    if any(step.failed for step in steps):
        messages = {str(r[0]): str(r[1]) for r in store.query(_ERRORS_SQL, params).result_rows}
        for step in steps:
            step.error_message = str(messages.get(step.span_id, ""))
    return TraceTree(trace_id, steps, str(rows[0]["project"]), str(rows[0]["service_name"]))


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
