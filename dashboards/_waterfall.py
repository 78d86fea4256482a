"""One trace as a waterfall: a Gantt of its spans, children under their parent, with the
first-token moment marked on each streamed LLM call and its TBT on hover."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from dashboards._ui import fmt_ms, plot_layout

__all__ = ["FIRST_TOKEN", "Row", "rows", "waterfall"]

FIRST_TOKEN = "first token"
"""The name of the marker trace (one point per streamed LLM call, at its TTFT)."""
_KINDS = {
    "invoke_agent": ("agent run", "#0f172a"),
    "route": ("routing", "#d97706"),
    "execute_tool": ("skill", "#059669"),
    "llm": ("LLM call", "#2563eb"),
    "": ("other", "#9ca3af"),
}
_INDENT = "\u00a0\u00a0\u00a0"


@dataclass(frozen=True, slots=True)
class Row:
    """A span in waterfall order (depth first, children by start time)."""

    span_id: str
    name: str
    depth: int
    offset_ms: float
    duration_ms: float
    kind: str
    status: str
    timings: Mapping[str, Any]
    """Its ``genai_spans`` columns (empty when the view has not typed it)."""

    @property
    def ttft_ms(self) -> float | None:
        value = self.timings.get("ttft_ms")
        return None if value is None else float(value)


def _kind(timings: Mapping[str, Any]) -> str:
    operation = str(timings.get("operation") or "")
    if operation in ("invoke_agent", "route", "execute_tool"):
        return operation
    return "llm" if timings.get("model") else ""


def rows(spans: list[dict[str, Any]], timings: Mapping[str, Mapping[str, Any]]) -> list[Row]:
    """Order ``Store.trace_detail`` spans as a tree: parents first, children by start."""
    if not spans:
        return []
    start = min(int(s["start_ns"]) for s in spans)
    ids = {s["SpanId"] for s in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for span in sorted(spans, key=lambda s: (int(s["start_ns"]), s["SpanId"])):
        parent = span["ParentSpanId"]
        if parent and parent in ids and parent != span["SpanId"]:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)
    out: list[Row] = []
    seen: set[str] = set()

    def visit(span: dict[str, Any], depth: int) -> None:
        if span["SpanId"] in seen:  # a cycle in bad data: draw each span once
            return
        seen.add(span["SpanId"])
        typed = timings.get(span["SpanId"], {})
        out.append(
            Row(
                span_id=span["SpanId"],
                name=span["SpanName"],
                depth=depth,
                offset_ms=(int(span["start_ns"]) - start) / 1e6,
                duration_ms=int(span["Duration"]) / 1e6,
                kind=_kind(typed),
                status=str(span["StatusCode"]),
                timings=typed,
            )
        )
        for child in children.get(span["SpanId"], []):
            visit(child, depth + 1)

    for root in roots:
        visit(root, 0)
    for span in spans:  # spans left out by a cycle
        if span["SpanId"] not in seen:
            visit(span, 0)
    return out


def _tbt(t: Mapping[str, Any]) -> str:
    if t.get("tbt_mean_ms") is None:
        return "TBT: not measured"
    parts = [f"mean {fmt_ms(t['tbt_mean_ms'])}"]
    for key, label in (("tbt_p50_ms", "p50"), ("tbt_p95_ms", "p95"), ("tbt_max_ms", "max")):
        if t.get(key) is not None:
            parts.append(f"{label} {fmt_ms(t[key])}")
    return f"TBT {', '.join(parts)} over {t.get('tbt_count', 0)} gaps"


def _hover(row: Row) -> str:
    lines = [
        f"<b>{row.name}</b>",
        f"starts at {fmt_ms(row.offset_ms)}, lasts {fmt_ms(row.duration_ms)}",
        f"status {row.status}",
    ]
    t = row.timings
    if row.kind == "llm":
        lines.append(f"model {t.get('model')}")
        if row.ttft_ms is not None:
            lines.append(f"TTFT {fmt_ms(row.ttft_ms)}; {_tbt(t)}")
        lines.append(
            f"tokens in {t.get('input_tokens', 0)}, out {t.get('output_tokens', 0)}"
            + (f" (reasoning {t['reasoning_tokens']})" if t.get("reasoning_tokens") else "")
        )
        if t.get("waste_cause"):
            lines.append(f"waste: {t['waste_cause']}")
    if row.kind == "invoke_agent" and t.get("timeout_ms") is not None:
        lines.append(f"deadline {fmt_ms(float(t['timeout_ms']))}")
    return "<br>".join(lines)


def label(row: Row) -> str:
    return _INDENT * row.depth + ("└ " if row.depth else "") + row.name


def waterfall(trace_rows: list[Row]) -> go.Figure:
    """The Gantt: one bar per span (``y`` is its row), colored by kind; ``first token``
    markers at ``offset + TTFT`` of streamed LLM calls. ``customdata`` is the span id."""
    fig = go.Figure()
    for kind, (name, color) in _KINDS.items():
        mine = [(i, r) for i, r in enumerate(trace_rows) if r.kind == kind]
        if not mine:
            continue
        fig.add_trace(
            go.Bar(
                orientation="h",
                y=[i for i, _ in mine],
                x=[max(r.duration_ms, 0.001) for _, r in mine],
                base=[r.offset_ms for _, r in mine],
                customdata=[r.span_id for _, r in mine],
                hovertext=[_hover(r) for _, r in mine],
                hovertemplate="%{hovertext}<extra></extra>",
                marker={
                    "color": color,
                    "line": {
                        "color": ["#dc2626" if r.status == "Error" else color for _, r in mine],
                        "width": 2,
                    },
                },
                name=name,
            )
        )
    marks = [(i, r) for i, r in enumerate(trace_rows) if r.kind == "llm" and r.ttft_ms is not None]
    if marks:
        fig.add_trace(
            go.Scatter(
                x=[r.offset_ms + (r.ttft_ms or 0.0) for _, r in marks],
                y=[i for i, _ in marks],
                mode="markers",
                marker={
                    "symbol": "diamond",
                    "size": 13,
                    "color": "#facc15",
                    "line": {"color": "#111827", "width": 1.5},
                },
                customdata=[r.span_id for _, r in marks],
                hovertext=[
                    f"<b>first token</b> at {fmt_ms(r.ttft_ms)} (TTFT)<br>{_tbt(r.timings)}"
                    for _, r in marks
                ],
                hovertemplate="%{hovertext}<extra></extra>",
                name=FIRST_TOKEN,
            )
        )
    plot_layout(
        fig, x_title="ms since the trace started", height=max(220, 70 + 30 * len(trace_rows))
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=list(range(len(trace_rows))),
        ticktext=[label(r) for r in trace_rows],
        autorange="reversed",
        rangemode="normal",
        automargin=True,
    )
    fig.update_layout(
        barmode="overlay",
        bargap=0.35,
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
        margin={"t": 40},
    )
    return fig
