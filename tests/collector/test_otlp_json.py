"""OTLP/JSON's fast path reads every document exactly as ``json_format`` does, or steps aside."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.otlp import OTLPError, parse_json_document
from collector.otlp_json import NotFastPath, build_request
from tests.collector.otlp_builders import genai_request
from tests.collector.strategies import json_documents, requests


def exporter_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """``request`` as OTLP/JSON exporters write it: camelCase, integer enums, hex ids."""
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for holder in (span, *span.get("links", [])):
                    for name in ("traceId", "spanId", "parentSpanId"):
                        if name in holder:
                            holder[name] = base64.b64decode(holder[name]).hex()
    return document


def reference(document: dict[str, Any]) -> bytes | None:
    """What ``json_format`` makes of the document (None: it refuses it)."""
    try:
        return parse_json_document(copy.deepcopy(document)).SerializeToString()
    except OTLPError:
        return None


def fast(document: dict[str, Any]) -> bytes | None:
    before = copy.deepcopy(document)
    try:
        built = build_request(document).SerializeToString()
    except NotFastPath:
        built = None
    assert document == before  # the slow path still gets the document as it came
    return built


def test_exporter_shaped_genai_requests_take_the_fast_path() -> None:
    request = genai_request(50)
    document = exporter_json(request)
    built = fast(document)
    assert built is not None
    assert built == reference(document)
    assert ExportTraceServiceRequest.FromString(built) == request


@settings(max_examples=300)
@given(requests())
def test_the_fast_path_builds_what_json_format_parses(request: ExportTraceServiceRequest) -> None:
    document = exporter_json(request)
    built = fast(document)
    if built is not None:
        assert built == reference(document)
    # The exporters' shape is the fast path's: only bytes values and non-finite doubles,
    # which OTLP/JSON writes as strings, and ids of odd lengths step aside.
    text = json.dumps(document)
    if not any(s in text for s in ('"bytesValue"', '"NaN"', 'Infinity"')):
        ids_ok = all(
            len(span.trace_id) in (0, 16) and len(span.span_id) in (0, 8)
            and len(span.parent_span_id) in (0, 8)
            and all(len(k.trace_id) in (0, 16) and len(k.span_id) in (0, 8) for k in span.links)
            for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans
        )  # fmt: skip
        assert built is not None or not ids_ok, text


@settings(max_examples=500)
@given(json_documents())
def test_arbitrary_json_is_built_as_json_format_would_or_left_to_it(document: Any) -> None:
    wrapped = {"resourceSpans": [{"scopeSpans": [{"spans": [document]}]}]}
    for candidate in (document, wrapped):
        if isinstance(candidate, dict):
            built = fast(candidate)
            if built is not None:
                assert built == reference(candidate)


@pytest.mark.parametrize(
    "span",
    [
        {"kind": "SPAN_KIND_CLIENT"},  # enum names
        {"trace_id": "5b8efff798038103d269b633813fc60c"},  # proto field names
        {"traceId": "W47/95gDgQPSabYzgT/GDA=="},  # base64 ids
        {"name": None},
        {"startTimeUnixNano": "+5"},
        {"startTimeUnixNano": 1.0},
        {"attributes": [{"key": "k", "value": {"doubleValue": "NaN"}}]},
        {"attributes": [{"key": "k", "value": {"intValue": "1_000"}}]},
        {"attributes": [{"key": "k", "value": {"bytesValue": "AAE="}}]},
        {"futureField": 1},
    ],
)
def test_other_shapes_are_left_to_json_format(span: dict[str, Any]) -> None:
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    assert fast(document) is None
