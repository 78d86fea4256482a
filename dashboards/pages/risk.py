"""``/risk``: per agent with a deadline, the observed timeout rate, the projection at 1.5x,
2x and 3x today's load, the multiplier that breaks its p99 run, and where the slowest runs
spend their time."""

from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
import polars as pl
from dash import Dash, Input, Output, html

import analytics
from dashboards._context import Context, Query
from dashboards._shell import LIVE, PAGE_STATE, page
from dashboards._ui import empty, fmt_ms, fmt_num, fmt_pct, graph, plot_layout, section, table
from dashboards._view import View

PATH = "/risk"
MULTIPLIERS = (1.5, 2.0, 3.0)
_BUDGET = {
    "ttft_ms": ("waiting for the first token", "#2563eb"),
    "reasoning_ms": ("hidden reasoning", "#7c3aed"),
    "visible_output_ms": ("streaming the answer", "#059669"),
    "skills_ms": ("skills (tools, APIs)", "#d97706"),
    "other_ms": ("everything else", "#9ca3af"),
}


def layout(**query: str) -> html.Div:
    view = View.from_query(query)
    return page(
        "risk",
        view,
        [
            html.H2("Timeout risk"),
            section(
                "Per agent",
                "risk-table",
                "Observed: runs longer than their deadline. Projected: recorded runs re-timed "
                "with the fitted TTFT and TBT at the concurrency Little's law gives for that "
                "much more traffic.",
            ),
            section("Timeout rate now and under more load", "risk-chart"),
            section(
                "Where the slowest 1 % of runs spend their time",
                "risk-budget",
                "Mean split along each slow run's critical path; the line is the deadline.",
            ),
        ],
    )


def _key(m: float) -> str:
    return f"{m:g}"


def _table(risk: pl.DataFrame) -> Any:
    rows = []
    for r in risk.iter_rows(named=True):
        projected = r["projected"] or {}
        rows.append(
            [
                r["agent"],
                fmt_ms(r["timeout_ms"]),
                fmt_num(r["runs"]),
                f"{fmt_pct(r['observed_rate'])} ({r['timed_out']})",
                *(fmt_pct(projected.get(_key(m))) for m in MULTIPLIERS),
                "beyond 10x"
                if r["breaking_multiplier"] is None
                else f"{r['breaking_multiplier']:g}x",
                fmt_num(r["sampled_runs"]),
            ]
        )
    columns = [
        "Agent",
        "Deadline",
        "Runs",
        "Timed out",
        *(f"At {_key(m)}x" for m in MULTIPLIERS),
        "p99 run breaks at",
        "Runs re-timed",
    ]
    return table(columns, rows, "risk-agents-table")


def _chart(risk: pl.DataFrame) -> Any:
    agents = risk["agent"].to_list()
    fig = go.Figure(
        go.Bar(
            x=agents,
            y=risk["observed_rate"].to_list(),
            name="observed",
            marker_color="#111827",
            hovertemplate="%{x} observed: %{y:.1%}<extra></extra>",
        )
    )
    for m, shade in zip(MULTIPLIERS, ("#fca5a5", "#ef4444", "#991b1b"), strict=True):
        values = [(p or {}).get(_key(m)) for p in risk["projected"].to_list()]
        fig.add_trace(
            go.Bar(
                x=agents,
                y=values,
                name=f"at {_key(m)}x load",
                marker_color=shade,
                hovertemplate=f"%{{x}} at {_key(m)}x: %{{y:.1%}}<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    plot_layout(fig, y_title="runs over their deadline", height=320)
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return graph(fig, "risk-chart-graph")


def _budget(risk: pl.DataFrame) -> Any:
    with_budget = risk.filter(pl.col("slow_run_budget").is_not_null())
    if with_budget.is_empty():
        return empty("No runs to split.")
    agents = with_budget["agent"].to_list()
    budgets = with_budget["slow_run_budget"].to_list()
    fig = go.Figure()
    for part, (label, color) in _BUDGET.items():
        fig.add_trace(
            go.Bar(
                y=agents,
                x=[b[part] for b in budgets],
                name=label,
                orientation="h",
                marker_color=color,
                hovertemplate=f"%{{y}} {label}: %{{x:.0f}} ms<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            y=agents,
            x=with_budget["timeout_ms"].to_list(),
            mode="markers",
            marker={"symbol": "line-ns-open", "size": 28, "color": "#b91c1c", "line": {"width": 3}},
            name="deadline",
            hovertemplate="%{y} deadline: %{x:.0f} ms<extra></extra>",
        )
    )
    fig.update_layout(barmode="stack")
    plot_layout(fig, x_title="ms (mean of the slowest runs)", height=120 + 60 * len(agents))
    fig.update_yaxes(rangemode="normal")
    return graph(fig, "risk-budget-graph")


def register(app: Dash, ctx: Context) -> None:
    dash.register_page(__name__, path=PATH, name="Risk", title="agentflight: risk", layout=layout)

    @app.callback(
        Output("risk-table", "children"),
        Output("risk-chart", "children"),
        Output("risk-budget", "children"),
        Input(PAGE_STATE, "data"),
        Input(LIVE, "n_intervals"),
    )
    def update(state: dict[str, Any], _: int | None) -> Any:
        def build(q: Query) -> tuple[Any, ...]:
            risk = analytics.timeout_risk(q.store, q.since, q.until, q.filters, MULTIPLIERS)
            if risk.is_empty():
                missing = empty(
                    "No agent runs with a deadline in this window.",
                    "Give an agent a deadline to see its risk: "
                    "@tracer.agent(name, timeout_ms=8000).",
                )
                return missing, missing, missing
            risk = risk.sort("observed_rate", descending=True, nulls_last=True)
            return _table(risk), _chart(risk), _budget(risk)

        return ctx.render(state, build, 3)
