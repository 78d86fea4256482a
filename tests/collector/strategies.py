"""Hypothesis strategies: arbitrary (valid protobuf) OTLP trace requests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.collector.otlp_builders import attributes

MAX_NS = 2**64 - 1

scalars = st.one_of(
    st.text(max_size=12),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.binary(max_size=6),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
attribute_maps = st.dictionaries(
    st.sampled_from(["gen_ai.request.model", "gen_ai.usage.input_tokens", "service.name", "k"])
    | st.text(max_size=10),
    values,
    max_size=5,
)
trace_ids = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20))
span_ids = st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=10))
times = st.one_of(st.integers(0, 2**63 + 10), st.integers(1_600_000_000 * 10**9, 2**62))


@st.composite
def spans(draw: st.DrawFn) -> Span:
    start = draw(times)
    span = Span(
        trace_id=draw(trace_ids),
        span_id=draw(span_ids),
        parent_span_id=draw(st.one_of(st.just(b""), span_ids)),
        trace_state=draw(st.text(max_size=8)),
        name=draw(st.text(max_size=12)),
        kind=draw(st.integers(0, 8)),  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=draw(st.one_of(st.just(start), times, st.integers(0, MAX_NS))),
        attributes=attributes(draw(attribute_maps)),
    )
    span.status.code = draw(st.integers(0, 4))  # type: ignore[assignment]
    span.status.message = draw(st.text(max_size=8))
    for _ in range(draw(st.integers(0, 2))):
        span.events.add(
            name=draw(st.text(max_size=6)),
            time_unix_nano=draw(times),
            attributes=attributes(draw(attribute_maps)),
        )
    for _ in range(draw(st.integers(0, 2))):
        span.links.add(
            trace_id=draw(trace_ids),
            span_id=draw(span_ids),
            trace_state=draw(st.text(max_size=4)),
            attributes=attributes(draw(attribute_maps)),
        )
    return span


@st.composite
def requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    out = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 2))):
        rs = out.resource_spans.add()
        rs.resource.attributes.extend(attributes(draw(attribute_maps)))
        for _ in range(draw(st.integers(0, 2))):
            ss = rs.scope_spans.add()
            ss.scope.name = draw(st.text(max_size=6))
            ss.scope.version = draw(st.text(max_size=4))
            ss.spans.extend(draw(st.lists(spans(), max_size=3)))
    return out


def json_documents() -> st.SearchStrategy[Any]:
    """Arbitrary JSON, and JSON shaped somewhat like OTLP."""
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
    anything = st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "attributes",
                 "key", "value", "stringValue", "kind", "startTimeUnixNano", "links"]
            ) | st.text(max_size=5),
            inner,
            max_size=4,
        ),
        max_leaves=12,
    )  # fmt: skip
    return anything
