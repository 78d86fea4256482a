"""One span's details: what it is, its timings, its inputs and outputs, every attribute and
event; values that are JSON are shown indented."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dash import html

from dashboards._ui import fmt_ms, kv
from dashboards._waterfall import Row

__all__ = ["IO_SUFFIXES", "pretty", "span_details"]

IO_SUFFIXES = (
    ".input.messages",
    ".output.messages",
    ".system_instructions",
    ".call.arguments",
    ".call.result",
    ".agent.input",
    ".agent.output",
    ".route.input",
    ".content.input",
    ".content.output",
    ".tool.definitions",
)
"""Attributes shown as the span's inputs and outputs (GenAI and agentflight names)."""
_MAX_CHARS = 20_000


def pretty(value: Any) -> str:
    """A JSON document (or a string holding one) indented; anything else as text."""
    parsed = value
    if isinstance(value, str):
        text = value.strip()
        if not text or text[0] not in "[{":
            return value
        try:
            parsed = json.loads(text)
        except ValueError:
            return value
    try:
        out = json.dumps(parsed, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        out = str(parsed)
    return out if len(out) <= _MAX_CHARS else out[:_MAX_CHARS] + "\n… (cut)"


def _value(value: Any) -> Any:
    text = pretty(value)
    if "\n" in text or len(text) > 120:
        return html.Pre(text, className="af-pre")
    return text


def _kv(items: Mapping[str, Any], table_id: str | None = None, *, ordered: bool = False) -> Any:
    if not items:
        return html.P("none", className="af-note")
    keys = list(items) if ordered else sorted(items)
    return kv([(key, _value(items[key])) for key in keys], table_id)


def _timings(row: Row) -> dict[str, Any]:
    t = row.timings
    out: dict[str, Any] = {}
    if t.get("model"):
        out["model"] = t["model"]
    if row.ttft_ms is not None:
        out["TTFT (first token)"] = fmt_ms(row.ttft_ms)
    for key, label in (
        ("tbt_mean_ms", "TBT mean"),
        ("tbt_p50_ms", "TBT p50"),
        ("tbt_p95_ms", "TBT p95"),
        ("tbt_max_ms", "TBT max"),
    ):
        if t.get(key) is not None:
            out[label] = fmt_ms(t[key])
    for key in ("input_tokens", "output_tokens", "reasoning_tokens", "cached_tokens"):
        if t.get(key):
            out[key.replace("_", " ")] = t[key]
    for key in ("finish_reason", "waste_cause", "inflight", "timeout_ms"):
        if t.get(key) not in (None, "", 0):
            out[key.replace("_", " ")] = t[key]
    return out


def span_details(span: Mapping[str, Any], row: Row) -> html.Div:
    """The panel for one ``Store.trace_detail`` span and its waterfall row."""
    attributes = dict(span.get("SpanAttributes") or {})
    io = {k: v for k, v in attributes.items() if k.endswith(IO_SUFFIXES)}
    rest = {k: v for k, v in attributes.items() if k not in io}
    status = str(span.get("StatusCode"))
    message = span.get("StatusMessage") or ""
    summary = {
        "name": row.name,
        "span id": row.span_id,
        "parent": span.get("ParentSpanId") or "(root)",
        "service": span.get("ServiceName"),
        "kind": span.get("SpanKind"),
        "status": f"{status}: {message}" if message else status,
        "starts at": fmt_ms(row.offset_ms),
        "duration": fmt_ms(row.duration_ms),
    }
    events = [
        html.Li(
            [
                html.Strong(name),
                f" at {fmt_ms((int(ns) - int(span['start_ns'])) / 1e6)} ",
                _value(attrs),
            ]
        )
        for ns, name, attrs in zip(
            span.get("event_ns") or [],
            span.get("Events.Name") or [],
            span.get("Events.Attributes") or [],
            strict=False,
        )
    ]
    return html.Div(
        [
            html.H4(row.name, id="span-title"),
            _kv(summary, "span-summary", ordered=True),
            *(
                [html.H4("Timings"), _kv(_timings(row), "span-timings", ordered=True)]
                if row.kind == "llm"
                else []
            ),
            html.H4("Inputs and outputs"),
            _kv(io, "span-io")
            if io
            else html.P(
                "No content was captured for this span (capture may be off or redacted).",
                className="af-note",
            ),
            html.H4("Attributes"),
            _kv(rest, "span-attributes"),
            *([html.H4("Events"), html.Ul(events)] if events else []),
            html.H4("Resource"),
            _kv(dict(span.get("ResourceAttributes") or {})),
        ],
        id="span-details",
    )
