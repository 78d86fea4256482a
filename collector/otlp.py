"""OTLP/HTTP on the wire: content types, compression, OTLP/JSON, and the responses.

Every problem with a request body becomes an :class:`OTLPError` carrying the HTTP status and
a message that names the problem; nothing a client sends can raise anything else.

OTLP/JSON is the protobuf JSON mapping with the spec's deviations
(``opentelemetry-proto/docs/specification.md``, *JSON Protobuf Encoding*): ``traceId`` and
``spanId`` fields are case-insensitive **hex**, not base64; enums are integers; int64 values
may be strings or numbers; unknown fields are ignored. Documents in the shape exporters write
are built into the request directly (:mod:`collector.otlp_json`); any other is parsed by
``google.protobuf.json_format`` once its ids are rewritten from hex to base64. (Base64 ids,
as a plain protobuf JSON encoder writes them, are accepted too: their lengths cannot be
mistaken for hex.)
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import zlib
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector.mapping import MappedSpans, TimeWindow, in_window, map_request
from collector.otlp_json import NotFastPath, build_request
from collector.otlp_view import TracesView
from collector.server_mapping import Envelope, accept

__all__ = [
    "DecodedRequest",
    "Encoding",
    "OTLPError",
    "content_coding",
    "decode_payload",
    "decode_request",
    "encode_response",
    "encode_status",
    "map_payload",
    "parse_json_document",
    "request_encoding",
]

_VIEW_NAME = TracesView.DESCRIPTOR.full_name
_REQUEST_NAME = ExportTraceServiceRequest.DESCRIPTOR.full_name
# gRPC codes carried in google.rpc.Status (clients log them; OTLP/HTTP does not act on them).
_GRPC_CODE = {400: 3, 401: 16, 413: 8, 415: 3, 429: 8, 503: 14}
_INVALID_ID = "AA=="  # one zero byte: decodes fine, then fails the id length check


class OTLPError(Exception):
    """A request the collector answers with an error status."""

    def __init__(self, status: int, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s

    def __reduce__(self) -> tuple[type[OTLPError], tuple[int, str, int | None]]:
        return OTLPError, (self.status, self.message, self.retry_after_s)  # across processes


class Encoding(enum.Enum):
    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


@dataclass(frozen=True)
class DecodedRequest:
    """A request, mapped, and the bytes the spool keeps to map it again after a crash."""

    spans: MappedSpans
    payload: bytes | None  # the request as protobuf (gzip'd when ``payload_gzip``); None:
    payload_gzip: bool  # it is the body as received (saves copying it between processes)

    def spool_payload(self, body: bytes) -> bytes:
        return body if self.payload is None else self.payload


def request_encoding(content_type: str | None) -> Encoding:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in ("application/x-protobuf", "application/protobuf"):
        return Encoding.PROTOBUF
    if media == "application/json":
        return Encoding.JSON
    raise OTLPError(
        415,
        f"unsupported Content-Type {content_type!r}: send application/x-protobuf or "
        "application/json (OTLP/JSON)",
    )


def content_coding(content_encoding: str | None) -> str:
    coding = (content_encoding or "identity").strip().lower()
    if coding in ("", "identity", "none"):
        return "identity"
    if coding in ("gzip", "x-gzip"):
        return "gzip"
    if coding == "deflate":
        return "deflate"
    raise OTLPError(
        415, f"unsupported Content-Encoding {content_encoding!r}: use gzip, deflate or none"
    )


def _inflate(body: bytes, wbits: int, limit: int, name: str) -> bytes:
    """Decompress every member of ``body``, never producing more than ``limit`` bytes."""
    parts: list[bytes] = []
    total = 0
    data = body
    while data:
        stream = zlib.decompressobj(wbits)
        try:
            chunk = stream.decompress(data, limit + 1 - total)
        except zlib.error as exc:
            raise OTLPError(400, f"bad {name} body: {exc}") from None
        total += len(chunk)
        if total > limit:
            raise OTLPError(413, f"request body is over {limit} bytes once decompressed")
        parts.append(chunk)
        if not stream.eof:
            raise OTLPError(400, f"bad {name} body: the compressed stream is truncated")
        data = stream.unused_data
        if data and wbits != 31:
            raise OTLPError(400, f"bad {name} body: data after the end of the stream")
    return b"".join(parts)


def decompress(body: bytes, coding: str, limit: int) -> bytes:
    if coding == "gzip":
        return _inflate(body, 31, limit, "gzip")
    if coding == "deflate":  # HTTP deflate is zlib-wrapped; some clients send it raw
        zlib_header = len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] << 8 | body[1]) % 31 == 0
        return _inflate(body, 15 if zlib_header else -15, limit, "deflate")
    return body


def _fix_id(value: Any, size: int) -> Any:
    """An OTLP/JSON id (hex) as protobuf JSON wants it (base64); bad ids fail the span only."""
    if not isinstance(value, str) or not value:
        return value
    if len(value) == 2 * size:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            return _INVALID_ID
        return base64.b64encode(raw).decode() if len(raw) == size else _INVALID_ID
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return _INVALID_ID
    return value if len(raw) == size else _INVALID_ID


def _items(parent: Any, *names: str) -> list[Any]:
    if not isinstance(parent, dict):
        return []
    for name in names:
        found = parent.get(name)
        if isinstance(found, list):
            return found
    return []


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    id_fields = (("traceId", 16), ("trace_id", 16), ("spanId", 8), ("span_id", 8))
    for resource_spans in _items(document, "resourceSpans", "resource_spans"):
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
            for span in _items(scope_spans, "spans"):
                if not isinstance(span, dict):
                    continue
                for name, size in (*id_fields, ("parentSpanId", 8), ("parent_span_id", 8)):
                    if name in span:
                        span[name] = _fix_id(span[name], size)
                for link in _items(span, "links"):
                    if isinstance(link, dict):
                        for name, size in id_fields:
                            if name in link:
                                link[name] = _fix_id(link[name], size)


def json_to_protobuf(body: bytes) -> bytes:
    """An OTLP/JSON ``ExportTraceServiceRequest`` as protobuf bytes."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise OTLPError(400, f"malformed JSON: {exc}") from None
    if not isinstance(document, dict):
        raise OTLPError(400, "OTLP/JSON body must be a JSON object (ExportTraceServiceRequest)")
    try:
        return build_request(document).SerializeToString()
    except NotFastPath:  # not in the exporters' shape: json_format reads it, or says why not
        return parse_json_document(document).SerializeToString()


def parse_json_document(document: dict[str, Any]) -> ExportTraceServiceRequest:
    """An OTLP/JSON document read by ``json_format`` (its ids are rewritten in place)."""
    _hex_ids_to_base64(document)
    message = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    # json_format raises ParseError for most bad documents, and a few other errors for
    # adversarial ones (deep nesting, wrong types in odd places): all of them are bad input.
    except Exception as exc:
        raise OTLPError(400, f"invalid OTLP/JSON: {exc}") from None
    return message


def decode_payload(
    payload: bytes, project: str | None, window: TimeWindow | None = None
) -> MappedSpans:
    """Map protobuf request bytes (raises :class:`OTLPError` 400 when they are malformed).

    ``window`` refuses spans outside it; requests read back from the spool were checked when
    they were accepted and are mapped without one, so nothing acknowledged is refused later.
    """
    try:
        return map_request(TracesView.FromString(payload), project, window)
    except DecodeError as exc:
        detail = str(exc).replace(_VIEW_NAME, _REQUEST_NAME)
        raise OTLPError(400, f"malformed protobuf ExportTraceServiceRequest: {detail}") from None


def map_payload(
    payload: bytes, project: str | None, window: TimeWindow | None = None, server_side: bool = False
) -> MappedSpans:
    """:func:`decode_payload`; with ``server_side``, for ClickHouse to map when it can."""
    if server_side:
        accepted = accept(payload, project, window)
        if accepted is not None:
            return accepted
    return decode_payload(payload, project, window)


def decode_request(
    body: bytes,
    encoding: Encoding,
    coding: str,
    project: str | None,
    limit: int,
    window: TimeWindow | None = None,
    server_side: bool = False,
) -> DecodedRequest:
    """Decompress, decode and map one ``POST /v1/traces`` body.

    With ``server_side``, a request ClickHouse can map itself is only checked here (see
    :mod:`collector.server_mapping`); the spans are the same either way.
    """
    raw = decompress(body, coding, limit)
    if encoding is Encoding.JSON:
        raw = json_to_protobuf(raw)
        coding = "identity"
    accepted = accept(raw, project, window) if server_side else None
    if accepted is not None:
        envelope = accepted.data
        if accepted.rejected and isinstance(envelope, Envelope):  # the spool keeps what was
            return DecodedRequest(accepted, envelope.request, payload_gzip=False)  # accepted
        if coding == "gzip":
            return DecodedRequest(accepted, None, payload_gzip=True)
        return DecodedRequest(accepted, None if raw is body else raw, payload_gzip=False)
    if encoding is Encoding.JSON:
        try:
            spans = decode_payload(raw, project, window)
        except OTLPError:  # valid JSON, valid fields: only the depth can fail it here
            raise OTLPError(
                400,
                "invalid OTLP/JSON: values nested too deep (protobuf reads at most 100 "
                "levels of messages; each arrayValue or kvlistValue level counts as two)",
            ) from None
    else:
        spans = decode_payload(raw, project, window)
    if spans.out_of_window and window is not None:
        # The spool keeps what was accepted: without the refused spans, which would otherwise
        # be stored when the request is read back (that is mapped without a window).
        return DecodedRequest(spans, _without_out_of_window(raw, window), payload_gzip=False)
    if coding == "gzip":
        return DecodedRequest(spans, None, payload_gzip=True)
    return DecodedRequest(spans, None if raw is body else raw, payload_gzip=False)


def _without_out_of_window(payload: bytes, window: TimeWindow) -> bytes:
    request = ExportTraceServiceRequest.FromString(payload)
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            kept = [span for span in scope_spans.spans if in_window(span, window)]
            del scope_spans.spans[:]
            scope_spans.spans.extend(kept)
    return request.SerializeToString()


def encode_response(encoding: Encoding, rejected: int = 0, message: str = "") -> bytes:
    """An ``ExportTraceServiceResponse``; ``partial_success`` only when spans were refused."""
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if encoding is Encoding.JSON:
        return json.dumps(json_format.MessageToDict(response), separators=(",", ":")).encode()
    return response.SerializeToString()


def encode_status(encoding: Encoding, status: int, message: str) -> bytes:
    """The ``google.rpc.Status`` body OTLP/HTTP requires for every 4xx and 5xx."""
    body = status_pb2.Status(code=_GRPC_CODE.get(status, 2), message=message)
    if encoding is Encoding.JSON:
        return json.dumps(json_format.MessageToDict(body), separators=(",", ":")).encode()
    return body.SerializeToString()
