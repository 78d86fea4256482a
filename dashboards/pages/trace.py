"""``/traces/<trace_id>``: one trace's waterfall, the details of the span clicked, and the
replay action."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html

import replay
from collector import Store
from dashboards._context import Context, Query, current_context
from dashboards._queries import span_timings
from dashboards._shell import PAGE_STATE, page
from dashboards._span_view import span_details
from dashboards._ui import empty, fmt_ms, kv
from dashboards._view import View, page_url
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
            _replay_form(),
        ],
        extra={"trace_id": wanted},
        nav="traces",
    )


def _replay_form() -> html.Section:
    """Replay this trace against another model, system prompt or target."""
    target = current_context().replay_target

    def field(label: str, control: Any) -> html.Label:
        return html.Label([html.Span(label), control], className="af-filter")

    return html.Section(
        [
            html.H3("Replay"),
            html.P(
                "Re-run this trace (its agent with the recorded skill results standing in, "
                "else its LLM calls) against an OpenAI-compatible target, with the overrides "
                "below; the replay is a new trace, linked to this one, and a diff.",
                className="af-note",
            ),
            html.Div(
                [
                    field(
                        "Target URL",
                        dcc.Input(
                            id="replay-target",
                            type="text",
                            value=target,
                            placeholder="http://127.0.0.1:8000/v1",
                            style={"width": "320px"},
                        ),
                    ),
                    field(
                        "Model (empty: as recorded)",
                        dcc.Input(id="replay-model", type="text", placeholder="gpt-4o"),
                    ),
                ],
                className="af-row",
            ),
            field(
                "System prompt (empty: as recorded)",
                dcc.Textarea(id="replay-prompt", style={"width": "100%", "height": "80px"}),
            ),
            html.Div(
                [
                    html.Button("Replay", id="replay-go", className="af-button"),
                    dcc.Loading(html.Div(id="replay-result"), type="dot"),
                ],
                className="af-row",
            ),
        ],
        className="af-panel",
        id="replay-panel",
    )


def load_trace(
    store: Store, trace_id: str, project: str | None
) -> tuple[list[dict[str, Any]], list[Row]]:
    """A trace's spans (``Store.trace_detail``) and its waterfall rows; empty if unknown."""
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


def start(q: Query, trace_id: str, target: str, model: str | None, prompt: str | None) -> Any:
    """Run the replay (it takes as long as the target answers); a link to its diff."""
    if not target:
        return empty("Give the target URL (an OpenAI-compatible base URL).", kind="error")
    try:
        options = replay.ReplayOptions(
            base_url=target,
            model=(model or "").strip() or None,
            system_prompt=prompt if prompt and prompt.strip() else None,
            project=q.ctx.project(),
        )
        report = replay.run(q.store, options, trace_id=trace_id)
    except replay.ReplayError as exc:  # bad input: an unreachable target, nothing to replay
        return empty(f"Replay refused: {str(exc).splitlines()[0]}", kind="error")
    result = report.results[0].to_json() if report.results else {}
    similarity = result.get("similarity")
    return html.Div(
        [
            html.Strong(f"Replayed: {result.get('status', 'done')}"),
            f", similarity {similarity:.3f}" if isinstance(similarity, float) else "",
            f", tokens {int(result.get('tokens_delta') or 0):+d}. ",
            dcc.Link(
                "See the diff",
                href=page_url("/replays", q.view, run=report.run_id, trace=trace_id),
                id="replay-link",
            ),
        ]
    )


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
            spans, trace_rows = load_trace(q.store, wanted, ctx.project())
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
            spans, trace_rows = load_trace(q.store, trace_id(state), ctx.project())
            if not spans:
                return None
            by_id = {s["SpanId"]: s for s in spans}
            row = next((r for r in trace_rows if r.span_id == chosen), None)
            row = row or _default_span(trace_rows)
            return span_details(by_id[row.span_id], row)

        return ctx.render(state, build, needs_spans=False)

    @app.callback(
        Output("replay-result", "children"),
        Input("replay-go", "n_clicks"),
        State("replay-target", "value"),
        State("replay-model", "value"),
        State("replay-prompt", "value"),
        State(PAGE_STATE, "data"),
        prevent_initial_call=True,
        running=[(Output("replay-go", "disabled"), True, False)],
    )
    def start_replay(
        clicks: int | None,
        target: str | None,
        model: str | None,
        prompt: str | None,
        state: dict[str, Any],
    ) -> Any:
        if not clicks:
            return None

        def build(q: Query) -> Any:
            return start(q, trace_id(state), (target or "").strip(), model, prompt)

        return ctx.render(state, build, needs_spans=False)
