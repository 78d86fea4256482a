"""The tracer's settings: one frozen object, resolved as argument > environment > default."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

logger = logging.getLogger("agentflight.tracer")

# --- Environment variables (each documented in docs/tracer.md) ----------------------------
ENV_ENDPOINT: Final = "AGENTFLIGHT_ENDPOINT"
ENV_API_KEY: Final = "AGENTFLIGHT_API_KEY"
ENV_PROJECT: Final = "AGENTFLIGHT_PROJECT"
ENV_CAPTURE_CONTENT: Final = "AGENTFLIGHT_CAPTURE_CONTENT"
ENV_MAX_CONTENT_CHARS: Final = "AGENTFLIGHT_MAX_CONTENT_CHARS"
ENV_MAX_EXACT_CHARS: Final = "AGENTFLIGHT_MAX_EXACT_CHARS"
ENV_REDACT_EXACT: Final = "AGENTFLIGHT_REDACT_EXACT"
ENV_MAX_QUEUE_SIZE: Final = "AGENTFLIGHT_MAX_QUEUE_SIZE"
ENV_EXPORT_TIMEOUT_MS: Final = "AGENTFLIGHT_EXPORT_TIMEOUT_MS"
ENV_SHUTDOWN_TIMEOUT_MS: Final = "AGENTFLIGHT_SHUTDOWN_TIMEOUT_MS"
ENV_STRICT: Final = "AGENTFLIGHT_STRICT"
# Standard OpenTelemetry variables the settings read (the SDK reads the others itself).
ENV_OTEL_SERVICE_NAME: Final = "OTEL_SERVICE_NAME"
ENV_OTEL_SDK_DISABLED: Final = "OTEL_SDK_DISABLED"
ENV_OTEL_EXPORTER_OTLP_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
ENV_OTEL_BSP_MAX_QUEUE_SIZE: Final = "OTEL_BSP_MAX_QUEUE_SIZE"

DEFAULT_ENDPOINT: Final = "http://127.0.0.1:4318"
DEFAULT_MAX_CONTENT_CHARS: Final = 16_384
DEFAULT_MAX_EXACT_CHARS: Final = 262_144
DEFAULT_MAX_QUEUE_SIZE: Final = 2048
DEFAULT_EXPORT_TIMEOUT_MS: Final = 10_000
DEFAULT_SHUTDOWN_TIMEOUT_MS: Final = 5_000
TRACES_PATH: Final = "/v1/traces"

Redactor = Callable[[str, str], str]
"""``redact(text, attribute_key) -> text``: called on every captured value before the cap
(and on the exact forms, ``agentflight.content.*``, unless ``redact_exact`` is false)."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the tracer reads from ``configure()`` and the environment."""

    service_name: str | None = None
    endpoint: str = DEFAULT_ENDPOINT
    api_key: str | None = field(default=None, repr=False)
    project: str | None = None
    capture_content: bool = True
    max_content_chars: int = DEFAULT_MAX_CONTENT_CHARS
    redact: Redactor | None = None
    max_exact_chars: int = DEFAULT_MAX_EXACT_CHARS
    redact_exact: bool = True
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE
    export_timeout_ms: int = DEFAULT_EXPORT_TIMEOUT_MS
    shutdown_timeout_ms: int = DEFAULT_SHUTDOWN_TIMEOUT_MS

    @property
    def traces_url(self) -> str:
        """Where spans are posted: ``{endpoint}/v1/traces``."""
        return self.endpoint.rstrip("/") + TRACES_PATH


def is_true(value: str | None) -> bool:
    """Whether an environment value spells true (``1``, ``true``, ``yes``, ``on``)."""
    return value is not None and value.strip().lower() in _TRUE


def sdk_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """``OTEL_SDK_DISABLED=true``: set nothing up."""
    return is_true((os.environ if environ is None else environ).get(ENV_OTEL_SDK_DISABLED))


# --- validators: raise ValueError(message) on a bad value ------------------------------


def _endpoint(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a URL string, got {type(value).__name__}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http(s) URL with a host, got {value!r}")
    return value.strip().rstrip("/")


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {value!r}")
    return value.strip()


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueError(f"must be a boolean (true/false/1/0), got {value!r}")


def _positive_int(value: Any) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValueError(f"must be a positive integer, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"must be a positive integer, got {value!r}")
    return value


def _redactor(value: Any) -> Redactor:
    if not callable(value):
        raise ValueError(f"must be a callable (text, key) -> text, got {value!r}")
    return value


_MISSING: Any = object()


def _pick(
    name: str,
    explicit: Any,
    env_names: tuple[str, ...],
    default: Any,
    check: Callable[[Any], Any],
    environ: Mapping[str, str],
) -> Any:
    """Argument > first set environment variable > default; a bad argument raises."""
    if explicit is not None and explicit is not _MISSING:
        try:
            return check(explicit)
        except ValueError as exc:
            raise ValueError(f"configure({name}=...): {exc}") from None
    for env_name in env_names:
        raw = environ.get(env_name)
        if raw is None or raw.strip() == "":
            continue
        try:
            return check(raw)
        except ValueError as exc:
            logger.warning(
                "agentflight: ignoring %s=%r (%s); using the default %r",
                env_name,
                raw,
                exc,
                default,
            )
            return default
    return default


def resolve_settings(
    *,
    service_name: str | None = None,
    endpoint: str | None = None,
    api_key: str | None = None,
    project: str | None = None,
    capture_content: bool | None = None,
    max_content_chars: int | None = None,
    redact: Redactor | None = None,
    max_exact_chars: int | None = None,
    redact_exact: bool | None = None,
    max_queue_size: int | None = None,
    export_timeout_ms: int | None = None,
    shutdown_timeout_ms: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build a ``Settings`` from explicit arguments, then the environment, then defaults."""
    env = os.environ if environ is None else environ
    return Settings(
        service_name=_pick(
            "service_name", service_name, (ENV_OTEL_SERVICE_NAME,), None, _text, env
        ),
        endpoint=_pick(
            "endpoint",
            endpoint,
            (ENV_ENDPOINT, ENV_OTEL_EXPORTER_OTLP_ENDPOINT),
            DEFAULT_ENDPOINT,
            _endpoint,
            env,
        ),
        api_key=_pick("api_key", api_key, (ENV_API_KEY,), None, _text, env),
        project=_pick("project", project, (ENV_PROJECT,), None, _text, env),
        capture_content=_pick(
            "capture_content", capture_content, (ENV_CAPTURE_CONTENT,), True, _flag, env
        ),
        max_content_chars=_pick(
            "max_content_chars",
            max_content_chars,
            (ENV_MAX_CONTENT_CHARS,),
            DEFAULT_MAX_CONTENT_CHARS,
            _positive_int,
            env,
        ),
        redact=_pick("redact", redact, (), None, _redactor, env),
        max_exact_chars=_pick(
            "max_exact_chars",
            max_exact_chars,
            (ENV_MAX_EXACT_CHARS,),
            DEFAULT_MAX_EXACT_CHARS,
            _positive_int,
            env,
        ),
        redact_exact=_pick("redact_exact", redact_exact, (ENV_REDACT_EXACT,), True, _flag, env),
        max_queue_size=_pick(
            "max_queue_size",
            max_queue_size,
            (ENV_MAX_QUEUE_SIZE, ENV_OTEL_BSP_MAX_QUEUE_SIZE),
            DEFAULT_MAX_QUEUE_SIZE,
            _positive_int,
            env,
        ),
        export_timeout_ms=_pick(
            "export_timeout_ms",
            export_timeout_ms,
            (ENV_EXPORT_TIMEOUT_MS,),
            DEFAULT_EXPORT_TIMEOUT_MS,
            _positive_int,
            env,
        ),
        shutdown_timeout_ms=_pick(
            "shutdown_timeout_ms",
            shutdown_timeout_ms,
            (ENV_SHUTDOWN_TIMEOUT_MS,),
            DEFAULT_SHUTDOWN_TIMEOUT_MS,
            _positive_int,
            env,
        ),
    )
