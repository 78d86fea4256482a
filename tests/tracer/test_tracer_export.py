"""Export over real sockets: OTLP/HTTP protobuf, gzip and bearer key; a bounded queue with
counted drops; bounded flush and shutdown with the collector down or hung; fork safety."""

from __future__ import annotations

import logging
import os
import socket
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import tracer
from tracer import semconv
from tracer._export import ExportProcessor
from tracer._runtime import STATE
from tracer._settings import Settings

pytestmark = pytest.mark.timeout(60)


@tracer.agent("exported", timeout_ms=5000)
def exported(question: str) -> str:
    return answer([{"role": "user", "content": question}])


@tracer.llm(model="gpt-4o-mini", provider="openai")
def answer(messages: list[dict[str, str]]) -> str:
    tracer.current_span().set_usage(input_tokens=11, output_tokens=7)
    return "forty-two"


def test_spans_reach_an_otlp_http_endpoint(otel_globals: None, otlp_receiver: Any) -> None:
    tracer.configure(
        service_name="jobs-assistant",
        endpoint=otlp_receiver.url,
        api_key="af_test_key",
        project="demo",
    )
    assert exported("meaning?") == "forty-two"
    assert tracer.force_flush()
    received = otlp_receiver.wait_for(2)
    headers, _ = otlp_receiver.requests[0]
    assert headers["path"] == "/v1/traces"
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["content-encoding"] == "gzip"
    assert headers["authorization"] == "Bearer af_test_key"
    chat, agent = received
    assert chat["scope"] == agent["scope"] == "agentflight.tracer"
    assert chat["resource"]["service.name"] == "jobs-assistant"
    assert chat["resource"][semconv.PROJECT] == "demo"
    assert chat["name"] == "chat gpt-4o-mini"
    assert chat["attributes"][semconv.GEN_AI_USAGE_INPUT_TOKENS] == 11
    assert chat["attributes"][semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert chat["attributes"][semconv.LLM_INFLIGHT] == 1
    assert agent["attributes"][semconv.AGENT_ENTRYPOINT] == f"{__name__}:exported"
    assert agent["attributes"][semconv.AGENT_INPUT] == '{"question":"meaning?"}'
    assert agent["attributes"][semconv.AGENT_TIMED_OUT] is False


def test_no_api_key_means_no_authorization_header(
    otel_globals: None, otlp_receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTFLIGHT_API_KEY", raising=False)
    tracer.configure(endpoint=otlp_receiver.url)
    exported("q")
    tracer.force_flush()
    otlp_receiver.wait_for(2)
    headers, _ = otlp_receiver.requests[0]
    assert "authorization" not in headers


class BlockingExporter(SpanExporter):
    """Holds every export until released: a slow collector under our control."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.exported: list[str] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(10)
        self.exported.extend(span.name for span in spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def test_a_full_queue_drops_with_a_count_and_a_warning(
    otel_globals: None, caplog: pytest.LogCaptureFixture
) -> None:
    blocking = BlockingExporter()
    tracer.configure(max_queue_size=4, _exporter_factory=lambda settings: blocking)
    assert STATE.processor is not None and STATE.processor.counts_drops

    @tracer.skill("burst")
    def burst() -> None:
        pass

    for _ in range(4):  # a full batch: the worker takes it and blocks in export
        burst()
    assert blocking.entered.wait(5)
    with caplog.at_level(logging.WARNING, logger="agentflight.tracer"):
        for _ in range(16):  # 4 fill the queue again, 12 find it full
            burst()
    assert tracer.dropped_spans() == 12
    assert "span queue full (max_queue_size=4); 1 span(s) dropped so far" in caplog.text
    assert caplog.text.count("span queue full") == 1  # rate limited
    assert "Queue full" not in caplog.text  # no SDK log record per dropped span
    blocking.release.set()
    assert tracer.force_flush()
    assert len(blocking.exported) == 8


def test_the_callers_thread_never_touches_the_network(
    otel_globals: None, dead_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    connecting_threads: list[str] = []
    real_connect = socket.socket.connect

    def spy(self: socket.socket, address: Any) -> Any:
        connecting_threads.append(threading.current_thread().name)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    tracer.configure(endpoint=dead_endpoint, export_timeout_ms=300, max_queue_size=8)
    caller = threading.current_thread().name
    for _ in range(50):
        exported("q")  # 100 spans
    assert caller not in connecting_threads
    tracer.force_flush(timeout_ms=1000)
    assert connecting_threads, "the background exporter did try to connect"
    assert caller not in connecting_threads


# The hung collector never answers, and the export's own timeout (10 minutes) outlasts the
# test's (60 s): a flush or shutdown that waited for the export would fail the test. One that
# returns, unfinished, returned on its own bound; no wall-clock limit is asserted.
HUNG_EXPORT_MS = 600_000


def test_shutdown_is_bounded_when_the_collector_hangs(
    otel_globals: None, blackhole_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    tracer.configure(
        endpoint=blackhole_endpoint, export_timeout_ms=HUNG_EXPORT_MS, shutdown_timeout_ms=300
    )
    exported("q")
    with caplog.at_level(logging.WARNING, logger="agentflight.tracer"):
        finished = tracer.shutdown()
    assert finished is False
    assert "pending spans are lost" in caplog.text
    assert tracer.force_flush(timeout_ms=200) is False  # shut down: nothing more is sent


def test_force_flush_is_bounded_too(otel_globals: None, blackhole_endpoint: str) -> None:
    tracer.configure(endpoint=blackhole_endpoint, export_timeout_ms=HUNG_EXPORT_MS)
    exported("q")
    assert tracer.force_flush(timeout_ms=300) is False
    tracer.shutdown(timeout_ms=300)


def test_shutdown_flushes_what_is_queued(otel_globals: None, otlp_receiver: Any) -> None:
    tracer.configure(endpoint=otlp_receiver.url)
    exported("q")
    assert tracer.shutdown() is True
    assert len(otlp_receiver.spans()) == 2
    assert tracer.shutdown() is True  # twice is harmless
    exported("after shutdown")  # recorded nowhere, raises nothing
    tracer.configure(endpoint=otlp_receiver.url)  # and the tracer can be set up again
    exported("again")
    tracer.force_flush()
    assert len(otlp_receiver.wait_for(4)) == 4


@pytest.fixture
def no_fork_warning() -> Iterator[None]:
    # Python 3.12+ warns that forking a multi-threaded process may deadlock; the point here
    # is precisely to show that the tracer's threads survive it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        yield


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_exports_its_own_spans(
    otel_globals: None, otlp_receiver: Any, no_fork_warning: None
) -> None:
    tracer.configure(endpoint=otlp_receiver.url)
    exported("parent, queued before the fork")
    pid = os.fork()
    if pid == 0:  # the child: must leave through os._exit, whatever happens
        code = 1
        try:
            exported("child")
            code = 0 if tracer.force_flush(timeout_ms=5000) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert tracer.force_flush()
    inputs = sorted(
        span["attributes"][semconv.AGENT_INPUT]
        for span in otlp_receiver.wait_for(4)
        if span["name"].startswith("invoke_agent")
    )
    # Each span exactly once: the child did not re-send the parent's queue.
    assert inputs == ['{"question":"child"}', '{"question":"parent, queued before the fork"}']


def test_drop_counting_relies_on_the_sdk_queue_layout() -> None:
    # If an SDK release renames the BatchProcessor's queue, this fails loudly rather than
    # drop counting silently switching off.
    processor = ExportProcessor(Settings(), exporter_factory=lambda s: BlockingExporter())
    assert processor.counts_drops
    processor.stop(timeout_millis=100)


def test_otel_compression_variable_overrides_gzip(
    otel_globals: None, otlp_receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "none")
    tracer.configure(endpoint=otlp_receiver.url)
    exported("q")
    tracer.force_flush()
    otlp_receiver.wait_for(2)
    headers, _ = otlp_receiver.requests[0]
    assert "content-encoding" not in headers


def test_otel_resource_attributes_are_kept(
    otel_globals: None, otlp_receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging,team=jobs")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    tracer.configure(endpoint=otlp_receiver.url)
    exported("q")
    tracer.force_flush()
    resource = otlp_receiver.wait_for(2)[0]["resource"]
    assert resource["deployment.environment"] == "staging"
    assert resource["team"] == "jobs"
    assert resource["service.name"] == "from-env"
