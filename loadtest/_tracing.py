"""Tracing load-test requests with the agentflight tracer.

Every request a load-test user sends runs inside an ``@tracer.llm`` span (``chat {model}``)
tagged with ``agentflight.loadtest.run_id`` and ``agentflight.loadtest.stage`` (1-based, as
in the report), and carrying the client's own measurements under the project's names: TTFT,
the TBT summary, chunk count, usage, finish reason. The W3C ``traceparent`` header goes out
with the request, so a traced server's spans join the load test's trace.

The exporter is the tracer's usual one (``AGENTFLIGHT_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_ENDPOINT``); it exports in the background, so a run works the same with
no collector listening.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import accumulate
from urllib.parse import urlsplit

from opentelemetry.propagate import inject
from opentelemetry.util.types import AttributeValue

import tracer
from loadtest._stats import RequestResult
from tracer import semconv
from tracer._stats import timing_attributes  # one definition of TTFT and TBT

__all__ = ["traced_call", "tracing_session"]

SERVICE_NAME = "agentflight-loadtest"
SHUTDOWN_TIMEOUT_MS = 3000
"""How long the end of a run waits for the last spans to leave (collector down: not long)."""
PROBE_TIMEOUT_S = 0.5

Send = Callable[[dict[str, str]], RequestResult]


class RequestFailed(Exception):
    """The request failed (HTTP error, broken stream); ``error.type`` of its span."""

    def __init__(self, result: RequestResult) -> None:
        super().__init__(result.error or result.outcome)
        self.result = result


class RequestTimedOut(RequestFailed):
    """The request did not finish within the load test's timeout."""


def _timing(result: RequestResult, stream: bool) -> dict[str, AttributeValue]:
    """TTFT, the TBT summary and the TBT gap histogram, by the tracer's own definitions
    (from the chunk times the client measured), so analytics pools load-test gaps with
    production ones."""
    if not stream or result.ttft_ms is None:
        return {
            semconv.LLM_STREAMED: stream,
            semconv.LLM_CHUNK_COUNT: result.chunks,
            semconv.LLM_TBT_COUNT: len(result.gaps_ms),
        }
    first = round(result.ttft_ms * 1e6)
    times = list(accumulate((round(gap * 1e6) for gap in result.gaps_ms), initial=first))
    return timing_attributes(0, times, result.chunks)


def _attributes(
    result: RequestResult, run_id: str | None, stage: int | None, stream: bool
) -> dict[str, AttributeValue]:
    attributes = _timing(result, stream)
    if run_id is not None:
        attributes[semconv.LOADTEST_RUN_ID] = run_id
    if stage is not None:
        attributes[semconv.LOADTEST_STAGE] = stage + 1
    if result.request_id:
        attributes[semconv.GEN_AI_RESPONSE_ID] = result.request_id
    if result.finish_reason:
        attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = [result.finish_reason]
    return attributes


@tracer.llm
def _chat(
    send: Send,
    *,
    model: str,
    max_tokens: int | None,
    stream: bool,
    run_id: str | None,
    stage: int | None,
) -> RequestResult:
    headers: dict[str, str] = {}
    inject(headers)
    result = send(headers)
    span = tracer.current_span()
    span.set_attributes(_attributes(result, run_id, stage, stream))
    span.set_usage(
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        reasoning_tokens=result.reasoning_tokens,
    )
    if result.outcome == "timeout":
        raise RequestTimedOut(result)
    if result.outcome == "error":
        raise RequestFailed(result)
    return result


def traced_call(
    send: Send,
    *,
    model: str,
    max_tokens: int | None,
    run_id: str | None,
    stage: int | None,
    stream: bool = True,
) -> RequestResult:
    """Run ``send(trace_headers)`` inside a chat span; failures end the span as errors."""
    try:
        return _chat(
            send, model=model, max_tokens=max_tokens, stream=stream, run_id=run_id, stage=stage
        )
    except RequestFailed as failure:
        return failure.result


def _reachable(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


@contextmanager
def tracing_session(warnings: list[str]) -> Iterator[None]:
    """Configure the tracer for a load-test process; flush (bounded) at the end.

    Prompts are synthetic, so content capture is off unless the environment asks for it. If
    nothing listens at the exporter's endpoint, export stops at once (spans are dropped, the
    run goes on) and ``warnings`` says so.
    """
    settings = tracer.configure(
        service_name=None if os.environ.get("OTEL_SERVICE_NAME") else SERVICE_NAME,
        capture_content=None if os.environ.get("AGENTFLIGHT_CAPTURE_CONTENT") else False,
        shutdown_timeout_ms=(
            None if os.environ.get("AGENTFLIGHT_SHUTDOWN_TIMEOUT_MS") else SHUTDOWN_TIMEOUT_MS
        ),
    )
    if not _reachable(settings.traces_url):
        tracer.shutdown()
        warnings.append(
            f"no trace collector at {settings.endpoint}: this run's spans were not exported"
        )
    try:
        yield
    finally:
        tracer.shutdown()
