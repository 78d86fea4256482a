"""Plotly figures shared by several pages: percentiles over time, bars of percentiles,
objective lines."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import polars as pl

import analytics
from dashboards._ui import DASHES, PALETTE, plot_layout

__all__ = ["color_map", "percentile_bars", "percentiles_over_time", "slo_lines"]

_SUFFIXES = ("p50", "p95", "p99")


def color_map(names: Sequence[str]) -> dict[str, str]:
    """A stable color per name (sorted), the same in every figure of a page."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(set(names)))}


def percentiles_over_time(
    frame: pl.DataFrame, prefix: str, y_title: str, colors: dict[str, str]
) -> go.Figure:
    """One line per model and percentile: color is the model, dash the percentile."""
    fig = go.Figure()
    for (model,), group in frame.sort("bucket").group_by(["model"], maintain_order=True):
        for suffix in _SUFFIXES:
            column = f"{prefix}_{suffix}"
            if group[column].is_null().all():
                continue
            fig.add_trace(
                go.Scatter(
                    x=group["bucket"].to_list(),
                    y=group[column].to_list(),
                    mode="lines+markers",
                    marker={"size": 4},
                    line={"color": colors.get(str(model)), "dash": DASHES[suffix]},
                    name=f"{model} {suffix}",
                    legendgroup=str(model),
                    connectgaps=False,
                    hovertemplate=f"{model} {suffix}: %{{y:.1f}} ms<br>%{{x}}<extra></extra>",
                )
            )
    plot_layout(fig, y_title=y_title)
    return fig


def slo_lines(fig: go.Figure, slo: analytics.SLO | None, metric: str) -> None:
    """Horizontal lines at the SLO's ``<metric>_pNN`` thresholds, labelled with the objective."""
    for objective in slo.latency(metric) if slo else ():
        fig.add_hline(
            y=objective.threshold,
            line={"color": "#b91c1c", "dash": "dashdot", "width": 1.5},
            annotation_text=f"SLO {objective.text}",
            annotation_position="top left",
            annotation_font={"color": "#b91c1c"},
        )


def percentile_bars(
    frame: pl.DataFrame, label: pl.Expr, prefix: str, y_title: str, *, height: int = 300
) -> go.Figure:
    """Grouped bars: p50/p95/p99 of ``prefix`` for each row, labelled by ``label``."""
    names = frame.select(label.alias("label"))["label"].to_list()
    fig = go.Figure()
    for suffix, shade in zip(_SUFFIXES, ("#93c5fd", "#3b82f6", "#1e3a8a"), strict=True):
        fig.add_trace(
            go.Bar(
                x=names,
                y=frame[f"{prefix}_{suffix}"].to_list(),
                name=suffix,
                marker_color=shade,
                hovertemplate=f"%{{x}} {suffix}: %{{y:.0f}} ms<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    plot_layout(fig, y_title=y_title, height=height)
    return fig
