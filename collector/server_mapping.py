"""Requests that ClickHouse maps itself: the check at the door, and what the insert sends.

Mapping spans in Python costs tens of microseconds per span (every attribute read out of
protobuf one by one). ClickHouse reads protobuf in C++: the table ``otlp_ingest`` (engine
``Null``, migration 0010) takes whole ``ExportTraceServiceRequest`` messages in the
``Protobuf`` format, and its view ``otlp_ingest_mv`` writes the very rows
:func:`collector.mapping.map_request` would into ``otel_traces`` (a test holds the two to the
same rows). The collector then only checks each request at the door:

* the request is parsed (in C) with a *restricted* copy of the trace schema in which an
  attribute value is a scalar, or an array of scalars; every other OTLP field is kept.
  Anything the restricted schema does not know (a map value, an array nested in an array, a
  field of a newer OTLP version, a non-canonical encoding) changes the request's size once
  unknown fields are dropped, and sends the request down the Python mapping instead: never a
  value mapped differently, only more slowly;
* every span's ids and times are checked as the Python mapping checks them, and the refused
  spans are removed from the request, so the response's ``partial_success`` and what is stored
  are the same either way.

The request goes to the spool as before, and to ClickHouse as an :class:`Envelope`: the
request's bytes, with the project to stamp appended as one more field (protobuf merges
concatenated messages, so nothing is re-encoded).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from google.protobuf import descriptor_pb2
from google.protobuf.internal.encoder import _VarintBytes
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from collector.mapping import (
    MappedSpans,
    TimeWindow,
    is_out_of_window,
    refusal,
    refusal_message,
)
from collector.otlp_view import copy_message, message_class

__all__ = ["FORMAT_SETTINGS", "SCHEMA", "Envelope", "accept"]

_PACKAGE = "agentflight.collector.restricted"
_FILE = "agentflight/collector/otlp_trace_restricted.proto"
_PROJECT_FIELD = 100  # Envelope.project; 101: Envelope.stamp_project (see SCHEMA)
_MAX_NS = 2**63 - 1
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)

# What ClickHouse parses: the OTLP trace messages, wire-compatible, with only the fields
# otel_traces needs (ClickHouse skips the others), and the envelope's two fields.
SCHEMA = """syntax = "proto3";
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; }
message InstrumentationScope { string name = 1; string version = 2; }
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Link {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4;
}
message Status { string message = 2; int32 code = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4;
  string name = 5; int32 kind = 6; fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9; repeated Event events = 11;
  repeated Link links = 13; Status status = 15;
}
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Envelope {
  repeated ResourceSpans resource_spans = 1; string project = 100; bool stamp_project = 101;
}
"""

FORMAT_SETTINGS: dict[str, Any] = {
    "format_schema_source": "string",
    "format_schema": SCHEMA,
    "format_schema_message_name": "Envelope",
    "input_format_protobuf_oneof_presence": 1,
    # The door bounds span times (see TimeWindow); the partitions one insert touches are
    # bounded by it, not by ClickHouse's default of 100.
    "max_partitions_per_insert_block": 0,
    # otel_traces' own views run side by side (about a fifth faster on two cores).
    "parallel_view_processing": 1,
}


def _restricted_messages() -> list[descriptor_pb2.DescriptorProto]:
    def copy(
        message: Any, name: str, retype: dict[str, str | None], drop: tuple[str, ...] = ()
    ) -> descriptor_pb2.DescriptorProto:
        return copy_message(message, name, _PACKAGE, retype, drop)

    common, trace = common_pb2, trace_pb2
    attrs: dict[str, str | None] = {"attributes": "KeyValue"}
    return [
        copy(common.AnyValue, "Scalar", {}, ("array_value", "kvlist_value")),
        copy(common.ArrayValue, "ScalarArray", {"values": "Scalar"}),
        copy(common.AnyValue, "AnyValue", {"array_value": "ScalarArray"}, ("kvlist_value",)),
        copy(common.KeyValue, "KeyValue", {"value": "AnyValue"}),
        copy(resource_pb2.Resource, "Resource", attrs),
        copy(trace.Span.Event, "Event", attrs),
        copy(trace.Span.Link, "Link", attrs),
        copy(trace.Span, "Span", {**attrs, "events": "Event", "links": "Link"}),
        copy(trace.ScopeSpans, "ScopeSpans", {"spans": "Span"}),
        copy(
            trace.ResourceSpans,
            "ResourceSpans",
            {"resource": "Resource", "scope_spans": "ScopeSpans"},
        ),
        copy(
            trace_service_pb2.ExportTraceServiceRequest,
            "Request",
            {"resource_spans": "ResourceSpans"},
        ),
    ]


# The restricted request: attribute values are scalars or arrays of scalars.
_Restricted: Any = message_class(
    _FILE,
    _PACKAGE,
    [common_pb2, resource_pb2, trace_pb2],
    _restricted_messages,
    "Request",
)


@dataclass(frozen=True)
class Envelope:
    """One accepted request for ClickHouse to map: its bytes, its rows, the project."""

    request: bytes
    project: str | None
    rows: int

    @property
    def nbytes(self) -> int:
        return len(self.request)

    def message(self) -> bytes:
        """The ``Envelope`` message, length-delimited as the ``Protobuf`` format reads it."""
        body = self.request
        if self.project is not None:
            project = self.project.encode()
            body += (
                _VarintBytes(_PROJECT_FIELD << 3 | 2)
                + _VarintBytes(len(project))
                + project
                + _VarintBytes((_PROJECT_FIELD + 1) << 3)
                + b"\x01"
            )
        return _VarintBytes(len(body)) + body

    def table(self) -> pa.Table:
        """The same rows mapped in Python (for a server that cannot map them itself)."""
        from collector.otlp import decode_payload  # otlp imports this module

        return decode_payload(self.request, self.project).table


def accept(raw: bytes, project: str | None, window: TimeWindow | None) -> MappedSpans | None:
    """``raw``'s spans for ClickHouse to map, the refused ones removed; None: map in Python.

    None also when ``raw`` is malformed: the Python mapping says why.
    """
    try:
        request = _Restricted.FromString(raw)
    except DecodeError:
        return None
    request.DiscardUnknownFields()
    if request.ByteSize() != len(raw):
        return None  # values this schema cannot hold, newer fields, or a non-canonical encoding
    refused: Counter[str] = Counter()
    rows = 0
    min_ns, max_ns = (1, _MAX_NS) if window is None else (window.earliest_ns, window.latest_ns)
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            spans = scope_spans.spans
            bad: list[int] = []
            for index, span in enumerate(spans):
                trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                if not (
                    len(trace_id) == 16
                    and len(span_id) == 8
                    and (not parent or len(parent) == 8)
                    and trace_id != _ZERO_TRACE
                    and span_id != _ZERO_SPAN
                    and min_ns <= start <= end <= max_ns
                    and not span.events
                    and not span.links
                ):
                    reason = refusal(span, window)
                    if reason is not None:
                        refused[reason] += 1
                        bad.append(index)
                        continue
                rows += 1
            for index in reversed(bad):
                del spans[index]
    rejected = sum(refused.values())
    payload = request.SerializeToString() if rejected else raw
    out_of_window = sum(n for reason, n in refused.items() if is_out_of_window(reason))
    message = refusal_message(refused, window)
    return MappedSpans(Envelope(payload, project, rows), rejected, message, out_of_window)
