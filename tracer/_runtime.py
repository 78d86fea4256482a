"""Process-wide tracer state and the functions that set it up and tear it down."""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

from . import semconv
from ._errors import logger
from ._export import ExporterFactory, ExportProcessor, run_bounded
from ._settings import Redactor, Settings, resolve_settings, sdk_disabled

SCOPE = "agentflight.tracer"


@dataclass(slots=True)
class _State:
    """What decorated calls read at call time. One instance, ``STATE``."""

    settings: Settings
    tracer: Tracer
    provider: trace.TracerProvider | None = None  # ours or the application's, once configured
    processor: ExportProcessor | None = None  # set when the tracer owns the export pipeline


# Before configure(): settings from the environment, and a tracer that follows the global
# provider (the API's proxy tracer), so that decorators work before and after configure().
STATE = _State(settings=resolve_settings(), tracer=trace.get_tracer(SCOPE))
_lock = threading.Lock()
_atexit_registered = False


def configure(
    service_name: str | None = None,
    endpoint: str | None = None,
    api_key: str | None = None,
    project: str | None = None,
    capture_content: bool | None = None,
    max_content_chars: int | None = None,
    redact: Redactor | None = None,
    *,
    max_exact_chars: int | None = None,
    redact_exact: bool | None = None,
    max_queue_size: int | None = None,
    export_timeout_ms: int | None = None,
    shutdown_timeout_ms: int | None = None,
    _exporter_factory: ExporterFactory | None = None,
) -> Settings:
    """Set the tracer up; see docs/tracer.md. Returns the resolved settings.

    An argument wins over its environment variable, which wins over the default. A bad
    argument raises ``ValueError`` naming it; a bad environment value is logged and ignored.
    If the application already installed a TracerProvider, it is used and nothing is added.
    """
    settings = resolve_settings(
        service_name=service_name,
        endpoint=endpoint,
        api_key=api_key,
        project=project,
        capture_content=capture_content,
        max_content_chars=max_content_chars,
        redact=redact,
        max_exact_chars=max_exact_chars,
        redact_exact=redact_exact,
        max_queue_size=max_queue_size,
        export_timeout_ms=export_timeout_ms,
        shutdown_timeout_ms=shutdown_timeout_ms,
    )
    with _lock:
        previous, STATE.settings = STATE.settings, settings
        if sdk_disabled():
            logger.info("agentflight: OTEL_SDK_DISABLED is set; spans are not recorded")
            return settings
        if STATE.processor is not None:
            resource_changed = settings.service_name not in (
                None,
                previous.service_name,
            ) or settings.project not in (None, previous.project)
            if resource_changed:
                logger.warning(
                    "agentflight: configure() called again; service_name and project "
                    "keep their first values (the resource is fixed), the rest is applied"
                )
            STATE.processor.reconfigure(settings)
            return settings
        current = trace.get_tracer_provider()
        if not isinstance(current, trace.ProxyTracerProvider):
            # The application set a provider up: use it as it is.
            STATE.provider = current
            STATE.tracer = current.get_tracer(SCOPE)
            if endpoint or api_key:
                logger.info(
                    "agentflight: using the application's TracerProvider; "
                    "endpoint and api_key are not applied"
                )
            return settings
        _install_provider(settings, _exporter_factory)
    return settings


def _install_provider(settings: Settings, exporter_factory: ExporterFactory | None) -> None:
    attributes: dict[str, str] = {}
    if settings.service_name:
        attributes[SERVICE_NAME] = settings.service_name
    if settings.project:
        attributes[semconv.PROJECT] = settings.project
    provider = TracerProvider(resource=Resource.create(attributes), shutdown_on_exit=False)
    processor = ExportProcessor(settings, exporter_factory)
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    STATE.provider = provider
    STATE.processor = processor
    # If another provider won a race to be global, ours still records the tracer's spans.
    STATE.tracer = provider.get_tracer(SCOPE)
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(shutdown)
        _atexit_registered = True


def force_flush(timeout_ms: int | None = None) -> bool:
    """Export every ended span now; ``False`` if that did not finish in time."""
    processor = STATE.processor
    if processor is not None:
        return processor.force_flush(timeout_ms)
    flush = getattr(STATE.provider, "force_flush", None)
    if flush is None:
        return True
    timeout_ms = timeout_ms or STATE.settings.export_timeout_ms
    finished, result = run_bounded(lambda: flush(timeout_ms), timeout_ms / 1000, "flush")
    return finished and bool(result)


def shutdown(timeout_ms: int | None = None) -> bool:
    """Flush and stop exporting; returns within ``shutdown_timeout_ms`` even with the
    collector down. A provider the application installed is flushed, not shut down."""
    processor = STATE.processor
    if processor is None:
        return force_flush(timeout_ms or STATE.settings.shutdown_timeout_ms)
    return processor.stop(timeout_ms)


def dropped_spans() -> int:
    """How many spans this process dropped because the export queue was full.

    Exact while one thread produces spans; with several threads producing while the
    exporter drains the queue, it can be off by the few spans in flight at that moment.
    """
    processor = STATE.processor
    return processor.dropped if processor is not None else 0


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    if STATE.processor is not None:
        STATE.processor.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
