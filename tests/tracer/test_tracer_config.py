"""configure(): argument > environment > default, OTEL_* respected, the app's provider kept."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tracer
from tracer import semconv
from tracer._runtime import STATE
from tracer._settings import (
    DEFAULT_ENDPOINT,
    DEFAULT_MAX_CONTENT_CHARS,
    DEFAULT_MAX_EXACT_CHARS,
    Settings,
    resolve_settings,
)
from tracer.testing import CapturedSpans

pytestmark = pytest.mark.timeout(60)


def test_defaults_without_arguments_or_environment() -> None:
    settings = resolve_settings(environ={})
    assert settings == Settings()
    assert settings.endpoint == DEFAULT_ENDPOINT == "http://127.0.0.1:4318"
    assert settings.traces_url == "http://127.0.0.1:4318/v1/traces"
    assert settings.capture_content is True
    assert settings.max_content_chars == DEFAULT_MAX_CONTENT_CHARS


def test_arguments_win_over_environment_which_wins_over_defaults() -> None:
    environ = {
        "AGENTFLIGHT_ENDPOINT": "https://collector.example:4318/",
        "AGENTFLIGHT_API_KEY": "env-key",
        "AGENTFLIGHT_PROJECT": "env-project",
        "AGENTFLIGHT_CAPTURE_CONTENT": "false",
        "AGENTFLIGHT_MAX_CONTENT_CHARS": "100",
        "AGENTFLIGHT_MAX_EXACT_CHARS": "5000",
        "AGENTFLIGHT_REDACT_EXACT": "false",
        "AGENTFLIGHT_MAX_QUEUE_SIZE": "64",
        "AGENTFLIGHT_EXPORT_TIMEOUT_MS": "1500",
        "AGENTFLIGHT_SHUTDOWN_TIMEOUT_MS": "700",
        "OTEL_SERVICE_NAME": "env-service",
    }
    from_env = resolve_settings(environ=environ)
    assert from_env == Settings(
        service_name="env-service",
        endpoint="https://collector.example:4318",
        api_key="env-key",
        project="env-project",
        capture_content=False,
        max_content_chars=100,
        max_exact_chars=5000,
        redact_exact=False,
        max_queue_size=64,
        export_timeout_ms=1500,
        shutdown_timeout_ms=700,
    )
    explicit = resolve_settings(
        service_name="arg-service",
        endpoint="http://10.0.0.1:9999",
        api_key="arg-key",
        project="arg-project",
        capture_content=True,
        max_content_chars=5,
        max_exact_chars=7,
        redact_exact=True,
        environ=environ,
    )
    assert (explicit.max_exact_chars, explicit.redact_exact) == (7, True)
    assert (explicit.service_name, explicit.endpoint, explicit.api_key, explicit.project) == (
        "arg-service",
        "http://10.0.0.1:9999",
        "arg-key",
        "arg-project",
    )
    assert (explicit.capture_content, explicit.max_content_chars) == (True, 5)
    assert "arg-key" not in repr(explicit)  # the key never shows in logs


def test_standard_otel_variables_are_fallbacks() -> None:
    settings = resolve_settings(
        environ={
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318",
            "OTEL_BSP_MAX_QUEUE_SIZE": "128",
        }
    )
    assert settings.endpoint == "http://otel:4318"
    assert settings.max_queue_size == 128


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("endpoint", "ftp://collector"),
        ("endpoint", "not a url"),
        ("api_key", ""),
        ("capture_content", "maybe"),
        ("max_content_chars", 0),
        ("max_content_chars", True),
        ("redact", 42),
        ("max_exact_chars", 0),
        ("redact_exact", "sometimes"),
        ("max_queue_size", -5),
    ],
)
def test_a_bad_argument_raises_naming_it(argument: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"configure\({argument}=\.\.\.\)"):
        tracer.configure(**{argument: value})  # type: ignore[arg-type]


def test_a_bad_environment_value_is_reported_and_the_default_used(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="agentflight.tracer"):
        settings = resolve_settings(
            environ={
                "AGENTFLIGHT_MAX_CONTENT_CHARS": "lots",
                "AGENTFLIGHT_CAPTURE_CONTENT": "perhaps",
                "AGENTFLIGHT_ENDPOINT": "collector:4318",
                "AGENTFLIGHT_MAX_EXACT_CHARS": "-1",
            }
        )
    assert settings.max_exact_chars == DEFAULT_MAX_EXACT_CHARS
    assert "AGENTFLIGHT_MAX_EXACT_CHARS='-1'" in caplog.text
    assert settings.max_content_chars == DEFAULT_MAX_CONTENT_CHARS
    assert settings.capture_content is True
    assert settings.endpoint == DEFAULT_ENDPOINT
    assert "AGENTFLIGHT_MAX_CONTENT_CHARS='lots'" in caplog.text
    assert "AGENTFLIGHT_CAPTURE_CONTENT='perhaps'" in caplog.text
    assert "AGENTFLIGHT_ENDPOINT='collector:4318'" in caplog.text


@tracer.skill("decorated_at_import")
def decorated_at_import(x: int) -> int:
    return x * 2


def test_decorators_work_before_and_after_configure(
    otel_globals: None, otlp_receiver: Any, spans: CapturedSpans
) -> None:
    assert decorated_at_import(1) == 2  # before configure(): no SDK, nothing recorded
    assert not tracer.current_span().is_recording()
    tracer.configure(service_name="svc", endpoint=otlp_receiver.url)
    assert decorated_at_import(2) == 4
    assert tracer.force_flush()
    received = otlp_receiver.wait_for(1)
    assert [span["name"] for span in received] == ["execute_tool decorated_at_import"]
    assert spans.spans == ()  # nothing went to the test's own provider


def test_sdk_disabled_sets_nothing_up(otel_globals: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    settings = tracer.configure(service_name="off")
    assert settings.service_name == "off"
    assert STATE.processor is None
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert decorated_at_import(3) == 6


def test_an_application_provider_is_used_and_nothing_is_added(otel_globals: None) -> None:
    exporter = InMemorySpanExporter()
    app_provider = TracerProvider()
    app_provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(app_provider)
    processors_before = list(app_provider._active_span_processor._span_processors)

    tracer.configure(service_name="ignored", endpoint="http://127.0.0.1:1")
    assert list(app_provider._active_span_processor._span_processors) == processors_before
    assert STATE.processor is None
    decorated_at_import(4)
    (span,) = exporter.get_finished_spans()
    assert (span.attributes or {})[semconv.GEN_AI_TOOL_NAME] == "decorated_at_import"
    assert tracer.force_flush() and tracer.shutdown()
    decorated_at_import(5)  # the app's provider is flushed, never shut down by us
    assert len(exporter.get_finished_spans()) == 2
    app_provider.shutdown()


def test_a_provider_set_after_import_is_followed_without_configure(otel_globals: None) -> None:
    exporter = InMemorySpanExporter()
    app_provider = TracerProvider()
    app_provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(app_provider)
    decorated_at_import(6)
    assert len(exporter.get_finished_spans()) == 1
    app_provider.shutdown()


def test_configure_again_switches_the_export_pipeline(
    otel_globals: None, otlp_receiver: Any, dead_endpoint: str
) -> None:
    tracer.configure(endpoint=dead_endpoint, shutdown_timeout_ms=200, export_timeout_ms=200)
    first = STATE.processor
    tracer.configure(endpoint=otlp_receiver.url, capture_content=False)
    assert STATE.processor is first  # the same processor, a new exporter behind it
    assert STATE.settings.capture_content is False
    decorated_at_import(7)
    tracer.force_flush()
    (span,) = otlp_receiver.wait_for(1)
    assert semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in span["attributes"]


def test_configure_again_keeps_the_resource_and_says_so(
    otel_globals: None, otlp_receiver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    tracer.configure(service_name="first", project="p1", endpoint=otlp_receiver.url)
    with caplog.at_level(logging.WARNING, logger="agentflight.tracer"):
        tracer.configure(service_name="second", project="p2", endpoint=otlp_receiver.url)
    assert "service_name and project keep their first values" in caplog.text
    decorated_at_import(8)
    tracer.force_flush()
    (span,) = otlp_receiver.wait_for(1)
    assert span["resource"]["service.name"] == "first"
    assert span["resource"][semconv.PROJECT] == "p1"
