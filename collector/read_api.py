"""The read API: traces of the caller's project, as a list or as one span tree.

* ``GET /api/traces?service=&since=&until=&status=&model=&agent=&limit=`` lists traces with a
  span in ``[since, until)`` (default: the last 24 hours), newest first;
* ``GET /api/traces/{trace_id}`` returns one trace as a tree of spans with attributes, events
  and timings; 404 when the caller's project has no such trace.

With API keys configured the caller's key decides the project. Without keys (a collector on
loopback) every project is visible, and ``?project=`` narrows it down.

Errors: a bad parameter is 400 naming it; a query over the read limits
(``AGENTFLIGHT_READ_MAX_ROWS``, ``AGENTFLIGHT_READ_TIMEOUT_S``) is 400 (too many rows: narrow
the window) or 503 (too slow); ClickHouse unreachable is 503; anything else is a bug, logged
with a request id and answered 500 with that id.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.exceptions import OperationalError
from fastapi import APIRouter, HTTPException, Query, Request

from collector.auth import Authenticator, AuthError
from collector.errors import StorageUnavailableError
from collector.insert_errors import error_code
from collector.store import READ_LIMITS, Store

__all__ = ["read_router"]

log = logging.getLogger("agentflight.collector.read_api")

DEFAULT_WINDOW_S = 24 * 3600
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_STATUSES = {"ok": "Ok", "error": "Error", "unset": "Unset"}


_MAX_NS = 2**63 - 1  # ClickHouse's DateTime64(9) ends in 2262


def _time_ns(value: str | None, name: str, default_ns: int) -> int:
    """Unix seconds or an ISO 8601 time (UTC unless it says otherwise) as nanoseconds.

    Anything else, or a time before 1970 or after 2262 (``inf``, ``1e30``), is a 400.
    """
    if value is None or not value.strip():
        return default_ns
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise HTTPException(
                400, f"{name}={value!r} is neither unix seconds nor an ISO 8601 time"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        ns = int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
    else:
        ns = int(seconds * 1e9) if math.isfinite(seconds) and abs(seconds) < 1e12 else -1
    if not 0 <= ns <= _MAX_NS:
        raise HTTPException(400, f"{name}={value!r} is out of range: use a time in 1970-2262")
    return ns


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


def read_router(
    store: Callable[[], Store],
    auth: Authenticator,
    limits: dict[str, Any] = READ_LIMITS,
) -> APIRouter:
    """The read API's routes; every query carries ``limits`` (ClickHouse settings)."""
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
        except (StorageUnavailableError, OperationalError) as exc:  # the database is away
            log.warning("read API: ClickHouse unreachable: %s", exc)
            raise HTTPException(
                503, "ClickHouse is unreachable; try again later", headers={"Retry-After": "5"}
            ) from None
        except Exception as exc:
            code = error_code(exc)
            if code in (158, 307):  # TOO_MANY_ROWS, TOO_MANY_BYTES: READ_LIMITS
                raise HTTPException(
                    400, "the query would read too much: narrow the time window or filter"
                ) from None
            if code == 159:  # TIMEOUT_EXCEEDED
                raise HTTPException(
                    503, "the query took too long; narrow the time window or try again",
                    headers={"Retry-After": "5"},
                ) from None  # fmt: skip
            request_id = uuid.uuid4().hex[:16]
            log.exception("read API: internal error (request id %s)", request_id)
            raise HTTPException(
                500, f"internal error; request id {request_id} is in the collector's log"
            ) from exc

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
                limits=limits,
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
        rows = run(lambda s: s.trace_detail(trace_id, caller, limits))
        if not rows:
            raise HTTPException(404, f"trace {trace_id} not found")
        return span_tree(trace_id, rows)

    return router
