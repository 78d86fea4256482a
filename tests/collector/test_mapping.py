"""Spans map to otel_traces rows the way the contrib ClickHouse exporter writes them."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector import OTEL_TRACES_COLUMNS
from collector.anyvalue import any_value_str
from collector.mapping import MappedSpans, map_request
from collector.otlp_view import TracesView
from tests.collector.otlp_builders import attributes, request, span
from tests.collector.strategies import requests

T0 = 1_795_000_000_123_456_789
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")
PARENT = bytes.fromhex("00f067aa0ba902b7")
MAX_NS = 2**63 - 1


def mapped(req: ExportTraceServiceRequest, project: str | None = None) -> MappedSpans:
    return map_request(TracesView.FromString(req.SerializeToString()), project)


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """Table rows with times as integer nanoseconds and maps as dicts."""
    for name in ("Timestamp", "Events.Timestamp"):
        index = table.schema.get_field_index(name)
        target = pa.int64() if name == "Timestamp" else pa.list_(pa.int64())
        table = table.set_column(index, name, table.column(name).cast(target))
    out = table.to_pylist()
    for row in out:
        for name in ("ResourceAttributes", "SpanAttributes"):
            row[name] = dict(row[name])
        for name in ("Events.Attributes", "Links.Attributes"):
            row[name] = [dict(m) for m in row[name]]
    return out


def test_a_span_as_the_exporter_writes_it() -> None:
    s = span(
        "chat gpt-4o",
        trace_id=TRACE,
        span_id=SPAN,
        parent=PARENT,
        start_ns=T0,
        duration_ns=2_500_000_001,
        kind=Span.SPAN_KIND_SERVER,
        attrs={"gen_ai.request.model": "gpt-4o", "n": 3, "t": 0.5, "ok": True, "r": ["stop"]},
        status=Status.STATUS_CODE_ERROR,
        events=[("gen_ai.choice", T0 + 10, {"index": 0}), ("x", T0 + 20, {})],
    )
    s.trace_state = "k=v"
    s.status.message = "boom"
    link = s.links.add(trace_id=PARENT * 2, span_id=SPAN, trace_state="a=b")
    link.attributes.extend(attributes({"reason": "retry"}))
    result = mapped(request([s], resource={"service.name": "svc", "host": "h"}))
    assert (result.rows, result.rejected, result.error_message) == (1, 0, "")
    assert result.table.column_names == list(OTEL_TRACES_COLUMNS)
    assert rows(result.table) == [
        {
            "Timestamp": T0,
            "TraceId": TRACE.hex(),
            "SpanId": SPAN.hex(),
            "ParentSpanId": PARENT.hex(),
            "TraceState": "k=v",
            "SpanName": "chat gpt-4o",
            "SpanKind": "Server",
            "ServiceName": "svc",
            "ResourceAttributes": {"service.name": "svc", "host": "h"},
            "ScopeName": "tests",
            "ScopeVersion": "1.0",
            "SpanAttributes": {
                "gen_ai.request.model": "gpt-4o",
                "n": "3",
                "t": "0.5",
                "ok": "true",
                "r": '["stop"]',
            },
            "Duration": 2_500_000_001,
            "StatusCode": "Error",
            "StatusMessage": "boom",
            "Events.Timestamp": [T0 + 10, T0 + 20],
            "Events.Name": ["gen_ai.choice", "x"],
            "Events.Attributes": [{"index": "0"}, {}],
            "Links.TraceId": [(PARENT * 2).hex()],
            "Links.SpanId": [SPAN.hex()],
            "Links.TraceState": ["a=b"],
            "Links.Attributes": [{"reason": "retry"}],
        }
    ]


def test_kind_and_status_names_ids_and_service() -> None:
    spans = [span(kind=k, status=k % 3, start_ns=T0) for k in range(7)]
    spans.append(span(parent=bytes(8), start_ns=T0))  # an all-zero parent is no parent
    out = rows(mapped(request(spans, resource={"service.name": 7})).table)
    kinds = ["Unspecified", "Internal", "Server", "Client", "Producer", "Consumer", ""]
    assert [r["SpanKind"] for r in out[:7]] == kinds
    assert [r["StatusCode"] for r in out[:3]] == ["Unset", "Ok", "Error"]
    assert out[-1]["ParentSpanId"] == ""
    assert {r["ServiceName"] for r in out} == {"7"}  # AsString of the resource attribute


def test_the_key_project_replaces_what_the_payload_claims() -> None:
    resource = {"service.name": "svc", "agentflight.project": "someone-else"}
    req = request([span()], resource=resource)
    req.resource_spans[0].resource.attributes.extend(attributes({"agentflight.project": "2nd"}))
    stamped = rows(mapped(req, project="jobs").table)[0]["ResourceAttributes"]
    assert stamped == {"service.name": "svc", "agentflight.project": "jobs"}
    kept = rows(mapped(request([span()], resource=resource)).table)[0]["ResourceAttributes"]
    assert kept["agentflight.project"] == "someone-else"  # no key, no override


def test_invalid_spans_are_refused_and_the_rest_kept() -> None:
    def bad_link() -> Span:
        s = span(start_ns=T0)
        s.links.add(trace_id=b"short", span_id=SPAN)
        return s

    bad = [
        span(trace_id=b"\x01" * 15),
        span(trace_id=bytes(16)),
        span(span_id=bytes(8)),
        span(span_id=b"\x01" * 9),
        span(parent=b"\x01" * 4),
        span(start_ns=0, duration_ns=5),
        span(start_ns=T0, duration_ns=-1),
        span(start_ns=MAX_NS, duration_ns=1),
        span(start_ns=T0, events=[("e", MAX_NS + 1, {})]),
        bad_link(),
    ]
    good = [span(start_ns=T0, events=[("e", 0, {})]), span(start_ns=MAX_NS, duration_ns=0)]
    result = mapped(request([bad[0], good[0], *bad[1:], good[1]]))
    assert (result.rows, result.rejected) == (2, len(bad))
    reasons = ["2 with an invalid trace_id", "2 with an invalid span_id", "parent_span_id"]
    reasons += ["3 with invalid start/end timestamps", "event timestamp", "link id"]
    for reason in reasons:
        assert reason in result.error_message, result.error_message
    assert {r["SpanId"] for r in rows(result.table)} == {g.span_id.hex() for g in good}


def test_an_empty_request_maps_to_no_rows() -> None:
    result = mapped(ExportTraceServiceRequest())
    assert (result.rows, result.rejected, result.table.schema.names) == (
        0,
        0,
        list(OTEL_TRACES_COLUMNS),
    )


def reference_rows(req: ExportTraceServiceRequest, project: str | None) -> list[dict[str, Any]]:
    """The exporter's mapping written plainly with the generated classes, for comparison."""
    out = []
    kinds = ["Unspecified", "Internal", "Server", "Client", "Producer", "Consumer"]
    statuses = ["Unset", "Ok", "Error"]

    def hexid(raw: bytes) -> str:
        return "" if not any(raw) else raw.hex()

    for rs in req.resource_spans:
        res: dict[str, str] = {}
        for kv in rs.resource.attributes:
            res.setdefault(kv.key, any_value_str(kv.value))
        service = res.get("service.name", "")
        res = {kv.key: any_value_str(kv.value) for kv in rs.resource.attributes}
        if project is not None:
            res.pop("agentflight.project", None)
            res["agentflight.project"] = project
        for ss in rs.scope_spans:
            for s in ss.spans:
                ok = (
                    len(s.trace_id) == 16 and any(s.trace_id)
                    and len(s.span_id) == 8 and any(s.span_id)
                    and len(s.parent_span_id) in (0, 8)
                    and 0 < s.start_time_unix_nano <= s.end_time_unix_nano <= MAX_NS
                    and all(e.time_unix_nano <= MAX_NS for e in s.events)
                    and all(len(li.trace_id) in (0, 16) and len(li.span_id) in (0, 8)
                            for li in s.links)
                )  # fmt: skip
                if not ok:
                    continue
                out.append(
                    {
                        "Timestamp": s.start_time_unix_nano,
                        "TraceId": s.trace_id.hex(),
                        "SpanId": s.span_id.hex(),
                        "ParentSpanId": hexid(s.parent_span_id),
                        "TraceState": s.trace_state,
                        "SpanName": s.name,
                        "SpanKind": kinds[s.kind] if s.kind < 6 else "",
                        "ServiceName": service,
                        "ResourceAttributes": res,
                        "ScopeName": ss.scope.name,
                        "ScopeVersion": ss.scope.version,
                        "SpanAttributes": {a.key: any_value_str(a.value) for a in s.attributes},
                        "Duration": s.end_time_unix_nano - s.start_time_unix_nano,
                        "StatusCode": statuses[s.status.code] if s.status.code < 3 else "",
                        "StatusMessage": s.status.message,
                        "Events.Timestamp": [e.time_unix_nano for e in s.events],
                        "Events.Name": [e.name for e in s.events],
                        "Events.Attributes": [
                            {a.key: any_value_str(a.value) for a in e.attributes} for e in s.events
                        ],
                        "Links.TraceId": [hexid(li.trace_id) for li in s.links],
                        "Links.SpanId": [hexid(li.span_id) for li in s.links],
                        "Links.TraceState": [li.trace_state for li in s.links],
                        "Links.Attributes": [
                            {a.key: any_value_str(a.value) for a in li.attributes} for li in s.links
                        ],
                    }
                )
    return out


@settings(max_examples=150, deadline=None)
@given(requests())
def test_the_fast_view_maps_like_the_plain_generated_classes(
    req: ExportTraceServiceRequest,
) -> None:
    """Attribute bytes read through the view (and its memo) give the same rows, twice."""
    for project in (None, "p"):
        expected = reference_rows(req, project)
        for _ in range(2):  # the second time every attribute comes from the memo
            result = mapped(req, project)
            assert rows(result.table) == expected
            total = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
            assert result.rows + result.rejected == total
