"""Small building blocks shared by the pages: empty states, graphs, cards, tables, numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

__all__ = [
    "change",
    "empty",
    "fmt_ms",
    "fmt_num",
    "fmt_pct",
    "fmt_usd",
    "graph",
    "kv",
    "plot_layout",
    "section",
    "table",
]

_GRAPH_CONFIG: Any = {"displaylogo": False, "responsive": True}
PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
DASHES = {"p50": "dot", "p95": "dash", "p99": "solid"}


def empty(message: str, hint: str | None = None, *, kind: str = "empty") -> html.Div:
    """What a panel shows instead of a blank chart: what is missing and what to do."""
    return html.Div(
        [html.P(message, className="af-empty-title"), *([html.P(hint)] if hint else [])],
        className=f"af-empty af-{kind}",
    )


def plot_layout(fig: go.Figure, *, y_title: str = "", x_title: str = "", height: int = 320) -> None:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 30, "b": 45},
        legend={"orientation": "h", "y": -0.22, "x": 0},
        hovermode="closest",
        font={"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
    )
    fig.update_yaxes(title_text=y_title, rangemode="tozero")
    fig.update_xaxes(title_text=x_title)


def graph(fig: go.Figure, graph_id: str | dict[str, Any] | None = None) -> dcc.Graph:
    """The figure, as tall as its layout says (a responsive graph fills its box otherwise)."""
    kwargs: dict[str, Any] = {"id": graph_id} if graph_id is not None else {}
    if fig.layout.height:
        kwargs["style"] = {"height": f"{fig.layout.height}px"}
    return dcc.Graph(figure=fig, config=_GRAPH_CONFIG, className="af-graph", **kwargs)


def section(title: str, body_id: str, note: str | None = None) -> html.Section:
    """A titled panel whose body (``body_id``) a callback fills."""
    return html.Section(
        [
            html.H3(title),
            *([html.P(note, className="af-note")] if note else []),
            html.Div(html.Div("Loading…", className="af-loading"), id=body_id),
        ],
        className="af-panel",
    )


def table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str | None = None
) -> html.Table:
    head = html.Thead(html.Tr([html.Th(c) for c in columns]))
    body = html.Tbody([html.Tr([html.Td(cell) for cell in row]) for row in rows])
    kwargs: dict[str, Any] = {"id": table_id} if table_id else {}
    return html.Table([head, body], className="af-table", **kwargs)


def kv(items: Sequence[tuple[str, Any]], table_id: str | None = None) -> html.Table:
    """A two-column table of names and values, in the order given."""
    body = html.Tbody([html.Tr([html.Td(k), html.Td(v)]) for k, v in items])
    kwargs: dict[str, Any] = {"id": table_id} if table_id else {}
    return html.Table(body, className="af-table af-kv", **kwargs)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def fmt_ms(value: Any) -> str:
    if not _finite(value):
        return "-"
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def fmt_pct(value: Any, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f} %" if _finite(value) else "-"


def fmt_num(value: Any) -> str:
    if not _finite(value):
        return "-"
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def fmt_usd(value: Any) -> str:
    if not _finite(value):
        return "-"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def change(value: Any, *, higher_is_better: bool | None = False) -> html.Span:
    """A change against the previous window: ``▲ 12.0 %``, red when it is the bad way
    (``higher_is_better=None``: neither way is bad)."""
    if not _finite(value):
        return html.Span("no previous data", className="af-change af-flat")
    if value == 0:
        return html.Span("= 0 % vs previous", className="af-change af-flat")
    up = value > 0
    tone = (
        "af-flat" if higher_is_better is None else "af-good" if up == higher_is_better else "af-bad"
    )
    arrow = "▲" if up else "▼"
    return html.Span(f"{arrow} {abs(value) * 100:.1f} % vs previous", className=f"af-change {tone}")
