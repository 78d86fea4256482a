"""``/latency``: TTFT and pooled TBT percentiles over time per model, with the SLO's lines;
duration percentiles per agent, route and skill."""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import dash
import polars as pl
from dash import Dash, Input, Output, html

import analytics
from dashboards._charts import color_map, percentile_bars, percentiles_over_time, slo_lines
from dashboards._context import Context, Query, together
from dashboards._shell import LIVE, PAGE_STATE, page
from dashboards._ui import empty, graph, section
from dashboards._view import View

PATH = "/latency"
BY: tuple[Literal["agent", "route", "skill"], ...] = ("agent", "route", "skill")
_BY = {
    "agent": ("lat-agent", "No agent runs in this window.", "@tracer.agent marks a run."),
    "route": ("lat-route", "No routing decisions in this window.", "@tracer.route marks one."),
    "skill": ("lat-skill", "No skill calls in this window.", "@tracer.skill marks one."),
}


def layout(**query: str) -> html.Div:
    view = View.from_query(query)
    return page(
        "latency",
        view,
        [
            html.H2("Latency"),
            section(
                "Time to first token (TTFT) over time, per model",
                "lat-ttft",
                "From the request to the first content-bearing chunk, of streamed calls; "
                "p50 dotted, p95 dashed, p99 solid.",
            ),
            section(
                "Time between tokens (TBT) over time, per model",
                "lat-tbt",
                "Percentiles pooled over every gap between consecutive chunks of every call in "
                "the bucket (first token excluded).",
            ),
            html.Div(
                [
                    section("Run duration per agent", "lat-agent"),
                    section("Duration per route", "lat-route"),
                    section("Duration per skill", "lat-skill"),
                ],
                className="af-grid",
            ),
        ],
    )


def _over_time(q: Query, frame: pl.DataFrame) -> tuple[Any, Any]:
    if frame.is_empty():
        missing = empty(
            "No LLM calls in this window.",
            "LLM calls are spans with a model (gen_ai.request.model); tracer.instrument_openai() "
            "records them.",
        )
        return missing, missing
    colors = color_map(frame["model"].to_list())
    panels: list[Any] = []
    for prefix, metric, what in (("ttft", "ttft", "TTFT"), ("tbt", "tbt", "TBT")):
        if frame[f"{prefix}_p50"].is_null().all():
            panels.append(
                empty(
                    f"No streamed calls in this window, so no {what}.",
                    "Stream the call (stream=True) to measure the first token and the gaps.",
                )
            )
            continue
        fig = percentiles_over_time(frame, prefix, f"{what} (ms)", colors)
        slo_lines(fig, q.ctx.slo, metric)
        panels.append(graph(fig, f"lat-{prefix}-graph"))
    return panels[0], panels[1]


def _durations(frame: pl.DataFrame, by: str) -> Any:
    _, message, hint = _BY[by]
    if frame.is_empty():
        return empty(message, hint)
    label = (
        pl.when(pl.col("target") != "")
        .then(pl.col("name") + " → " + pl.col("target"))
        .otherwise(pl.col("name"))
    )
    fig = percentile_bars(frame, label, "duration", "duration (ms)")
    return graph(fig, f"lat-{by}-graph")


def register(app: Dash, ctx: Context) -> None:
    dash.register_page(
        __name__, path=PATH, name="Latency", title="agentflight: latency", layout=layout
    )

    @app.callback(
        Output("lat-ttft", "children"),
        Output("lat-tbt", "children"),
        *[Output(body, "children") for body, _, _ in _BY.values()],
        Input(PAGE_STATE, "data"),
        Input(LIVE, "n_intervals"),
    )
    def update(state: dict[str, Any], _: int | None) -> Any:
        def build(q: Query) -> tuple[Any, ...]:
            over_time, *durations = together(
                lambda: analytics.latency_over_time(q.store, q.since, q.until, q.filters),
                *(
                    partial(analytics.duration_by, q.store, q.since, q.until, q.filters, by=by)
                    for by in BY
                ),
            )
            return (*_over_time(q, over_time), *map(_durations, durations, BY))

        return ctx.render(state, build, 2 + len(_BY))
