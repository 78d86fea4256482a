"""Building OTLP requests for the collector tests, with the opentelemetry-proto classes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}


def any_value(value: Any) -> AnyValue:
    if isinstance(value, AnyValue):
        return value
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, Mapping):
        out = AnyValue()
        out.kvlist_value.values.extend(attributes(value))
        return out
    out = AnyValue()
    out.array_value.values.extend(any_value(v) for v in value)
    return out


def attributes(values: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in values.items()]


def span(
    name: str = "chat gpt-4o-mini",
    *,
    trace_id: bytes | None = None,
    span_id: bytes | None = None,
    parent: bytes = b"",
    start_ns: int | None = None,
    duration_ns: int = 1_500_000_000,
    kind: int = Span.SPAN_KIND_CLIENT,
    attrs: Mapping[str, Any] | None = None,
    status: int = Status.STATUS_CODE_UNSET,
    events: Iterable[tuple[str, int, Mapping[str, Any]]] = (),
) -> Span:
    start = time.time_ns() if start_ns is None else start_ns
    out = Span(
        trace_id=trace_id or os.urandom(16),
        span_id=span_id or os.urandom(8),
        parent_span_id=parent,
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration_ns,
        attributes=attributes(attrs or {}),
    )
    out.status.code = status  # type: ignore[assignment]
    for event_name, at_ns, event_attrs in events:
        out.events.add(name=event_name, time_unix_nano=at_ns, attributes=attributes(event_attrs))
    return out


def request(
    spans: Iterable[Span],
    resource: Mapping[str, Any] | None = None,
    scope: tuple[str, str] = ("tests", "1.0"),
) -> ExportTraceServiceRequest:
    out = ExportTraceServiceRequest()
    rs = out.resource_spans.add()
    rs.resource.attributes.extend(attributes(resource or {"service.name": "svc"}))
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = scope
    ss.spans.extend(spans)
    return out


GENAI_ATTRS: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.request.temperature": 0.2,
    "gen_ai.request.stream": True,
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.response.time_to_first_chunk": 0.25,
    "gen_ai.usage.input_tokens": 120,
    "gen_ai.usage.output_tokens": 64,
    "agentflight.llm.tbt.count": 63,
    "agentflight.llm.tbt.p95_ms": 35.5,
}


def genai_request(
    n: int, trace_id: bytes | None = None, **resource: Any
) -> ExportTraceServiceRequest:
    """``n`` chat spans of one trace (all children of the first)."""
    trace = trace_id or os.urandom(16)
    root = os.urandom(8)
    spans = [
        span(trace_id=trace, span_id=root if i == 0 else None, parent=b"" if i == 0 else root,
             attrs={**GENAI_ATTRS, "gen_ai.usage.input_tokens": 100 + i})
        for i in range(n)
    ]  # fmt: skip
    return request(spans, resource={"service.name": "svc", **resource})
