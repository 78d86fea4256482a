"""``/``: the window at a glance, each figure against the window before it, and the agents
most at risk of timing out."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dash
import polars as pl
from dash import Dash, Input, Output, dcc, html

import analytics
from dashboards._context import Context, Query
from dashboards._shell import LIVE, PAGE_STATE, page
from dashboards._ui import change, empty, fmt_ms, fmt_num, fmt_pct, fmt_usd, section, table
from dashboards._view import View

PATH = "/"
# metric -> (label, format, higher is better: True, False, or None for neither)
CARDS: dict[str, tuple[str, Any, bool | None]] = {
    "calls": ("LLM calls", fmt_num, None),
    "error_rate": ("Error rate", fmt_pct, False),
    "ttft_p95_ms": ("TTFT p95", fmt_ms, False),
    "tbt_p99_ms": ("TBT p99", fmt_ms, False),
    "input_tokens": ("Input tokens", fmt_num, None),
    "output_tokens": ("Output tokens", fmt_num, None),
    "cost_usd": ("Cost", fmt_usd, False),
}


def layout(**query: str) -> html.Div:
    view = View.from_query(query)
    return page(
        "overview",
        view,
        [
            html.H2("Overview"),
            section(
                "This window against the one before it",
                "ov-cards",
                "LLM calls of production (or of the chosen load-test run); TBT p99 pools every "
                "gap between tokens of every call.",
            ),
            section(
                "Agents most at risk of timing out",
                "ov-risk",
                "Ranked by the projected timeout rate at twice today's traffic (docs/analytics.md, "
                '"Timeout risk").',
            ),
        ],
    )


def _cards(frame: pl.DataFrame) -> html.Div:
    cards = []
    for row in frame.iter_rows(named=True):
        label, fmt, better = CARDS[row["metric"]]
        data: dict[str, Any] = {"data-value": "" if row["value"] is None else repr(row["value"])}
        cards.append(
            html.Div(
                [
                    html.Div(label, className="af-card-label"),
                    html.Div(fmt(row["value"]), className="af-card-value"),
                    change(row["change"], higher_is_better=better),
                ],
                className="af-card",
                id=f"card-{row['metric']}",
                **data,
            )
        )
    return html.Div(cards, className="af-cards")


def _risk(q: Query, risk: pl.DataFrame) -> Any:
    if risk.is_empty():
        return empty(
            "No agent runs with a deadline in this window.",
            "Give agents a deadline to see their risk: @tracer.agent(name, timeout_ms=8000).",
        )
    rows = []
    for r in risk.iter_rows(named=True):
        projected = r["projected"] or {}
        rows.append(
            [
                dcc.Link(r["agent"], href="/risk" + replace(q.view, agent=r["agent"]).search()),
                fmt_ms(r["timeout_ms"]),
                fmt_num(r["runs"]),
                fmt_pct(r["observed_rate"]),
                fmt_pct(projected.get("1.5")),
                fmt_pct(projected.get("2")),
                fmt_pct(projected.get("3")),
                "beyond 10x"
                if r["breaking_multiplier"] is None
                else f"{r['breaking_multiplier']:g}x",
            ]
        )
    columns = [
        "Agent",
        "Deadline",
        "Runs",
        "Timed out",
        "At 1.5x",
        "At 2x",
        "At 3x",
        "p99 breaks at",
    ]
    return table(columns, rows, "ov-risk-table")


def register(app: Dash, ctx: Context) -> None:
    dash.register_page(
        __name__, path=PATH, name="Overview", title="agentflight: overview", layout=layout
    )

    # Two callbacks: the cards come at once, the projection (re-timing runs) when ready.
    @app.callback(
        Output("ov-cards", "children"),
        Input(PAGE_STATE, "data"),
        Input(LIVE, "n_intervals"),
    )
    def update_cards(state: dict[str, Any], _: int | None) -> Any:
        def build(q: Query) -> Any:
            return _cards(analytics.overview(q.store, q.since, q.until, q.filters, q.ctx.prices))

        return ctx.render(state, build)

    @app.callback(
        Output("ov-risk", "children"),
        Input(PAGE_STATE, "data"),
        Input(LIVE, "n_intervals"),
    )
    def update_risk(state: dict[str, Any], _: int | None) -> Any:
        def build(q: Query) -> Any:
            return _risk(q, analytics.agents_at_risk(q.store, q.since, q.until, q.filters))

        return ctx.render(state, build)
