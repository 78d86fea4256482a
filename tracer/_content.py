"""Content capture: values to JSON, redaction, the per-value cap and its bookkeeping."""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Mapping
from typing import Any, Final

from opentelemetry.trace import Span

from . import semconv
from ._errors import internal_error
from ._settings import Settings

REDACTED_EMAIL: Final = "[REDACTED_EMAIL]"
REDACTED_API_KEY: Final = "[REDACTED_API_KEY]"

# Built-in patterns, applied to every captured value after the user's hook.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_API_KEY = re.compile(
    r"\b(?:"
    r"sk-[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic (sk-ant-...), many OpenAI-compatible APIs
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{40,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r")"
    r"|(?<=Bearer )[A-Za-z0-9._~+/-]{20,}=*"  # any bearer token in a header-like string
)
# A match is never longer than this, so redacting a slightly longer prefix than the cap
# catches a secret that straddles the cut.
_MATCH_MARGIN = 512


# Every API-key pattern starts with one of these ("gh" covers "github_pat_"): the regex
# runs only if one is present, which plain substring tests find faster than any regex.
_KEY_PREFIXES: Final = ("sk-", "AKIA", "AIza", "gh", "xox", "hf_", "glpat-", "Bearer ")


def redact_builtin(text: str) -> str:
    """Replace e-mail addresses and API keys by fixed markers."""
    if "@" in text:
        text = _EMAIL.sub(REDACTED_EMAIL, text)
    for prefix in _KEY_PREFIXES:
        if prefix in text:
            return _API_KEY.sub(REDACTED_API_KEY, text)
    return text


def _default(value: Any) -> Any:
    """``json.dumps`` fallback: common rich types by structure, anything else by ``repr``."""
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump) and not isinstance(value, type):
        try:
            return model_dump(mode="json")
        except Exception:
            pass
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return safe_repr(value)


def safe_repr(value: Any, limit: int = 1000) -> str:
    """``repr`` that never raises, capped to ``limit`` characters."""
    try:
        text = repr(value)
    except Exception:
        text = f"<unrepresentable {type(value).__qualname__}>"
    return text[:limit]


# Built once: ``json.dumps`` with options would build a new encoder on every call.
_ENCODER = json.JSONEncoder(default=_default, ensure_ascii=False, separators=(",", ":"))


def to_json(value: Any) -> str:
    """Serialise ``value`` as compact JSON; parts that cannot be serialised become reprs."""
    try:
        return _ENCODER.encode(value)
    except (ValueError, TypeError, RecursionError):  # circular structures, bad keys
        return _ENCODER.encode(safe_repr(value))


def prepare(text: str, key: str, settings: Settings) -> tuple[str, bool]:
    """Redact then cap one captured value; returns the text and whether it was cut."""
    cap = settings.max_content_chars
    if len(text) > cap + _MATCH_MARGIN:
        text = text[: cap + _MATCH_MARGIN]
    if settings.redact is not None:
        text = settings.redact(text, key)
        if not isinstance(text, str):
            raise TypeError(f"redact hook returned {type(text).__name__}, expected str")
    text = redact_builtin(text)
    if len(text) > cap:
        return text[:cap], True
    return text, False


def capture(span: Span, key: str, value: Any, settings: Settings) -> None:
    """Record ``value`` as JSON under ``key`` if content capture is on (redacted, capped)."""
    if settings.capture_content:
        _record(span, key, value, True, settings)


def capture_text(span: Span, key: str, text: str, settings: Settings) -> None:
    """Record a plain string under ``key`` if content capture is on (redacted, capped)."""
    if settings.capture_content:
        _record(span, key, text, False, settings)


def _record(span: Span, key: str, value: Any, as_json: bool, settings: Settings) -> None:
    # A value whose serialisation or redaction fails is left out, never recorded unredacted.
    try:
        text, cut = prepare(to_json(value) if as_json else str(value), key, settings)
    except Exception as exc:
        internal_error(exc, f"capturing {key}")
        return
    span.set_attribute(key, text)
    if cut:
        mark_truncated(span, key)


def set_with_content(
    span: Span,
    attributes: dict[str, Any],
    content: Mapping[str, Any],
    settings: Settings,
) -> None:
    """Set ``attributes`` plus the captured ``content`` values (as JSON) in one call."""
    cut_keys = []
    if settings.capture_content:
        for key, value in content.items():
            try:
                text, cut = prepare(to_json(value), key, settings)
            except Exception as exc:
                internal_error(exc, f"capturing {key}")
                continue
            attributes[key] = text
            if cut:
                cut_keys.append(key)
    if attributes:
        span.set_attributes(attributes)
    for key in cut_keys:
        mark_truncated(span, key)


def mark_truncated(span: Span, key: str) -> None:
    """Add ``key`` to the span's JSON list of truncated attribute keys."""
    attributes = getattr(span, "attributes", None) or {}
    existing = attributes.get(semconv.CONTENT_TRUNCATED)
    keys: list[str] = json.loads(existing) if isinstance(existing, str) else []
    if key not in keys:
        keys.append(key)
        span.set_attribute(semconv.CONTENT_TRUNCATED, json.dumps(keys))
