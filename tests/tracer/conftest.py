"""Fixtures for the tracer's tests.

Every test gets its own TracerProvider with an in-memory exporter and deterministic ids (via
``tracer.testing.capture_spans``), and is checked afterwards for leaks: no span left open, no
OpenTelemetry context left attached, no LLM call left counted as in flight. Local HTTP
servers stand in for an OTLP collector and an OpenAI-compatible streaming API.
"""

from __future__ import annotations

import gc
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.util._once import Once

from tests.http_server import QuietHandler, serving
from tracer import _runtime
from tracer._inflight import INFLIGHT
from tracer._runtime import STATE
from tracer._settings import resolve_settings
from tracer.testing import CapturedSpans, capture_spans


# --- every test ---------------------------------------------------------------------------
class OpenSpans(SpanProcessor):
    """Remembers spans that started and have not ended."""

    def __init__(self) -> None:
        self.open: dict[tuple[int, int], str] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.open[(span.context.trace_id, span.context.span_id)] = span.name

    def on_end(self, span: ReadableSpan) -> None:
        assert span.context is not None
        self.open.pop((span.context.trace_id, span.context.span_id), None)


@pytest.fixture(autouse=True)
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Internal tracer errors raise (tests that check swallowing unset this)."""
    monkeypatch.setenv("AGENTFLIGHT_STRICT", "1")


@pytest.fixture(autouse=True)
def spans(strict: None) -> Iterator[CapturedSpans]:
    """The spans the code under test recorded; fails the test if one leaked."""
    with capture_spans() as captured:
        tracker = OpenSpans()
        captured.provider.add_span_processor(tracker)
        yield captured
        if tracker.open:
            gc.collect()  # abandoned streams end when collected
        assert not tracker.open, f"spans left open: {sorted(tracker.open.values())}"
    assert trace.get_current_span() is trace.INVALID_SPAN, "a span is still attached"
    assert INFLIGHT._counts == {}, f"LLM calls still counted in flight: {INFLIGHT._counts}"


@pytest.fixture
def content_settings() -> Iterator[Callable[..., None]]:
    """``content_settings(max_content_chars=..., redact=...)`` for the rest of the test."""
    saved = STATE.settings

    def use(**settings: Any) -> None:
        STATE.settings = resolve_settings(**settings)

    yield use
    STATE.settings = saved


# --- OpenTelemetry globals, for configure() -----------------------------------------------
@pytest.fixture
def otel_globals() -> Iterator[None]:
    """A pristine global TracerProvider slot and tracer state; both restored afterwards."""
    saved_trace = (trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE)
    saved_state = (STATE.settings, STATE.tracer, STATE.provider, STATE.processor)
    trace._TRACER_PROVIDER = None
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    # As in a fresh process: the tracer follows whatever provider becomes global.
    STATE.tracer = trace.get_tracer(_runtime.SCOPE)
    STATE.provider = None
    STATE.processor = None
    try:
        yield
    finally:
        if STATE.processor is not None:
            STATE.processor.stop(timeout_millis=2000)
        trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = saved_trace
        STATE.settings, STATE.tracer, STATE.provider, STATE.processor = saved_state
        _runtime._lock = threading.Lock()


# --- local HTTP servers -------------------------------------------------------------------


@pytest.fixture
def dead_endpoint() -> str:
    """A local URL where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def blackhole_endpoint() -> Iterator[str]:
    """A local URL that accepts connections and never answers (a hung collector)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@dataclass
class StreamScript:
    """What the fake OpenAI server streams: ``(delay_s, text)`` pairs, then usage."""

    first_delay_s: float = 0.0
    gap_s: float = 0.0
    texts: list[str] = field(default_factory=lambda: ["Hello", " world", "!"])
    usage: dict[str, Any] | None = None
    model: str = "sim-model-001"
    status: int = 200
    bodies: list[dict[str, Any]] = field(default_factory=list)


def _sse_chunks(script: StreamScript) -> Iterator[tuple[float, dict[str, Any]]]:
    base = {"id": "chatcmpl-sim", "object": "chat.completion.chunk", "created": 1, "model": ""}
    base["model"] = script.model

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice]}

    yield 0.0, chunk({"role": "assistant", "content": ""})
    for i, text in enumerate(script.texts):
        yield (script.first_delay_s if i == 0 else script.gap_s), chunk({"content": text})
    yield 0.0, chunk({}, "stop")
    if script.usage is not None:
        yield 0.0, {**base, "choices": [], "usage": script.usage}


@pytest.fixture
def openai_server() -> Iterator[tuple[str, StreamScript]]:
    """An OpenAI-compatible ``/v1/chat/completions`` that streams with controlled sleeps."""
    script = StreamScript()

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.bodies.append(body)
            if script.status != 200:
                error = json.dumps({"error": {"message": "simulated", "type": "server_error"}})
                self.send_response(script.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(error)))
                self.end_headers()
                self.wfile.write(error.encode())
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for delay, payload in _sse_chunks(script):
                    time.sleep(delay)
                    self._chunk(f"data: {json.dumps(payload)}\n\n".encode())
                self._chunk(b"data: [DONE]\n\n")
                self._chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client closed the stream early

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    with serving(Handler) as url:
        yield f"{url}/v1", script
