"""The collector over HTTP: official OTLP exporter, OTLP/JSON, bad input, health, backpressure."""

from __future__ import annotations

import gc
import gzip
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from collector import Store
from collector.decoder import GC_THRESHOLDS
from tests.collector.conftest import LiveCollector, all_stored, count, wait_until
from tests.collector.otlp_builders import JSON, PROTOBUF, genai_request, request, span

Start = Callable[..., LiveCollector]


def typed(store: Store, trace_id: str) -> list[dict[str, Any]]:
    result = store.query(
        "SELECT span_name, operation, provider, request_model, input_tokens, output_tokens, "
        "cached_tokens, reasoning_tokens, streamed, ttft_ms, tbt_p95_ms, finish_reason, "
        "status_code, project, service_name FROM {db:Identifier}.genai_spans "
        "WHERE trace_id = {t:String} ORDER BY span_name",
        {"t": trace_id},
    )
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_the_official_otlp_exporter(
    start_collector: Start, store: Store, compression: Compression
) -> None:
    live = start_collector()
    provider = TracerProvider(resource=Resource({"service.name": "exporter-test"}))
    exporter = OTLPSpanExporter(endpoint=f"{live.url}/v1/traces", compression=compression)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.exporter", "2.0")
    with tracer.start_as_current_span("invoke_agent job_assistant") as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        agent.set_attribute("gen_ai.agent.name", "job_assistant")
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as llm:
            llm.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.finish_reasons": ("stop",),
                    "gen_ai.response.time_to_first_chunk": 0.125,
                    "gen_ai.usage.input_tokens": 42,
                    "gen_ai.usage.output_tokens": 7,
                    "agentflight.llm.streamed": True,
                    "agentflight.llm.tbt.p95_ms": 12.5,
                }
            )
            llm.add_event("gen_ai.content.first_chunk", {"index": 0})
            llm.set_status(Status(StatusCode.ERROR, "rate limited"))
    trace_id = format(agent.get_span_context().trace_id, "032x")
    provider.shutdown()
    wait_until(lambda: all_stored(store, trace_id, 2), what="2 rows")
    agent_row, llm_row = typed(store, trace_id)[1], typed(store, trace_id)[0]
    assert llm_row == {
        "span_name": "chat gpt-4o-mini",
        "operation": "chat",
        "provider": "openai",
        "request_model": "gpt-4o-mini",
        "input_tokens": 42,
        "output_tokens": 7,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
        "streamed": True,
        "ttft_ms": 125.0,
        "tbt_p95_ms": 12.5,
        "finish_reason": "stop",
        "status_code": "Error",
        "project": "default",
        "service_name": "exporter-test",
    }
    assert (agent_row["operation"], agent_row["status_code"]) == ("invoke_agent", "Unset")
    spans = {s["SpanName"]: s for s in store.trace_spans(trace_id)}
    llm_raw, agent_raw = spans["chat gpt-4o-mini"], spans["invoke_agent job_assistant"]
    assert (llm_raw["SpanKind"], agent_raw["SpanKind"]) == ("Client", "Internal")
    assert llm_raw["ParentSpanId"] == agent_raw["SpanId"] and agent_raw["ParentSpanId"] == ""
    assert (llm_raw["ScopeName"], llm_raw["ScopeVersion"]) == ("tests.exporter", "2.0")
    assert llm_raw["StatusMessage"] == "rate limited"
    assert llm_raw["Events.Name"] == ["gen_ai.content.first_chunk"]
    assert llm_raw["Events.Attributes"] == [{"index": "0"}]
    assert llm_raw["SpanAttributes"]["gen_ai.response.finish_reasons"] == '["stop"]'


def test_otlp_json_over_plain_http(start_collector: Start, store: Store) -> None:
    live = start_collector()
    trace = os.urandom(16).hex()
    good = {"traceId": trace.upper(), "spanId": os.urandom(8).hex(), "name": "curl span",
            "kind": 2, "startTimeUnixNano": "1795000000000000000",
            "endTimeUnixNano": "1795000000500000000",
            "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}],
            "status": {"code": 1}}  # fmt: skip
    bad = dict(good, spanId="not-hex", name="bad")
    body = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "curl"}}]},
        "scopeSpans": [{"scope": {"name": "sh"}, "spans": [good, bad]}]}]}  # fmt: skip
    with live.client() as http:
        response = http.post("/v1/traces", content=json.dumps(body), headers=JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and "invalid span_id" in partial["errorMessage"]
    wait_until(lambda: all_stored(store, trace, 1), what="the JSON span")
    row = typed(store, trace)[0]
    assert (row["input_tokens"], row["status_code"], row["service_name"]) == (12, "Ok", "curl")


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4",
          "gen_ai.usage.prompt_tokens": 11, "gen_ai.usage.completion_tokens": 22},
         {"provider": "openai", "request_model": "gpt-4", "input_tokens": 11,
          "output_tokens": 22}),
        ({"llm.request.type": "chat", "gen_ai.system": "Anthropic",
          "llm.request.model": "claude-3", "llm.usage.prompt_tokens": 5,
          "llm.usage.completion_tokens": 6, "llm.is_streaming": True},
         {"operation": "chat", "provider": "Anthropic", "request_model": "claude-3",
          "input_tokens": 5, "output_tokens": 6, "streamed": True}),
        ({"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
          "llm.token_count.prompt": 30, "llm.token_count.completion": 40,
          "llm.token_count.prompt_details.cache_read": 20},
         {"operation": "chat", "request_model": "gpt-4o", "input_tokens": 30,
          "output_tokens": 40, "cached_tokens": 20}),
    ],
    ids=["legacy-gen_ai", "openllmetry", "openinference"],
)  # fmt: skip
def test_other_vendors_conventions_come_out_typed(
    start_collector: Start, store: Store, attrs: dict[str, Any], expected: dict[str, Any]
) -> None:
    live = start_collector()
    s = span(attrs=attrs)
    with live.client() as http:
        response = http.post(
            "/v1/traces", content=request([s]).SerializeToString(), headers=PROTOBUF
        )
    assert response.status_code == 200
    trace = s.trace_id.hex()
    wait_until(lambda: count(store, "trace_id = {t:String}", "genai_spans", t=trace) == 1)
    row = typed(store, trace)[0]
    assert {k: row[k] for k in expected} == expected


def status_of(response: Any) -> str:
    if response.headers["content-type"] == "application/json":
        return json_format.Parse(response.content, status_pb2.Status()).message
    return status_pb2.Status.FromString(response.content).message


def chunks(data: bytes, size: int = 65536) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_bad_input_never_gets_a_500(start_collector: Start, store: Store) -> None:
    live = start_collector(max_body_bytes=1 << 19)
    big = genai_request(1500).SerializeToString()
    assert len(big) > 1 << 19
    gz = {"content-encoding": "gzip"}
    cases = [
        (b"\x0a\x05\xff", PROTOBUF, 400, "malformed protobuf"),
        (b"{not json", JSON, 400, "malformed JSON"),
        (b'{"resourceSpans": 3}', JSON, 400, "invalid OTLP/JSON"),
        (b"plain", {"content-type": "text/plain"}, 415, "unsupported Content-Type"),
        (b"x", {**PROTOBUF, "content-encoding": "br"}, 415, "unsupported Content-Encoding"),
        (b"not gzip", {**PROTOBUF, **gz}, 400, "bad gzip body"),
        (big, PROTOBUF, 413, "limit"),
        (gzip.compress(big), {**PROTOBUF, **gz}, 413, "decompressed"),
        (gzip.compress(b"\0" * (8 << 20)), {**PROTOBUF, **gz}, 413, "decompressed"),
    ]
    with live.client() as http:
        for body, headers, status, words in cases:
            response = http.post("/v1/traces", content=body, headers=headers)
            assert (response.status_code, words in status_of(response)) == (status, True), body[:20]
        streamed = http.post("/v1/traces", content=chunks(big), headers=PROTOBUF)  # no length
        assert streamed.status_code == 413
        assert http.get("/v1/traces").status_code == 405
        bad_ids = request([span(trace_id=b"\x01" * 3), span(span_id=bytes(8)), span()])
        ok = http.post("/v1/traces", content=bad_ids.SerializeToString(), headers=PROTOBUF)
    assert ok.status_code == 200
    partial = ExportTraceServiceResponse.FromString(ok.content).partial_success
    assert partial.rejected_spans == 2 and "invalid trace_id" in partial.error_message
    wait_until(lambda: count(store) == 1, what="the one valid span")
    metrics = httpx_get(live, "/metrics")
    assert 'agentflight_collector_requests_total{status="400"} 4.0' in metrics
    assert "agentflight_collector_spans_rejected_total 2.0" in metrics


def httpx_get(live: LiveCollector, path: str) -> str:
    with live.client() as http:
        response = http.get(path)
    assert response.status_code == 200
    return response.text


def test_health_readiness_and_metrics(start_collector: Start, store: Store) -> None:
    live = start_collector()
    with live.client() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/readyz").json()["status"] == "ready"
        body = genai_request(25).SerializeToString()
        assert http.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200
    wait_until(lambda: count(store) == 25, what="25 rows")
    # The counters move just after the insert returns, so the rows can be visible first.
    stored = "agentflight_collector_spans_stored_total 25.0"
    wait_until(lambda: stored in httpx_get(live, "/metrics"), what="the stored counter")
    metrics = httpx_get(live, "/metrics")
    for line in (
        "agentflight_collector_spans_received_total 25.0",
        "agentflight_collector_spans_stored_total 25.0",
        "agentflight_collector_queue_rows 0.0",
        "agentflight_collector_spans_spooled_total 0.0",
        "agentflight_collector_clickhouse_up 1.0",
        "agentflight_collector_insert_latency_seconds_count 1.0",
    ):
        assert line in metrics


def test_a_full_queue_answers_503_with_retry_after(start_collector: Start, store: Store) -> None:
    live = start_collector(queue_max_rows=10, batch_rows=10_000, batch_interval_ms=600_000)
    body = genai_request(20).SerializeToString()
    with live.client() as http:
        first = http.post("/v1/traces", content=body, headers=PROTOBUF)
        second = http.post("/v1/traces", content=body, headers=PROTOBUF)
    assert first.status_code == 200  # one request always fits
    assert (second.status_code, second.headers["retry-after"]) == (503, "1")
    assert "queue is full" in status_of(second)
    assert count(store) == 0  # still waiting for its batch interval
    live.stop()  # shutting down drains the queue
    assert count(store) == 20


def test_clickhouse_unreachable_not_ready_but_accepting(start_collector: Start) -> None:
    live = start_collector(url="http://127.0.0.1:9", shutdown_timeout_s=0.5)  # nothing there
    with live.client() as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 503
        body = genai_request(3).SerializeToString()
        assert http.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200
    assert live.collector.pipeline.queued_rows == 3
    live.stop()  # gives up draining after shutdown_timeout_s: the spool keeps the spans
    assert list(live.settings.spool_dir.glob("wal-*.log"))


def test_decoding_in_worker_processes(start_collector: Start, store: Store) -> None:
    live = start_collector(decode_processes=1)
    req = genai_request(30)
    trace = req.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    with live.client() as http:
        ok = http.post("/v1/traces", content=gzip.compress(req.SerializeToString()),
                       headers={**PROTOBUF, "content-encoding": "gzip"})  # fmt: skip
        bad = http.post("/v1/traces", content=b"\x0a\x05\xff", headers=PROTOBUF)
    assert ok.status_code == 200
    assert (bad.status_code, "malformed protobuf" in status_of(bad)) == (400, True)
    wait_until(lambda: all_stored(store, trace, 30), what="30 rows decoded by a worker")
    worker = live.collector.decoder._executor.submit(gc.get_threshold)
    assert worker.result(timeout=60) == GC_THRESHOLDS
