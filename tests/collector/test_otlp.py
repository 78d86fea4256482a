"""Request bodies: encodings, compression, limits and OTLP/JSON's hex ids."""

from __future__ import annotations

import base64
import gzip
import json
import zlib

import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.otlp import (
    DecodedRequest,
    Encoding,
    OTLPError,
    content_coding,
    decode_request,
    encode_response,
    encode_status,
    request_encoding,
)
from tests.collector.otlp_builders import genai_request

LIMIT = 1 << 20
TRACE_HEX = "5B8EFFF798038103D269B633813FC60C"
SPAN_HEX = "EEE19B7EC3C1B174"


def decode(body: bytes, encoding: Encoding = Encoding.PROTOBUF, coding: str = "identity",
           limit: int = LIMIT) -> DecodedRequest:  # fmt: skip
    return decode_request(body, encoding, coding, "proj", limit)


def error_of(body: bytes, **kwargs: object) -> OTLPError:
    with pytest.raises(OTLPError) as caught:
        decode(body, **kwargs)  # type: ignore[arg-type]
    return caught.value


def json_span(**fields: object) -> dict[str, object]:
    span = {
        "traceId": TRACE_HEX,
        "spanId": SPAN_HEX,
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": "1795000000000000000",
        "endTimeUnixNano": 1795000001000000000,
    }
    span.update(fields)
    return span


def json_body(*spans: dict[str, object]) -> bytes:
    doc = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "s"}}]
                },
                "scopeSpans": [{"scope": {"name": "curl"}, "spans": list(spans)}],
                "futureField": {"ignored": True},
            }
        ]
    }
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/x-protobuf", Encoding.PROTOBUF),
        ("application/protobuf", Encoding.PROTOBUF),
        ("Application/JSON; charset=utf-8", Encoding.JSON),
    ],
)
def test_content_types(content_type: str, expected: Encoding) -> None:
    assert request_encoding(content_type) is expected


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/grpc", "json"])
def test_unsupported_content_type_is_415(content_type: str | None) -> None:
    with pytest.raises(OTLPError, match="unsupported Content-Type") as caught:
        request_encoding(content_type)
    assert caught.value.status == 415


def test_content_codings() -> None:
    assert [content_coding(c) for c in (None, "identity", "GZIP", "deflate")] == [
        "identity",
        "identity",
        "gzip",
        "deflate",
    ]
    with pytest.raises(OTLPError, match="unsupported Content-Encoding") as caught:
        content_coding("br")
    assert caught.value.status == 415


def test_protobuf_plain_gzip_and_deflate_decode_alike() -> None:
    body = genai_request(5).SerializeToString()
    plain = decode(body)
    assert (plain.spans.rows, plain.spool_payload(body), plain.payload_gzip) == (5, body, False)
    zipped = gzip.compress(body)
    assert decode(zipped, coding="gzip").spool_payload(zipped) == zipped  # kept compressed
    assert decode(zipped, coding="gzip").spans.table.equals(plain.spans.table)
    for deflated in (zlib.compress(body), zlib.compress(body)[2:-4]):  # zlib-wrapped and raw
        assert decode(deflated, coding="deflate").spans.table.equals(plain.spans.table)
    two_members = gzip.compress(body[:10]) + gzip.compress(body[10:])
    assert decode(two_members, coding="gzip").spans.rows == 5


def test_bad_bodies_are_400_naming_the_problem() -> None:
    assert "malformed protobuf ExportTraceServiceRequest" in error_of(b"\x0a\xff\xff").message
    body = gzip.compress(genai_request(2).SerializeToString())
    assert "bad gzip body" in error_of(b"not gzip at all", coding="gzip").message
    assert "truncated" in error_of(body[:-12], coding="gzip").message
    assert "bad deflate body" in error_of(b"\x78\x9c\xff\xff", coding="deflate").message
    assert "malformed JSON" in error_of(b"{", encoding=Encoding.JSON).message
    assert "JSON object" in error_of(b"[1]", encoding=Encoding.JSON).message
    bad_type = json.dumps(
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}
    )
    assert "invalid OTLP/JSON" in error_of(bad_type.encode(), encoding=Encoding.JSON).message
    deep = b"[" * 100_000 + b"]" * 100_000
    assert error_of(deep, encoding=Encoding.JSON).status == 400
    nested: dict[str, object] = {"stringValue": "x"}
    for _ in range(60):  # valid JSON, valid fields, deeper than protobuf reads
        nested = {"arrayValue": {"values": [nested]}}
    span = json_span(attributes=[{"key": "k", "value": nested}])
    for document in (  # the exporters' shape, and another (read by json_format)
        {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]},
        json.loads(json_body(span)),
    ):
        too_deep = json.dumps(document).encode()
        assert "too deep" in error_of(too_deep, encoding=Encoding.JSON).message
    assert {error_of(b"\x0a\xff\xff").status, error_of(b"{", encoding=Encoding.JSON).status} == {
        400
    }


def test_decompressed_size_is_limited_too() -> None:
    bomb = gzip.compress(b"\0" * (4 * LIMIT))
    assert len(bomb) < LIMIT
    err = error_of(bomb, coding="gzip")
    assert (err.status, "decompressed" in err.message) == (413, True)
    assert error_of(zlib.compress(b"\0" * (2 * LIMIT)), coding="deflate").status == 413


def test_otlp_json_uses_hex_ids_and_integer_enums() -> None:
    decoded = decode(json_body(json_span(parentSpanId="00f067aa0ba902b7")), Encoding.JSON)
    row = decoded.spans.table.to_pylist()[0]
    assert (row["TraceId"], row["SpanId"], row["ParentSpanId"]) == (
        TRACE_HEX.lower(),
        SPAN_HEX.lower(),
        "00f067aa0ba902b7",
    )
    assert (row["SpanKind"], row["ServiceName"], row["Duration"]) == ("Client", "s", 10**9)
    assert decoded.payload_gzip is False  # the spool keeps JSON as protobuf
    # Base64 ids (plain protobuf JSON) are recognised by their length.
    b64 = json_span(traceId=base64.b64encode(bytes.fromhex(TRACE_HEX)).decode())
    assert decode(json_body(b64), Encoding.JSON).spans.table.to_pylist()[0]["TraceId"] == (
        TRACE_HEX.lower()
    )


def test_otlp_json_bad_ids_reject_the_span_only() -> None:
    body = json_body(
        json_span(),
        json_span(traceId="zz" * 16),
        json_span(spanId="123"),
        json_span(parentSpanId="xyz"),
        json_span(links=[{"traceId": "nothex", "spanId": SPAN_HEX}]),
    )
    spans = decode(body, Encoding.JSON).spans
    assert (spans.rows, spans.rejected) == (1, 4)
    assert "invalid trace_id" in spans.error_message


def test_responses_in_the_request_encoding() -> None:
    full = encode_response(Encoding.PROTOBUF)
    assert full == b"" and not ExportTraceServiceResponse.FromString(full).HasField(
        "partial_success"
    )
    partial = ExportTraceServiceResponse.FromString(encode_response(Encoding.PROTOBUF, 2, "why"))
    assert (partial.partial_success.rejected_spans, partial.partial_success.error_message) == (
        2,
        "why",
    )
    assert json.loads(encode_response(Encoding.JSON)) == {}
    assert json.loads(encode_response(Encoding.JSON, 2, "why")) == {
        "partialSuccess": {"rejectedSpans": "2", "errorMessage": "why"}
    }
    status = status_pb2.Status.FromString(encode_status(Encoding.PROTOBUF, 400, "bad"))
    assert (status.code, status.message) == (3, "bad")
    parsed = json_format.Parse(encode_status(Encoding.JSON, 503, "busy"), status_pb2.Status())
    assert (parsed.code, parsed.message) == (14, "busy")
