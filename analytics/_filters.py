"""Which spans a figure reads: the time window and the filters, as bound SQL.

Every query of this package reads ``genai_spans`` (or its rollup) through :func:`scope`,
so every figure applies the same rules (docs/analytics.md, "Window and filters"):

- the window is on the span's start time, ``since <= timestamp < until``;
- ``project``, ``service``, ``loadtest_run`` and ``replay_run`` select spans; ``model``
  selects LLM calls by request or response model;
- ``agent``, ``route`` and ``skill`` select whole traces: a span is kept when its trace has,
  in the window, an agent run, a routing decision or a skill call of that name;
- without ``loadtest_run``/``replay_run``, spans of load tests and replays are left out:
  figures describe production. ``load_points``/``load_fits`` are the exception: they keep
  every load-test run as a source of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["ROLLUP_MODEL", "Filters", "Window", "rollup_scope", "scope", "scope_params", "window"]


@dataclass(frozen=True, slots=True)
class Filters:
    """Span filters; an empty string or None means no filter (``project=""``: all projects)."""

    project: str | None = None
    service: str | None = None
    model: str | None = None
    agent: str | None = None
    route: str | None = None
    skill: str | None = None
    loadtest_run: str | None = None
    replay_run: str | None = None

    def value(self, name: str) -> str:
        return getattr(self, name) or ""

    def describe(self) -> dict[str, str]:
        """The filters that are set, by name."""
        return {f.name: self.value(f.name) for f in fields(self) if self.value(f.name)}


@dataclass(frozen=True, slots=True)
class Window:
    since: datetime
    until: datetime

    @property
    def since_ns(self) -> int:
        return _ns(self.since)

    @property
    def until_ns(self) -> int:
        return _ns(self.until)

    @property
    def length(self) -> timedelta:
        return self.until - self.since

    def previous(self) -> Window:
        """The window of equal length that ends where this one starts."""
        return Window(self.since - self.length, self.since)


def window(since: datetime, until: datetime) -> Window:
    """Validate a window: aware datetimes, ``since`` before ``until``."""
    for name, value in (("since", since), ("until", until)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    if since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    return Window(since, until)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1) * 1_000


_WINDOW = (
    "timestamp >= fromUnixTimestamp64Nano({since_ns:Int64}) "
    "AND timestamp < fromUnixTimestamp64Nano({until_ns:Int64})"
)
ROLLUP_MODEL = "(model = {model:String} OR response_model = {model:String})"
"""The model filter on the rollup: the request model (else response model), or the
response model, as on spans."""
_TRACE_LEVEL = {
    "agent": "(operation = 'invoke_agent' AND agent_name = {agent:String})",
    "route": "(operation = 'route' AND route_name = {route:String})",
    "skill": "(operation = 'execute_tool' AND skill_name = {skill:String})",
}


def scope(
    filters: Filters | None,
    *,
    all_sources: bool = False,
    model: str = "span",
    lookback_s: int = 0,
    all_replays: bool = False,
) -> str:
    """The WHERE condition (without ``WHERE``) selecting the window's spans.

    ``all_sources`` keeps every load-test run (unless one is asked for). ``model`` says how
    the model filter applies: ``"span"`` to the spans themselves (LLM calls), ``"trace"``
    to traces with a call of that model (agent runs), ``"none"`` not at all.
    ``lookback_s`` widens the window backwards (for calls still in flight at its start);
    ``all_replays`` keeps replayed spans (unless a replay run is asked for).
    The SQL text depends only on which filters are set; values are bound by
    :func:`scope_params`.
    """
    f = filters or Filters()
    since = (
        f"fromUnixTimestamp64Nano({{since_ns:Int64}}) - INTERVAL {int(lookback_s)} SECOND"
        if lookback_s
        else "fromUnixTimestamp64Nano({since_ns:Int64})"
    )
    parts = [
        f"timestamp >= {since}",
        "timestamp < fromUnixTimestamp64Nano({until_ns:Int64})",
    ]
    if f.value("project"):
        parts.append("project = {project:String}")
    if f.value("service"):
        parts.append("service_name = {service:String}")
    if model == "span" and f.value("model"):
        parts.append("(request_model = {model:String} OR response_model = {model:String})")
    if f.value("loadtest_run") or not all_sources:
        parts.append("loadtest_run_id = {loadtest_run:String}")
    if f.value("replay_run") or not all_replays:
        parts.append("replay_run_id = {replay_run:String}")
    traces = [sql for name, sql in _TRACE_LEVEL.items() if f.value(name)]
    if model == "trace" and f.value("model"):
        traces.append("(request_model = {model:String} OR response_model = {model:String})")
    if traces:
        # One trace matches all of agent, route and skill when each is set.
        parts.append(
            "trace_id IN (SELECT trace_id FROM {db:Identifier}.genai_spans WHERE "
            + " AND ".join(
                [_WINDOW, *(["project = {project:String}"] if f.value("project") else [])]
            )
            + " GROUP BY trace_id HAVING "
            + " AND ".join(f"countIf{sql} > 0" for sql in traces)
            + ")"
        )
    return " AND ".join(parts)


def scope_params(win: Window, filters: Filters | None) -> dict[str, Any]:
    """The bound values for :func:`scope`'s placeholders."""
    f = filters or Filters()
    params: dict[str, Any] = {"since_ns": win.since_ns, "until_ns": win.until_ns}
    params.update({fl.name: f.value(fl.name) for fl in fields(Filters)})
    return params


_OVERLAPPING_MINUTES = (
    "minute >= toStartOfMinute(fromUnixTimestamp64Nano({since_ns:Int64}))"
    " AND minute < fromUnixTimestamp64Nano({until_ns:Int64})"
)


def rollup_scope(
    filters: Filters | None, *, all_sources: bool = False, minutes: str = _OVERLAPPING_MINUTES
) -> str | None:
    """The WHERE condition on ``genai_minutes``; None when a filter needs raw spans.

    The rollup has whole minutes: by default it covers the minutes that overlap the window;
    ``minutes`` is another condition on the ``minute`` column.
    """
    f = filters or Filters()
    if any(f.value(name) for name in _TRACE_LEVEL):
        return None
    parts = [minutes]
    if f.value("project"):
        parts.append("project = {project:String}")
    if f.value("service"):
        parts.append("service_name = {service:String}")
    if f.value("model"):
        parts.append(ROLLUP_MODEL)
    if f.value("loadtest_run") or not all_sources:
        parts.append("loadtest_run_id = {loadtest_run:String}")
    parts.append("replay_run_id = {replay_run:String}")
    return " AND ".join(parts)
