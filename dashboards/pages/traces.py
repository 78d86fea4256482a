"""``/traces``: the traces of the window, newest first, a page at a time, filtered by the
shared filters and by status; a trace id opens its waterfall."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import dash
from dash import Dash, Input, Output, State, dcc, html, no_update
from dash import ctx as callback_context

from dashboards._context import Context, Query
from dashboards._queries import TRACE_STATUSES, list_traces
from dashboards._shell import LIVE, PAGE_STATE, page
from dashboards._ui import empty, fmt_ms, fmt_num, table
from dashboards._view import View

PATH = "/traces"
PAGE_SIZES = (25, 50, 100, 200)
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def layout(**query: str) -> html.Div:
    view = View.from_query(query)
    controls = html.Div(
        [
            html.Label(
                [
                    html.Span("Status"),
                    dcc.Dropdown(
                        id="traces-status",
                        options=[{"label": "Any status", "value": ""}]
                        + [{"label": s, "value": s} for s in TRACE_STATUSES],
                        value="",
                        clearable=False,
                    ),
                ],
                className="af-filter",
            ),
            html.Label(
                [
                    html.Span("Per page"),
                    dcc.Dropdown(
                        id="traces-limit",
                        options=[{"label": str(n), "value": n} for n in PAGE_SIZES],
                        value=50,
                        clearable=False,
                    ),
                ],
                className="af-filter",
            ),
            html.Label(
                [
                    html.Span("Open a trace by id"),
                    dcc.Input(
                        id="traces-id",
                        type="text",
                        placeholder="32 hex digits",
                        debounce=False,
                        style={"width": "300px"},
                    ),
                ],
                className="af-filter",
            ),
            html.Button("Open", id="traces-open", className="af-button"),
            html.Span(id="traces-id-error", className="af-note"),
        ],
        className="af-row",
    )
    pager = html.Div(
        [
            html.Button("Newest", id="traces-newest", className="af-button af-secondary"),
            html.Button("Older →", id="traces-older", className="af-button af-secondary"),
        ],
        className="af-row",
    )
    return page(
        "traces",
        view,
        [
            html.H2("Traces"),
            html.Section(
                [
                    controls,
                    dcc.Store(id="traces-cursor", data=None),
                    dcc.Store(id="traces-next", data=None),
                    html.Div(html.Div("Loading…", className="af-loading"), id="traces-list"),
                    pager,
                ],
                className="af-panel",
            ),
        ],
    )


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _list(q: Query, status: str, limit: int, cursor: list[Any] | None) -> tuple[Any, bool, Any]:
    v = q.view
    before = (int(cursor[0]), str(cursor[1])) if cursor else None
    result = list_traces(
        q.store,
        q.since,
        q.until,
        project=v.project,
        service=v.service,
        model=v.model,
        agent=v.agent,
        loadtest_run=v.loadtest_run,
        status=status,
        limit=limit,
        before=before,
    )
    if not result.traces:
        message = "No older traces." if before else f"No traces {v.describe()} with that status."
        return empty(message, "Widen the time range or clear a filter."), True, None
    search = v.search()
    rows = [
        [
            _when(int(t["start_ns"])),
            dcc.Link(t["root_span"] or t["trace_id"], href=f"/traces/{t['trace_id']}{search}"),
            ", ".join(t["agents"]) or "-",
            ", ".join(t["models"]) or "-",
            ", ".join(t["services"]),
            html.Span(t["status"], className=f"af-status-{t['status']}"),
            fmt_ms((int(t["end_ns"]) - int(t["start_ns"])) / 1e6),
            fmt_num(t["spans"]),
            f"{fmt_num(t['total_input_tokens'])} / {fmt_num(t['total_output_tokens'])}",
        ]
        for t in result.traces
    ]
    last = result.traces[-1]
    columns = ["Started (UTC)", "Trace", "Agents", "Models", "Services", "Status", "Duration"]
    columns += ["Spans", "Tokens in / out"]
    next_cursor = [int(last["start_ns"]), str(last["trace_id"])] if result.more else None
    return table(columns, rows, "traces-table"), not result.more, next_cursor


def register(app: Dash, ctx: Context) -> None:
    dash.register_page(
        __name__, path=PATH, name="Traces", title="agentflight: traces", layout=layout
    )

    @app.callback(
        Output("traces-list", "children"),
        Output("traces-older", "disabled"),
        Output("traces-next", "data"),
        Input(PAGE_STATE, "data"),
        Input(LIVE, "n_intervals"),
        Input("traces-status", "value"),
        Input("traces-limit", "value"),
        Input("traces-cursor", "data"),
    )
    def update(
        state: dict[str, Any], _: int | None, status: str, limit: int, cursor: list[Any] | None
    ) -> Any:
        size = limit if limit in PAGE_SIZES else 50
        wanted = status if status in TRACE_STATUSES else ""
        return ctx.render(
            state,
            lambda q: _list(q, wanted, size, cursor),
            spread=lambda panel: (panel, True, None),
        )

    @app.callback(
        Output("traces-cursor", "data"),
        Input("traces-older", "n_clicks"),
        Input("traces-newest", "n_clicks"),
        Input("traces-status", "value"),
        Input("traces-limit", "value"),
        State("traces-next", "data"),
        prevent_initial_call=True,
    )
    def paging(_older: Any, _newest: Any, _status: Any, _limit: Any, following: Any) -> Any:
        if callback_context.triggered_id == "traces-older":
            return following if following else no_update
        return None

    @app.callback(
        Output("url", "pathname"),
        Output("traces-id-error", "children"),
        Input("traces-open", "n_clicks"),
        Input("traces-id", "n_submit"),
        State("traces-id", "value"),
        prevent_initial_call=True,
    )
    def open_trace(_clicks: Any, _submit: Any, value: str | None) -> Any:
        trace_id = (value or "").strip().lower()
        if not trace_id:  # also when the page is drawn: nothing asked yet
            return no_update, ""
        if not TRACE_ID.match(trace_id):
            return no_update, "A trace id is 32 hexadecimal digits."
        return f"/traces/{trace_id}", ""
