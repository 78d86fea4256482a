"""``/traces/<trace_id>``: one trace's waterfall, the details of the span clicked, and the
replay action."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash
import plotly.graph_objects as go
from dash import Dash, Input, Output, dcc, html

from collector import Store
from dashboards._context import Context, Query
from dashboards._queries import span_timings
from dashboards._shell import PAGE_STATE, page
from dashboards._span_view import span_details
from dashboards._ui import empty, fmt_ms, kv
from dashboards._view import View
from dashboards._waterfall import Row, rows, waterfall
from dashboards.pages.traces import TRACE_ID

PATH_TEMPLATE = "/traces/<trace_id>"
_HIDDEN = {"display": "none"}


def layout(trace_id: str | None = None, **query: str) -> html.Div:
    view = View.from_query(query)
    wanted = (trace_id or "").strip().lower()
    return page(
        "trace",
        view,
        [
            html.Div(
                [
                    dcc.Link("← all traces", href=f"/traces{view.search()}"),
                    html.H2(["Trace ", html.Span(wanted, className="af-mono", id="trace-id")]),
                ]
            ),
            html.Div(id="trace-summary"),
            html.Section(
                [
                    html.H3("Waterfall"),
                    html.P(
                        "Spans nested under their parent. ◆ marks the first token of each "
                        "streamed LLM call (its TTFT); hover a call for its TBT. Click a span for "
                        "its details.",
                        className="af-note",
                    ),
                    html.Div(html.Div("Loading…", className="af-loading"), id="trace-message"),
                    dcc.Graph(
                        id="trace-waterfall",
                        figure=go.Figure(),
                        config={"displaylogo": False, "responsive": True},
                        style=_HIDDEN,
                    ),
                ],
                className="af-panel",
            ),
            html.Section(
                [html.H3("Span"), html.Div(id="trace-span")],
                className="af-panel",
            ),
        ],
        extra={"trace_id": wanted},
        nav="traces",
    )


def _load(
    store: Store, trace_id: str, project: str | None
) -> tuple[list[dict[str, Any]], list[Row]]:
    spans = store.trace_detail(trace_id, project)
    if not spans:
        return [], []
    starts = [int(s["start_ns"]) for s in spans]
    timings = span_timings(store, trace_id, min(starts), max(starts), project or "")
    return spans, rows(spans, timings)


def _summary(spans: list[dict[str, Any]], trace_rows: list[Row]) -> Any:
    start = min(int(s["start_ns"]) for s in spans)
    end = max(int(s["start_ns"]) + int(s["Duration"]) for s in spans)
    errors = sum(1 for s in spans if s["StatusCode"] == "Error")
    items = [
        [
            "Started (UTC)",
            datetime.fromtimestamp(start / 1e9, UTC).isoformat(timespec="milliseconds"),
        ],
        ["Duration", fmt_ms((end - start) / 1e6)],
        ["Spans", str(len(spans)) + (f" ({errors} with errors)" if errors else "")],
        ["Services", ", ".join(sorted({str(s["ServiceName"]) for s in spans}))],
        ["Project", str(spans[0].get("project", ""))],
    ]
    return html.Section(kv([(k, v) for k, v in items], "trace-summary-table"), className="af-panel")


def _default_span(trace_rows: list[Row]) -> Row:
    """The first streamed LLM call, else the root."""
    for row in trace_rows:
        if row.kind == "llm" and row.ttft_ms is not None:
            return row
    return trace_rows[0]


def register(app: Dash, ctx: Context) -> None:
    dash.register_page(
        __name__,
        path_template=PATH_TEMPLATE,
        name="Trace",
        title="agentflight: trace",
        layout=layout,
    )

    def trace_id(state: dict[str, Any] | None) -> str:
        value = str((state or {}).get("trace_id") or "")
        if not TRACE_ID.match(value):
            raise ValueError(f"{value!r} is not a trace id (32 hexadecimal digits).")
        return value

    @app.callback(
        Output("trace-summary", "children"),
        Output("trace-message", "children"),
        Output("trace-waterfall", "figure"),
        Output("trace-waterfall", "style"),
        Input(PAGE_STATE, "data"),
    )
    def update(state: dict[str, Any]) -> Any:
        def build(q: Query) -> tuple[Any, ...]:
            wanted = trace_id(state)
            spans, trace_rows = _load(q.store, wanted, ctx.project())
            if not spans:
                return (
                    None,
                    empty(
                        f"No trace {wanted}.",
                        "It may be older than the data kept, belong to another project, or "
                        "not have reached the collector yet.",
                    ),
                    go.Figure(),
                    _HIDDEN,
                )
            fig = waterfall(trace_rows)
            return _summary(spans, trace_rows), None, fig, {"height": f"{fig.layout.height}px"}

        return ctx.render(
            state,
            build,
            needs_spans=False,
            spread=lambda panel: (None, panel, go.Figure(), _HIDDEN),
        )

    @app.callback(
        Output("trace-span", "children"),
        Input("trace-waterfall", "clickData"),
        Input(PAGE_STATE, "data"),
    )
    def details(click: dict[str, Any] | None, state: dict[str, Any]) -> Any:
        chosen = None
        for point in (click or {}).get("points", []):
            chosen = point.get("customdata")

        def build(q: Query) -> Any:
            spans, trace_rows = _load(q.store, trace_id(state), ctx.project())
            if not spans:
                return None
            by_id = {s["SpanId"]: s for s in spans}
            row = next((r for r in trace_rows if r.span_id == chosen), None)
            row = row or _default_span(trace_rows)
            return span_details(by_id[row.span_id], row)

        return ctx.render(state, build, needs_spans=False)
