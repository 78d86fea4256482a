"""``/load``: TTFT and TBT against concurrency per model, each a scatter of calls with the
fitted line and its 95 % band; production and every load-test run overlaid."""

from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
import polars as pl
from dash import Dash, Input, Output, html

import analytics
from dashboards._charts import color_map
from dashboards._context import Context, Query, together
from dashboards._shell import LIVE, PAGE_STATE, page
from dashboards._ui import empty, fmt_ms, graph, plot_layout, section, table
from dashboards._view import View

PATH = "/load"
POINTS = 3000
"""Calls drawn per page (a deterministic sample); fits use their own sample."""
_SYMBOLS = {"production": "circle", "loadtest": "x"}
_METRICS = {"ttft_ms": "TTFT (ms)", "tbt_ms": "TBT, the call's mean gap (ms)"}


def layout(**query: str) -> html.Div:
    view = View.from_query(query)
    return page(
        "load",
        view,
        [
            html.H2("Latency against load"),
            section(
                "TTFT against concurrency",
                "load-ttft",
                "Concurrency of a call: the calls to the same model in flight at its start, "
                "itself included. Circles are production, crosses load-test runs; lines are "
                "Theil-Sen fits with their 95 % band.",
            ),
            section("TBT against concurrency", "load-tbt"),
            section("The fits", "load-fits"),
        ],
    )


def _highest(points: pl.DataFrame, metric: str) -> list[float]:
    top = points[metric].max()
    return [] if top is None else [float(top)]  # type: ignore[arg-type]


def _source(run: str) -> str:
    return f"load test {run}" if run else "production"


def _scatter(
    points: pl.DataFrame, fits: pl.DataFrame, metric: str, colors: dict[str, str], q: Query
) -> Any:
    mine = points.filter(pl.col(metric).is_not_null())
    if mine.is_empty():
        return empty(
            "No streamed calls with this measure in the window.",
            "TTFT and TBT need streamed calls (stream=True).",
        )
    fig = go.Figure()
    for (model, run), group in mine.group_by(["model", "loadtest_run_id"], maintain_order=True):
        source = "loadtest" if run else "production"
        fig.add_trace(
            go.Scatter(
                x=group["concurrency"].to_list(),
                y=group[metric].to_list(),
                mode="markers",
                marker={
                    "color": colors.get(str(model)),
                    "symbol": _SYMBOLS[source],
                    "size": 6,
                    "opacity": 0.45,
                },
                name=f"{model}, {_source(str(run))}",
                legendgroup=f"{model}{run}",
                hovertemplate="concurrency %{x}: %{y:.0f} ms<extra>" + f"{model}</extra>",
            )
        )
    for fit in fits.filter(pl.col("metric") == metric).iter_rows(named=True):
        color = colors.get(fit["model"], "#444")
        x = fit["curve_x"] or []
        legend = f"{fit['model']}{fit['loadtest_run_id']}"
        fig.add_trace(
            go.Scatter(
                x=[*x, *reversed(x)],
                y=[*(fit["curve_hi"] or []), *reversed(fit["curve_lo"] or [])],
                fill="toself",
                fillcolor=color,
                opacity=0.15,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=legend,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=fit["curve_y"] or [],
                mode="lines",
                line={"color": color, "dash": "solid" if fit["source"] == "production" else "dot"},
                name=f"fit {fit['model']}, {_source(fit['loadtest_run_id'])}",
                legendgroup=legend,
                hovertemplate=f"{fit['slope_ms_per_concurrent']:.1f} ms per concurrent call"
                "<extra></extra>",
            )
        )
        crossing = fit["slo_crossing_concurrency"]
        seen = float(fit["concurrency_hi"] or 0)
        if crossing is not None and crossing <= 1.5 * seen:  # farther: in the table only
            top = max([*(fit["curve_hi"] or []), *_highest(mine, metric)])
            fig.add_trace(
                go.Scatter(
                    x=[crossing, crossing],
                    y=[0, top],
                    mode="lines",
                    line={"color": color, "dash": "dashdot", "width": 1.5},
                    name=f"{fit['model']} reaches {fit['slo']} at {crossing:.0f}"
                    + (
                        ""
                        if fit["source"] == "production"
                        else f" ({_source(fit['loadtest_run_id'])})"
                    ),
                    legendgroup=legend,
                    hovertemplate=f"{fit['slo']} reached at concurrency {crossing:.1f}"
                    "<extra></extra>",
                )
            )
    plot_layout(fig, y_title=_METRICS[metric], x_title="concurrency (calls in flight)", height=380)
    return graph(fig, f"load-{metric.removesuffix('_ms')}-graph")


def _fits_table(fits: pl.DataFrame) -> Any:
    if fits.is_empty():
        return empty("Too few calls to fit a line.", "A fit needs calls at two or more loads.")
    rows = [
        [
            r["model"],
            r["metric"].removesuffix("_ms").upper(),
            _source(r["loadtest_run_id"]),
            r["n"],
            fmt_ms(r["intercept_ms"]),
            f"{r['slope_ms_per_concurrent']:.2f} "
            f"[{r['slope_ci95_lo']:.2f}, {r['slope_ci95_hi']:.2f}]",
            "-" if r["r2"] is None else f"{r['r2']:.2f}",
            f"{r['concurrency_lo']:g}-{r['concurrency_hi']:g}",
            "-"
            if r["slo_crossing_concurrency"] is None
            else f"{r['slo']} at {r['slo_crossing_concurrency']:.0f}",
        ]
        for r in fits.iter_rows(named=True)
    ]
    columns = [
        "Model",
        "Measure",
        "Source",
        "Calls",
        "At 0 load",
        "ms per concurrent call [95 % CI]",
        "R²",
        "Loads seen",
        "SLO reached at",
    ]
    return table(columns, rows, "load-fits-table")


def register(app: Dash, ctx: Context) -> None:
    dash.register_page(__name__, path=PATH, name="Load", title="agentflight: load", layout=layout)

    @app.callback(
        Output("load-ttft", "children"),
        Output("load-tbt", "children"),
        Output("load-fits", "children"),
        Input(PAGE_STATE, "data"),
        Input(LIVE, "n_intervals"),
    )
    def update(state: dict[str, Any], _: int | None) -> Any:
        def build(q: Query) -> tuple[Any, ...]:
            points, fits = together(
                lambda: analytics.load_points(q.store, q.since, q.until, q.filters, limit=POINTS),
                lambda: analytics.load_fits(q.store, q.since, q.until, q.filters, q.ctx.slo),
            )
            if points.is_empty():
                missing = empty(
                    "No streamed LLM calls in this window.",
                    "Latency against load needs streamed calls (stream=True) with TTFT or TBT.",
                )
                return missing, missing, missing
            colors = color_map(points["model"].to_list())
            return (
                _scatter(points, fits, "ttft_ms", colors, q),
                _scatter(points, fits, "tbt_ms", colors, q),
                _fits_table(fits),
            )

        return ctx.render(state, build, 3)
