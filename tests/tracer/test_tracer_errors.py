"""User exceptions are recorded and re-raised unchanged; the tracer's own never escape."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import tracer
from tracer import _run, semconv
from tracer._errors import handle_internal_errors, internal_error
from tracer.testing import CapturedSpans, summary
from tracer.testing import attributes as attrs


class QuotaError(RuntimeError):
    pass


def test_a_user_exception_is_recorded_and_reraised_unchanged(spans: CapturedSpans) -> None:
    error = QuotaError("quota exceeded")

    @tracer.skill("lookup")
    def lookup(q: str) -> str:
        raise error

    with pytest.raises(QuotaError) as raised:
        lookup("x")
    assert raised.value is error
    (span,) = spans.spans
    assert summary(span) == {
        "name": "execute_tool lookup",
        "kind": "INTERNAL",
        "span_id": 1,
        "parent_id": None,
        "status": "ERROR",
        "attributes": {
            semconv.GEN_AI_OPERATION_NAME: "execute_tool",
            semconv.GEN_AI_TOOL_NAME: "lookup",
            semconv.GEN_AI_TOOL_TYPE: "function",
            semconv.CODE_NAMESPACE: __name__,
            semconv.CODE_FUNCTION: "test_a_user_exception_is_recorded_and_reraised_unchanged"
            ".<locals>.lookup",
            semconv.GEN_AI_TOOL_CALL_ARGUMENTS: '{"q":"x"}',
            semconv.CONTENT_INPUT: '{"q":"x"}',
            semconv.ERROR_TYPE: f"{__name__}.QuotaError",
        },
        "events": ["exception"],
    }
    assert span.status.description == "QuotaError: quota exceeded"
    event = span.events[0].attributes or {}
    assert event["exception.type"] == f"{__name__}.QuotaError"
    assert event["exception.message"] == "quota exceeded"


def test_failed_llm_calls_are_waste_and_builtin_errors_have_short_types(
    spans: CapturedSpans,
) -> None:
    @tracer.llm(model="m")
    async def call() -> str:
        raise TimeoutError("deadline")

    with pytest.raises(TimeoutError):
        asyncio.run(call())
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.ERROR_TYPE] == "TimeoutError"
    assert span_attributes[semconv.WASTE_CAUSE] == "failed"


def test_errors_propagate_to_parents_as_errors_of_their_own(spans: CapturedSpans) -> None:
    @tracer.skill
    def inner() -> None:
        raise KeyError("k")

    @tracer.agent
    def outer() -> None:
        inner()

    with pytest.raises(KeyError):
        outer()
    assert [span.status.status_code for span in spans.spans] == [StatusCode.ERROR] * 2


def test_cancellation_is_not_an_error(spans: CapturedSpans) -> None:
    started = asyncio.Event()

    @tracer.llm(model="slow")
    async def slow() -> str:
        started.set()
        await asyncio.sleep(10)
        return "never"

    async def main() -> None:
        task = asyncio.create_task(slow())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    (span,) = spans.spans
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()
    assert attrs(span)[semconv.WASTE_CAUSE] == "abandoned"


def test_keyboard_interrupt_is_not_recorded_as_an_error(spans: CapturedSpans) -> None:
    @tracer.agent
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert spans.spans[0].status.status_code is StatusCode.UNSET


def test_generator_exceptions_are_recorded(spans: CapturedSpans) -> None:
    @tracer.skill
    def chunks() -> Iterator[int]:
        yield 1
        raise ValueError("bad chunk")

    produced = []
    with pytest.raises(ValueError, match="bad chunk"):
        produced.extend(chunks())
    assert produced == [1]
    (span,) = spans.spans
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[semconv.ERROR_TYPE] == "ValueError"


def test_calling_with_wrong_arguments_is_a_user_error(spans: CapturedSpans) -> None:
    @tracer.skill
    def gen(a: int) -> Iterator[int]:
        yield a

    with pytest.raises(TypeError):
        next(gen())  # type: ignore[call-arg]
    assert spans.spans[0].status.status_code is StatusCode.ERROR


# --- the tracer's own errors ---------------------------------------------------------------
def _break_span_start(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any, *args: Any) -> Any:
        raise RuntimeError("tracer bug")

    monkeypatch.setattr(_run.Spec, "start", broken)


def test_internal_errors_raise_under_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    _break_span_start(monkeypatch)

    @tracer.skill
    def work() -> int:
        return 1

    with pytest.raises(RuntimeError, match="tracer bug"):
        work()


def test_internal_errors_are_logged_and_swallowed_otherwise(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, spans: CapturedSpans
) -> None:
    monkeypatch.delenv("AGENTFLIGHT_STRICT")
    _break_span_start(monkeypatch)
    calls = []

    @tracer.skill("swallow-check")
    def work(x: int) -> int:
        calls.append(x)
        return x * 2

    with caplog.at_level(logging.WARNING, logger="agentflight.tracer"):
        assert work(21) == 42
    assert calls == [21]  # the user's function ran exactly once
    assert spans.spans == ()
    assert "internal error while starting a span" in caplog.text
    assert "tracer bug" in caplog.text


def test_a_failing_redact_hook_drops_the_value_instead_of_leaking_it(
    monkeypatch: pytest.MonkeyPatch,
    content_settings: Any,
    spans: CapturedSpans,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("AGENTFLIGHT_STRICT")

    def redact(text: str, key: str) -> str:
        raise RuntimeError("hook bug")

    content_settings(redact=redact)

    @tracer.skill
    def secret(token: str) -> str:
        return "ok"

    with caplog.at_level(logging.WARNING, logger="agentflight.tracer"):
        assert secret("hunter2") == "ok"
    span_attributes = attrs(spans.spans[0])
    assert semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in span_attributes
    assert semconv.GEN_AI_TOOL_CALL_RESULT not in span_attributes
    assert "hook bug" in caplog.text


def test_mark_waste_rejects_unknown_causes(
    monkeypatch: pytest.MonkeyPatch, spans: CapturedSpans
) -> None:
    @tracer.llm(model="m")
    def call() -> None:
        tracer.current_span().mark_waste("bogus")

    with pytest.raises(ValueError, match="unknown cause 'bogus'"):
        call()
    monkeypatch.delenv("AGENTFLIGHT_STRICT")
    call()  # logged, not raised
    assert semconv.WASTE_CAUSE not in attrs(spans.spans[-1])


def test_internal_error_logging_is_rate_limited(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("AGENTFLIGHT_STRICT")
    with caplog.at_level(logging.WARNING, logger="agentflight.tracer"):
        for _ in range(5):
            with handle_internal_errors("rate-limit-check"):
                raise RuntimeError("again")
    assert caplog.text.count("rate-limit-check") == 1
    monkeypatch.setenv("AGENTFLIGHT_STRICT", "1")
    with pytest.raises(RuntimeError), handle_internal_errors("strict-check"):
        raise RuntimeError("raised")
    with pytest.raises(LookupError):
        internal_error(LookupError("direct"), "direct-check")


def test_a_span_ended_by_hand_is_left_alone(
    spans: CapturedSpans, caplog: pytest.LogCaptureFixture
) -> None:
    @tracer.llm(model="m")
    def call() -> Iterator[str]:
        tracer.current_span().span.end()
        yield "x"

    @tracer.agent(timeout_ms=100)
    def run() -> str:
        tracer.current_span().span.end()
        return "".join(call())

    with caplog.at_level(logging.WARNING):
        assert run() == "x"
    assert len(spans.spans) == 2
    assert "ended span" not in caplog.text  # no "Setting attribute on ended span" noise


def test_sampled_out_calls_record_nothing_and_children_follow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    from tracer._runtime import STATE

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(ALWAYS_OFF))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(STATE, "tracer", provider.get_tracer("test"))

    @tracer.llm(model="m")
    def call() -> str:
        assert not tracer.current_span().is_recording()
        return "ok"

    @tracer.agent
    def run() -> str:
        return call() + "".join(stream())

    @tracer.llm(model="m")
    def stream() -> Iterator[str]:
        yield "!"

    assert run() == "ok!"
    assert exporter.get_finished_spans() == ()
    provider.shutdown()
