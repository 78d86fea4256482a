"""Content capture: values to JSON, redaction, the per-value cap and its bookkeeping.

Each captured value has a display form (plain JSON, redacted, cut to ``max_content_chars``)
and, for agent, route and skill arguments and results and LLM requests, an exact typed form
(``tracer.exact``; redacted unless ``redact_exact`` is off, bounded by ``max_exact_chars``).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import pathlib
import re
import secrets
import uuid
from collections.abc import Mapping
from typing import Any, Final

from opentelemetry.trace import Span

from . import exact, semconv
from ._errors import internal_error
from ._fingerprint import RequestTexts
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
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID, pathlib.PurePath)):
        return str(value)
    return safe_repr(value)


def safe_repr(value: Any, limit: int = 1000) -> str:
    """``repr`` that never raises, capped to ``limit`` characters."""
    try:
        text = repr(value)
    except Exception:
        text = f"<unrepresentable {type(value).__qualname__}>"
    return text[:limit]


# Built once: ``json.dumps`` with options would build a new encoder on every call.
_encode_json = exact.compact_encoder(_default)


def to_json(value: Any) -> str:
    """Serialise ``value`` as compact JSON; parts that cannot be serialised become reprs."""
    try:
        return _encode_json(value)
    except (ValueError, TypeError, RecursionError):  # circular structures, bad keys
        return _encode_json(safe_repr(value))


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


class Json(str):
    """Text that is already JSON: content values of this type are not serialised again."""

    __slots__ = ()


def encode_pair(value: Any) -> tuple[str, str]:
    """The display JSON and the exact typed JSON of ``value`` (before redaction).

    Plain JSON data (the common case) is serialised once, and both are the same string.
    """
    tree = exact.encode(value)
    if tree is value:
        text = to_json(value)
        return text, text
    return to_json(value), exact.dumps_tree(tree)


def encode_request(
    request: Mapping[str, Any], known: RequestTexts | None = None
) -> tuple[str, Json | None]:
    """The exact typed JSON of an LLM request and the display JSON of its ``tools``.

    Every value is serialised once: a value whose typed JSON ``known`` holds already (the
    fingerprint made it) is spliced in as that text, and the tool definitions' text serves
    both forms when it is plain JSON. The tools come last, as their own member.
    """
    spliced: dict[str, str] = {}
    tools_text = display = None
    for name, value in request.items():
        found = known.get(name, value) if known else None
        if name == "tools":
            if found is None:
                tree = exact.encode(value)
                found = exact.dumps_tree(tree), tree is value
            tools_text = found[0]
            display = found[0] if found[1] else to_json(value)
        elif found is not None:
            spliced[name] = found[0]
    rest = {
        name: _SLOT + name if name in spliced else value
        for name, value in request.items()
        if name != "tools"
    }
    text = exact.dumps(rest)
    for name, piece in spliced.items():
        text = text.replace(_slot_json(name), piece, 1)
    if tools_text is None:
        return text, None
    joined = text[:-1] + ("," if len(text) > 2 else "") + '"tools":' + tools_text + "}"
    return joined, Json(display)


# Stands in for a value whose JSON is spliced in afterwards: random, so no value can match.
_SLOT: Final = f"\x00agentflight-{secrets.token_hex(8)}:"
_SLOT_JSON: dict[str, str] = {}


def _slot_json(name: str) -> str:
    text = _SLOT_JSON.get(name)
    if text is None:
        text = exact.dumps(_SLOT + name)
        if len(_SLOT_JSON) < 1024:  # argument names: a handful
            _SLOT_JSON[name] = text
    return text


def prepare_exact(text: str, key: str, settings: Settings) -> tuple[str, bool]:
    """Bound, then redact one exact form; returns the text and whether it was omitted.

    A form longer than ``max_exact_chars`` is replaced by the ``omitted`` marker (a cut
    JSON document could not be rebuilt). Redaction applies unless ``redact_exact`` is off.
    """
    limit = settings.max_exact_chars
    if len(text) > limit:
        return exact.omitted(len(text), limit), True
    if settings.redact_exact:
        if settings.redact is not None:
            text = settings.redact(text, key)
            if not isinstance(text, str):
                raise TypeError(f"redact hook returned {type(text).__name__}, expected str")
        text = redact_builtin(text)
    return text, False


def add_text(
    attributes: dict[str, Any],
    cut_keys: list[str],
    key: str,
    text: str,
    settings: Settings,
    is_exact: bool = False,
) -> None:
    """Prepare one captured text into ``attributes``; a failure leaves it out."""
    try:
        text, cut = (prepare_exact if is_exact else prepare)(text, key, settings)
    except Exception as exc:
        internal_error(exc, f"capturing {key}")
        return
    attributes[key] = text
    if cut:
        cut_keys.append(key)


def add_pair(
    attributes: dict[str, Any],
    cut_keys: list[str],
    display_key: str,
    exact_key: str,
    value: Any,
    settings: Settings,
) -> None:
    """Add ``value``'s display form under ``display_key`` and exact form under ``exact_key``."""
    try:
        display, exact_text = encode_pair(value)
    except Exception as exc:
        internal_error(exc, f"capturing {display_key}")
        return
    add_text(attributes, cut_keys, display_key, display, settings)
    if (
        exact_text is display
        and settings.redact is None
        and settings.redact_exact
        and display_key in attributes
        and display_key not in cut_keys
        and len(exact_text) <= settings.max_exact_chars
    ):
        # The same text, fully redacted by the built-in patterns already: no second pass.
        attributes[exact_key] = attributes[display_key]
        return
    add_text(attributes, cut_keys, exact_key, exact_text, settings, is_exact=True)


def capture_pair(
    span: Span, display_key: str, exact_key: str, value: Any, settings: Settings
) -> None:
    """Record ``value`` for display and in its exact form, if content capture is on."""
    if not settings.capture_content:
        return
    attributes: dict[str, Any] = {}
    cut_keys: list[str] = []
    add_pair(attributes, cut_keys, display_key, exact_key, value, settings)
    set_attributes(span, attributes, cut_keys)


def capture_exact(span: Span, key: str, value: Any, settings: Settings) -> None:
    """Record only the exact form of ``value`` under ``key``, if content capture is on."""
    if not settings.capture_content:
        return
    try:
        text = exact.dumps(value)
    except Exception as exc:
        internal_error(exc, f"capturing {key}")
        return
    attributes: dict[str, Any] = {}
    cut_keys: list[str] = []
    add_text(attributes, cut_keys, key, text, settings, is_exact=True)
    set_attributes(span, attributes, cut_keys)


def capture_text(span: Span, key: str, text: str, settings: Settings) -> None:
    """Record a plain string under ``key`` (redacted, capped), whether capture is on or not:
    callers decide whether the text is content."""
    attributes: dict[str, Any] = {}
    cut_keys: list[str] = []
    add_text(attributes, cut_keys, key, text, settings)
    set_attributes(span, attributes, cut_keys)


def set_with_content(
    span: Span,
    attributes: dict[str, Any],
    content: Mapping[str, Any],
    settings: Settings,
    exact_texts: Mapping[str, str] | None = None,
) -> None:
    """Set ``attributes`` plus the captured ``content`` values (as JSON; ``Json`` values as
    they are) and exact forms (``exact_texts``, already typed JSON) in one call."""
    cut_keys: list[str] = []
    if settings.capture_content:
        add_content(attributes, cut_keys, content, settings)
        if exact_texts:
            for key, text in exact_texts.items():
                add_text(attributes, cut_keys, key, text, settings, is_exact=True)
    set_attributes(span, attributes, cut_keys)


def add_content(
    attributes: dict[str, Any],
    cut_keys: list[str],
    content: Mapping[str, Any],
    settings: Settings,
) -> None:
    """Add captured ``content`` values to ``attributes`` (as JSON; ``Json`` values as they
    are), redacted and capped; a value that fails is left out."""
    for key, value in content.items():
        try:
            text = value if type(value) is Json else to_json(value)
        except Exception as exc:
            internal_error(exc, f"capturing {key}")
            continue
        add_text(attributes, cut_keys, key, text, settings)


def set_attributes(span: Span, attributes: dict[str, Any], cut_keys: list[str]) -> None:
    """Set ``attributes`` in one call, then mark the ``cut_keys`` as truncated."""
    if attributes:
        span.set_attributes(attributes)
    for key in cut_keys:
        mark_truncated(span, key)


def mark_truncated(span: Span, key: str) -> None:
    """Add ``key`` to the span's JSON list of truncated (or omitted) attribute keys."""
    attributes = getattr(span, "attributes", None) or {}
    existing = attributes.get(semconv.CONTENT_TRUNCATED)
    keys: list[str] = json.loads(existing) if isinstance(existing, str) else []
    if key not in keys:
        keys.append(key)
        span.set_attribute(semconv.CONTENT_TRUNCATED, json.dumps(keys))
