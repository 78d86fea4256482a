"""The read API: traces of the caller's project, as a list or as one span tree.

* ``GET /api/traces?service=&since=&until=&status=&model=&agent=&limit=`` lists traces with a
  span in ``[since, until)`` (default: the last 24 hours), newest first;
* ``GET /api/traces/{trace_id}`` returns one trace as a tree of spans with attributes, events
  and timings; 404 when the caller's project has no such trace.

With API keys configured the caller's key decides the project. Without keys (a collector on
loopback) every project is visible, and ``?project=`` narrows it down.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from collector.auth import Authenticator, AuthError
from collector.store import Store

__all__ = ["read_router"]

log = logging.getLogger("agentflight.collector.read_api")

DEFAULT_WINDOW_S = 24 * 3600
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_STATUSES = {"ok": "Ok", "error": "Error", "unset": "Unset"}


def _time_ns(value: str | None, name: str, default_ns: int) -> int:
    """Unix seconds or an ISO 8601 time (UTC unless it says otherwise) as nanoseconds."""
    if value is None or not value.strip():
        return default_ns
    text = value.strip()
    try:
        return int(float(text) * 1e9)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(
            400, f"{name}={value!r} is neither unix seconds nor an ISO 8601 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _iso(ns: int) -> str:
    moment = dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 1_000_000_000:09d}Z"


def _span_node(row: dict[str, Any], trace_start: int) -> dict[str, Any]:
    start = int(row["start_ns"])
    duration = int(row["Duration"])
    events = [
        {
            "name": name,
            "time": _iso(int(ns)),
            "offset_ms": (int(ns) - start) / 1e6,
            "attributes": attrs,
        }
        for ns, name, attrs in zip(
            row["event_ns"], row["Events.Name"], row["Events.Attributes"], strict=True
        )
    ]
    links = [
        {"trace_id": t, "span_id": s, "trace_state": state, "attributes": attrs}
        for t, s, state, attrs in zip(
            row["Links.TraceId"],
            row["Links.SpanId"],
            row["Links.TraceState"],
            row["Links.Attributes"],
            strict=True,
        )
    ]
    return {
        "span_id": row["SpanId"],
        "parent_span_id": row["ParentSpanId"],
        "name": row["SpanName"],
        "kind": row["SpanKind"],
        "service": row["ServiceName"],
        "scope": {"name": row["ScopeName"], "version": row["ScopeVersion"]},
        "start": _iso(start),
        "end": _iso(start + duration),
        "start_unix_nano": start,
        "offset_ms": (start - trace_start) / 1e6,
        "duration_ms": duration / 1e6,
        "status": {"code": row["StatusCode"], "message": row["StatusMessage"]},
        "trace_state": row["TraceState"],
        "attributes": row["SpanAttributes"],
        "resource": row["ResourceAttributes"],
        "events": events,
        "links": links,
        "children": [],
    }


def span_tree(trace_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Spans as a tree: children under their parent, spans without one at the top."""
    start = min(int(r["start_ns"]) for r in rows)
    end = max(int(r["start_ns"]) + int(r["Duration"]) for r in rows)
    nodes = [_span_node(row, start) for row in rows]
    by_id = {node["span_id"]: node for node in nodes}
    roots = []
    for node in nodes:
        parent = by_id.get(node["parent_span_id"])
        if parent is not None and parent is not node:
            parent["children"].append(node)
        else:
            roots.append(node)
    return {
        "trace_id": trace_id,
        "project": rows[0]["project"],
        "start": _iso(start),
        "duration_ms": (end - start) / 1e6,
        "span_count": len(rows),
        "spans": roots,
    }


def read_router(store: Callable[[], Store], auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix="/api")

    def scope(request: Request, project: str | None) -> str | None:
        if not auth.required:
            return project or None
        try:
            return auth.project(request.headers)
        except AuthError as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None

    def run(query: Callable[[Store], Any]) -> Any:
        try:
            return query(store())
        except Exception as exc:  # the database, not the request, failed
            log.warning("read API query failed: %s", exc)
            raise HTTPException(503, "ClickHouse is unreachable; try again later") from None

    @router.get("/traces")
    def list_traces(
        request: Request,
        service: str | None = None,
        since: str | None = None,
        until: str | None = None,
        status: str | None = None,
        model: str | None = None,
        agent: str | None = None,
        limit: int = Query(50, ge=1, le=1000),
        project: str | None = None,
    ) -> dict[str, Any]:
        caller = scope(request, project)
        until_ns = _time_ns(until, "until", time.time_ns())
        since_ns = _time_ns(since, "since", until_ns - DEFAULT_WINDOW_S * 1_000_000_000)
        wanted = None
        if status:
            wanted = _STATUSES.get(status.strip().lower())
            if wanted is None:
                raise HTTPException(400, f"status={status!r}: use ok, error or unset")
        rows = run(
            lambda s: s.list_traces(
                since_ns=since_ns,
                until_ns=until_ns,
                project=caller,
                service=service,
                status=wanted,
                model=model,
                agent=agent,
                limit=limit,
            )
        )
        traces = [
            {
                "trace_id": r["trace_id"],
                "project": r["trace_project"],
                "start": _iso(int(r["start_ns"])),
                "duration_ms": (int(r["end_ns"]) - int(r["start_ns"])) / 1e6,
                "spans": int(r["spans"]),
                "root_span": r["root_span"],
                "services": list(r["services"]),
                "status": r["status"],
                "models": list(r["models"]),
                "agents": list(r["agents"]),
                "input_tokens": int(r["total_input_tokens"]),
                "output_tokens": int(r["total_output_tokens"]),
            }
            for r in rows
        ]
        return {"since": _iso(since_ns), "until": _iso(until_ns), "traces": traces}

    @router.get("/traces/{trace_id}")
    def get_trace(request: Request, trace_id: str, project: str | None = None) -> dict[str, Any]:
        caller = scope(request, project)
        trace_id = trace_id.strip().lower()
        if not _TRACE_ID.match(trace_id):
            raise HTTPException(400, "a trace id is 32 hexadecimal digits")
        rows = run(lambda s: s.trace_detail(trace_id, caller))
        if not rows:
            raise HTTPException(404, f"trace {trace_id} not found")
        return span_tree(trace_id, rows)

    return router
