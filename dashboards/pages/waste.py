"""``/waste``: tokens paid for that never reached the user, by cause and by agent or model,
what they cost, their trend, and what hidden reasoning costs in time."""

from __future__ import annotations

from typing import Any, Literal

import dash
import plotly.graph_objects as go
import polars as pl
from dash import Dash, Input, Output, dcc, html

import analytics
from dashboards._context import Context, Query, together
from dashboards._shell import LIVE, PAGE_STATE, page
from dashboards._ui import (
    PALETTE,
    empty,
    fmt_ms,
    fmt_num,
    fmt_pct,
    fmt_usd,
    graph,
    plot_layout,
    section,
    table,
)
from dashboards._view import View

PATH = "/waste"
CAUSE_COLORS = {cause: PALETTE[i % len(PALETTE)] for i, cause in enumerate(analytics.CAUSES)}


def layout(**query: str) -> html.Div:
    view = View.from_query(query)
    return page(
        "waste",
        view,
        [
            html.H2("Token waste"),
            section(
                "Wasted tokens by cause",
                "waste-causes",
                "Output tokens paid for that never reached the user: hidden reasoning, failed, "
                "retried or unparseable calls, abandoned streams, truncation, duplicate requests "
                "(each token under one cause).",
            ),
            html.Section(
                [
                    html.H3("By cause and …"),
                    dcc.RadioItems(
                        id="waste-by",
                        options=[
                            {"label": " agent", "value": "agent"},
                            {"label": " model", "value": "model"},
                        ],
                        value="agent",
                        inline=True,
                        inputStyle={"marginLeft": "12px"},
                    ),
                    html.Div(html.Div("Loading…", className="af-loading"), id="waste-by-chart"),
                ],
                className="af-panel",
            ),
            section("Trend", "waste-trend", "Wasted tokens per time bucket, stacked by cause."),
            section(
                "What reasoning costs in time",
                "waste-reasoning",
                "Per streamed call with reasoning tokens: reasoning tokens x the call's mean gap "
                "between tokens, the time spent decoding tokens nobody sees.",
            ),
        ],
    )


def _causes(frame: pl.DataFrame) -> Any:
    if int(frame["tokens"].sum() or 0) == 0:
        return empty("No tokens were wasted in this window.", "Nothing to trim here.")
    rows = [
        [r["cause"], fmt_num(r["tokens"]), fmt_pct(r["share"]), fmt_usd(r["cost_usd"])]
        for r in frame.sort("tokens", descending=True).iter_rows(named=True)
    ]
    fig = go.Figure(
        go.Bar(
            x=frame["cause"].to_list(),
            y=frame["tokens"].to_list(),
            marker_color=[CAUSE_COLORS[c] for c in frame["cause"].to_list()],
            customdata=frame["cost_usd"].to_list(),
            hovertemplate="%{x}: %{y} tokens<extra></extra>",
        )
    )
    plot_layout(fig, y_title="wasted tokens", height=280)
    return html.Div(
        [
            graph(fig, "waste-causes-graph"),
            table(["Cause", "Tokens", "Share of output", "Cost"], rows, "waste-causes-table"),
        ]
    )


def _by(frame: pl.DataFrame, by: str) -> Any:
    frame = frame.filter(pl.col("tokens") > 0).with_columns(
        pl.when(pl.col(by) == "").then(pl.lit(f"(no {by})")).otherwise(pl.col(by)).alias(by)
    )
    if frame.is_empty():
        return empty("No tokens were wasted in this window.")
    fig = go.Figure()
    for cause in analytics.CAUSES:
        part = frame.filter(pl.col("cause") == cause)
        if part.is_empty():
            continue
        fig.add_trace(
            go.Bar(
                x=part[by].to_list(),
                y=part["tokens"].to_list(),
                name=cause,
                marker_color=CAUSE_COLORS[cause],
                hovertemplate=f"%{{x}} {cause}: %{{y}} tokens<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack")
    plot_layout(fig, y_title="wasted tokens", height=320)
    return graph(fig, "waste-by-graph")


def _trend(frame: pl.DataFrame) -> Any:
    if frame.is_empty():
        return empty("No tokens were wasted in this window.")
    fig = go.Figure()
    for (cause,), part in frame.group_by(["cause"], maintain_order=True):
        fig.add_trace(
            go.Scatter(
                x=part["bucket"].to_list(),
                y=part["tokens"].to_list(),
                name=str(cause),
                stackgroup="waste",
                line={"color": CAUSE_COLORS.get(str(cause))},
                hovertemplate=f"{cause}: %{{y}} tokens<extra></extra>",
            )
        )
    plot_layout(fig, y_title="wasted tokens", height=300)
    return graph(fig, "waste-trend-graph")


def _reasoning(frame: pl.DataFrame) -> Any:
    per_model = frame.filter((pl.col("model") != "*") & (pl.col("calls") > 0))
    if per_model.is_empty():
        return empty(
            "No streamed calls with reasoning tokens in this window.",
            "Reasoning models report gen_ai.usage.reasoning.output_tokens.",
        )
    rows = [
        [
            "all models" if r["model"] == "*" else r["model"],
            fmt_num(r["calls"]),
            fmt_ms(r["p50_ms"]),
            fmt_ms(r["p95_ms"]),
            fmt_ms(r["p99_ms"]),
            fmt_ms(r["total_ms"]),
        ]
        for r in frame.filter(pl.col("calls") > 0).iter_rows(named=True)
    ]
    return table(
        ["Model", "Calls", "Added p50", "Added p95", "Added p99", "Total added"],
        rows,
        "waste-reasoning-table",
    )


def register(app: Dash, ctx: Context) -> None:
    dash.register_page(__name__, path=PATH, name="Waste", title="agentflight: waste", layout=layout)

    @app.callback(
        Output("waste-causes", "children"),
        Output("waste-trend", "children"),
        Output("waste-reasoning", "children"),
        Input(PAGE_STATE, "data"),
        Input(LIVE, "n_intervals"),
    )
    def update(state: dict[str, Any], _: int | None) -> Any:
        def build(q: Query) -> tuple[Any, ...]:
            causes, trend, reasoning = together(
                lambda: analytics.waste(q.store, q.since, q.until, q.filters, prices=q.ctx.prices),
                lambda: analytics.waste_over_time(q.store, q.since, q.until, q.filters),
                lambda: analytics.reasoning_latency(q.store, q.since, q.until, q.filters),
            )
            return _causes(causes), _trend(trend), _reasoning(reasoning)

        return ctx.render(state, build, 3)

    @app.callback(
        Output("waste-by-chart", "children"),
        Input(PAGE_STATE, "data"),
        Input("waste-by", "value"),
        Input(LIVE, "n_intervals"),
    )
    def update_by(state: dict[str, Any], by: str, _: int | None) -> Any:
        key: Literal["agent", "model"] = "model" if by == "model" else "agent"

        def build(q: Query) -> Any:
            frame = analytics.waste(
                q.store, q.since, q.until, q.filters, by=key, prices=q.ctx.prices
            )
            return _by(frame, key)

        return ctx.render(state, build)
