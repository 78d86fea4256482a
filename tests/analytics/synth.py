"""Synthetic spans with known ground truth, written to ``otel_traces`` as the contrib
exporter would (attributes as strings), so they reach ``genai_spans`` through the views.

All times are in the past: a test picks a base time well before now.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from collector import Store
from collector.schema import OTEL_TRACES_COLUMNS
from tracer import semconv
from tracer._histogram import tbt_histogram

_ids = itertools.count(1)


def new_id(width: int = 16) -> str:
    return f"{next(_ids):0{width}x}"


def past(hours: float = 2.0) -> datetime:
    """A base time this many hours ago, on a whole minute."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(hours=hours)


@dataclass
class Span:
    trace_id: str
    start: datetime
    duration_ms: float
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)
    span_id: str = field(default_factory=new_id)
    parent: str = ""
    status: str = "Unset"
    service: str = "svc"
    project: str = "p1"

    @property
    def end(self) -> datetime:
        return self.start + timedelta(milliseconds=self.duration_ms)


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), separators=(",", ":"))
    return str(value)


def row(span: Span) -> list[Any]:
    values = {
        "Timestamp": span.start,
        "TraceId": span.trace_id,
        "SpanId": span.span_id,
        "ParentSpanId": span.parent,
        "TraceState": "",
        "SpanName": span.name,
        "SpanKind": "Client",
        "ServiceName": span.service,
        "ResourceAttributes": {"service.name": span.service, semconv.PROJECT: span.project},
        "ScopeName": "synth",
        "ScopeVersion": "1",
        "SpanAttributes": {k: _string(v) for k, v in span.attrs.items() if v is not None},
        "Duration": round(span.duration_ms * 1e6),
        "StatusCode": span.status,
        "StatusMessage": "",
        "Events.Timestamp": [],
        "Events.Name": [],
        "Events.Attributes": [],
        "Links.TraceId": [],
        "Links.SpanId": [],
        "Links.TraceState": [],
        "Links.Attributes": [],
    }
    return [values[c] for c in OTEL_TRACES_COLUMNS]


def insert(store: Store, spans: list[Span], batch: int = 20_000) -> None:
    for i in range(0, len(spans), batch):
        store.insert_spans([row(s) for s in spans[i : i + batch]], column_oriented=False)


def llm_attrs(
    model: str,
    *,
    ttft_ms: float | None = None,
    gaps_ms: np.ndarray | None = None,
    input_tokens: int = 0,
    output_tokens: int = 0,
    reasoning_tokens: int = 0,
    cached_tokens: int = 0,
    waste: str | None = None,
    fingerprint: str | None = None,
    loadtest_run: str | None = None,
    inflight: int | None = None,
    provider: str = "openai",
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: provider,
        semconv.GEN_AI_REQUEST_MODEL: model,
        semconv.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
        semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: reasoning_tokens,
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: cached_tokens,
        semconv.WASTE_CAUSE: waste,
        semconv.LLM_REQUEST_FINGERPRINT: fingerprint,
        semconv.LOADTEST_RUN_ID: loadtest_run,
        semconv.LLM_INFLIGHT: inflight,
    }
    if ttft_ms is not None:
        attrs[semconv.LLM_STREAMED] = True
        attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttft_ms / 1000.0
    if gaps_ms is not None and len(gaps_ms):
        gaps_ns = sorted(round(g * 1e6) for g in gaps_ms)
        attrs[semconv.LLM_TBT_COUNT] = len(gaps_ns)
        attrs[semconv.LLM_TBT_MEAN_MS] = float(np.mean(gaps_ms))
        attrs[semconv.LLM_TBT_HISTOGRAM] = tbt_histogram(gaps_ns)
    return attrs


def agent_attrs(name: str, timeout_ms: float | None = None) -> dict[str, Any]:
    return {
        semconv.GEN_AI_OPERATION_NAME: "invoke_agent",
        semconv.GEN_AI_AGENT_NAME: name,
        semconv.AGENT_TIMEOUT_MS: None if timeout_ms is None else int(timeout_ms),
    }


def skill_attrs(name: str) -> dict[str, Any]:
    return {semconv.GEN_AI_OPERATION_NAME: "execute_tool", semconv.GEN_AI_TOOL_NAME: name}


def route_attrs(name: str, target: str) -> dict[str, Any]:
    return {semconv.ROUTE_NAME: name, semconv.ROUTE_TARGET: target}
