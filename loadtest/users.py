"""Locust user classes for LLM endpoints and agent HTTP endpoints.

Importing this module imports Locust, which gevent-monkey-patches the whole process. Import
it in a locustfile or in the Locust worker, never in a process that must stay unpatched::

    from loadtest.users import OpenAIChatUser

    class Chat(OpenAIChatUser):
        host = "http://127.0.0.1:8000/v1"
        model = "gpt-4o-mini"

Each request is measured on the client (TTFT, every TBT gap, end-to-end latency, output
tokens) and reported through ``environment.events.request``: Locust's console stats, CSV and
HTML show rows ``<name> ttft``, ``<name> tbt`` (one sample per gap) and ``<name> e2e``
(failures, with ``response_length`` = output tokens). The ``e2e`` event's context carries the
whole :class:`~loadtest._stats.RequestResult` under ``"agentflight"``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, ClassVar

import gevent
from locust import User, constant, task

from loadtest._http import TRANSPORT_ERRORS, HttpStream, TimeoutReached
from loadtest._sse import StreamMeter
from loadtest._stats import Outcome, RequestResult
from loadtest._tracing import traced_call

__all__ = [
    "AgentHttpUser",
    "LLMRequestError",
    "OpenAIChatUser",
    "TraceChatUser",
    "synthetic_prompt",
]

PAUSE_CHECK_S = 0.25
"""How often a user waiting to send a search level's arrival checks the level still runs."""
_FILLER = (
    "Summarise the incident report below for the on-call engineer and list the next steps. "
    "The checkout service returned errors after the deploy; latency rose in two regions. "
)


class LLMRequestError(Exception):
    """A failed LLM request, as Locust's failure table shows it."""


def synthetic_prompt(tokens: int) -> str:
    """Text of about ``tokens`` tokens at the simulator's four characters per token."""
    chars = max(tokens, 1) * 4
    return (_FILLER * (chars // len(_FILLER) + 1))[:chars]


def _fire(user: User, name: str, response_time: float, **extra: Any) -> None:
    user.environment.events.request.fire(
        request_type="LLM",
        name=name,
        response_time=response_time,
        response_length=extra.pop("response_length", 0),
        exception=extra.pop("exception", None),
        context=extra.pop("context", {}),
        **extra,
    )


class _MeasuredUser(User):
    abstract = True
    wait_time = constant(0)
    timeout: float = 30.0
    """Seconds a whole request may take before it counts as a timeout."""
    request_name: str = "chat"
    report_tbt_gaps: bool = True
    """Fire one ``tbt`` event per gap (Locust's own TBT percentiles); off saves CPU."""
    run_id: str | None = None
    """Tagged on every request's span as ``agentflight.loadtest.run_id``."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.inflight_stage: int | None = None
        """The stage of the request in flight, or ``None`` between requests."""
        self.claimed_stage: int | None = None
        """The stage of a trace's arrival this user claimed, until its request is over."""
        self._http = HttpStream(self.host or "", self.timeout)

    def on_stop(self) -> None:
        self._http.close()

    def current_stage(self) -> int | None:
        return getattr(self.environment.shape_class, "stage_index", None)

    def report(self, result: RequestResult, name: str) -> None:
        if result.ttft_ms is not None:
            _fire(self, f"{name} ttft", result.ttft_ms)
        if self.report_tbt_gaps:
            for gap in result.gaps_ms:
                _fire(self, f"{name} tbt", gap)
        failure = (
            None if result.outcome == "ok" else LLMRequestError(result.error or result.outcome)
        )
        _fire(
            self,
            f"{name} e2e",
            result.e2e_ms,
            response_length=result.output_tokens,
            exception=failure,
            context={"agentflight": result},
            start_time=result.started_at,
        )

    def _post(
        self,
        path: str,
        payload: dict[str, Any],
        headers: dict[str, str],
        stage: int | None,
        *,
        sse: bool,
        any_event_is_content: bool = False,
    ) -> RequestResult:
        """POST ``payload``, read the answer as SSE (``sse``) or whole, and measure it."""
        started_at = time.time()
        start = time.perf_counter()
        meter = StreamMeter(start, any_event_is_content=any_event_is_content)
        outcome: Outcome = "ok"
        error: str | None = None
        request_id: str | None = None
        timed_out = False
        self.inflight_stage = stage
        try:
            with self._http.deadline():
                response = self._http.post(path, json.dumps(payload).encode(), headers)
                request_id = response.get("x-request-id")  # type: ignore[assignment]
                if response.status_code != 200:
                    text = response.read()[:300].decode("utf-8", "replace")
                    outcome = "timeout" if response.status_code in (408, 504) else "error"
                    error = f"HTTP {response.status_code}: {_error_message(text)}"
                elif sse:
                    while not meter.feed(response.readline(b"\n"), time.perf_counter()):
                        pass
                    if meter.done:
                        response.read()  # the chunked terminator: keeps the connection reusable
                    else:
                        self._http.reset()
                        outcome = "timeout" if meter.error == "timeout" else "error"
                        error = meter.error
                else:
                    whole = response.read()
                    meter.ttft_ms = (time.perf_counter() - start) * 1000.0
                    meter.take_body(whole)
        except TimeoutReached:
            self._http.reset()
            outcome, error = "timeout", f"no complete answer within {self.timeout:g}s"
            timed_out = True
        except (*TRANSPORT_ERRORS, ValueError) as exc:
            self._http.reset()
            outcome, error = "error", f"{type(exc).__name__}: {exc}"[:200]
        finally:
            self.inflight_stage = None
        # A request the client gave up on counts at its timeout, not at when the greenlet
        # got to run again.
        elapsed_ms = self.timeout * 1000.0 if timed_out else (time.perf_counter() - start) * 1e3
        return RequestResult(
            outcome=outcome,
            stage=stage,
            e2e_ms=elapsed_ms,
            ttft_ms=meter.ttft_ms,
            gaps_ms=meter.gaps_ms,
            output_tokens=meter.output_tokens,
            error=error,
            request_id=request_id,
            started_at=started_at,
            input_tokens=meter.prompt_tokens,
            reasoning_tokens=meter.reasoning_tokens,
            finish_reason=meter.finish_reason,
            chunks=meter.content_chunks,
        )


def _error_message(body: str) -> str:
    try:
        error = json.loads(body).get("error") or {}
        return str(error.get("message") or body)[:200]
    except (ValueError, AttributeError):
        return body[:200]


class OpenAIChatUser(_MeasuredUser):
    """Streams ``POST {host}/chat/completions`` back to back and measures each stream."""

    abstract = True
    model: str = "agentflight-sim"
    api_key: str = os.environ.get("OPENAI_API_KEY", "")
    prompt_tokens: int = 256
    max_tokens: int | None = None
    """``max_tokens`` of each request; ``None`` leaves the length to the model."""
    ignore_eos: bool = False
    """Send vLLM's ``ignore_eos`` so the answer is exactly ``max_tokens`` long."""
    extra_body: ClassVar[dict[str, Any]] = {}

    def headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "text/event-stream"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        return headers

    @task
    def send(self) -> None:
        """The class's only task. Locust merges the tasks of base classes into subclasses,
        so subclasses change behaviour by overriding :meth:`next_request`, not by adding
        tasks."""
        self.next_request()

    def next_request(self) -> None:
        """One iteration: a synthetic prompt of ``prompt_tokens`` tokens."""
        messages = [{"role": "user", "content": synthetic_prompt(self.prompt_tokens)}]
        self.chat_completion(messages, max_tokens=self.max_tokens)

    def chat_completion(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int | None = None,
        stage: int | None = None,
        name: str | None = None,
        model: str | None = None,
        stream: bool = True,
    ) -> RequestResult:
        """One chat completion (streamed unless ``stream`` is false), measured, reported to
        Locust and traced. ``model`` defaults to the class's."""
        model = model or self.model
        payload: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
        if stream:
            payload["stream_options"] = {"include_usage": True}
        payload.update(self.extra_body)
        if max_tokens is not None:
            payload["max_tokens"] = max_tokens
            if self.ignore_eos:
                payload["ignore_eos"] = True
        stage = self.current_stage() if stage is None else stage
        headers = self.headers()

        def send(trace_headers: dict[str, str]) -> RequestResult:
            return self._post(
                "/chat/completions", payload, {**headers, **trace_headers}, stage, sse=stream
            )

        result = traced_call(
            send,
            model=model,
            max_tokens=max_tokens,
            run_id=self.run_id,
            stage=stage,
            stream=stream,
        )
        self.report(result, name or self.request_name)
        return result


class TraceChatUser(OpenAIChatUser):
    """Replays the arrivals of a :class:`~loadtest.shapes.TraceShape` (or a capacity
    search's rate levels): each request with its prompt and output token counts, or its
    recorded messages, model and streaming. Run it under such a shape only."""

    abstract = True
    ignore_eos = True

    def next_request(self) -> None:
        shape = self.environment.shape_class
        schedule = getattr(shape, "schedule", None)
        arrival = None if schedule is None else schedule.claim()
        if arrival is None:
            gevent.sleep(0.5)
            return
        self.claimed_stage = arrival.stage  # its stage is not over until this request is
        try:
            if not self._wait_until_due(shape, schedule, arrival.due_s):
                return
            messages = arrival.messages or [
                {"role": "user", "content": synthetic_prompt(arrival.prompt_tokens)}
            ]
            self.chat_completion(
                messages,
                max_tokens=arrival.output_tokens or None,
                stage=arrival.stage,
                model=arrival.model,
                stream=arrival.stream,
            )
        finally:
            self.claimed_stage = None

    @staticmethod
    def _wait_until_due(shape: Any, schedule: Any, due_s: float) -> bool:
        """Sleep until ``due_s``; ``False`` if a capacity search's level ended meanwhile
        (its shape swaps the schedule), so the arrival must not be sent."""
        if not getattr(shape, "pausable", False):
            delay = due_s - shape.get_run_time()
            if delay > 0:
                gevent.sleep(delay)
            return True
        while (delay := due_s - shape.get_run_time()) > 0:
            gevent.sleep(min(delay, PAUSE_CHECK_S))
            if shape.schedule is not schedule:
                return False
        return shape.schedule is schedule


class AgentHttpUser(_MeasuredUser):
    """POSTs JSON to an agent's HTTP endpoint; with ``stream`` it reads an SSE answer and
    measures time to the first event and the gaps between events."""

    abstract = True
    path: str = "/"
    payload: ClassVar[dict[str, Any]] = {"input": "hello"}
    stream: bool = False
    request_name = "agent"

    def build_payload(self) -> dict[str, Any]:
        return dict(self.payload)

    @task
    def send(self) -> None:
        """The class's only task; override :meth:`build_payload` or :meth:`call_agent`."""
        self.call_agent(self.build_payload())

    def call_agent(self, payload: dict[str, Any], *, name: str | None = None) -> RequestResult:
        headers = {"content-type": "application/json"}
        if self.stream:
            headers["accept"] = "text/event-stream"
        result = self._post(
            self.path,
            payload,
            headers,
            self.current_stage(),
            sse=self.stream,
            any_event_is_content=True,
        )
        self.report(result, name or self.request_name)
        return result
