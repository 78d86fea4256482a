"""Parsing the units people type: durations (``800ms``, ``30s``, ``2m``) and rates (``1%``)."""

from __future__ import annotations

import math
import re

__all__ = ["InputError", "parse_duration_ms", "parse_duration_s", "parse_rate"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|µs|ms|s|m|h|d)?\s*$", re.IGNORECASE)
_TO_MS = {"us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3, "d": 86400e3}


class InputError(ValueError):
    """Bad user input; the message is one line that says what is wrong and what is expected."""


def parse_duration_ms(text: str, *, default_unit: str = "ms", what: str = "duration") -> float:
    """``"800ms"`` -> 800.0, ``"1.5s"`` -> 1500.0; a bare number is in ``default_unit``."""
    match = _DURATION.match(text)
    if match is None:
        raise InputError(f"{what} {text!r} is not a duration like 800ms, 1.5s or 2m")
    value = float(match.group(1)) * _TO_MS[(match.group(2) or default_unit).lower()]
    if not math.isfinite(value):
        raise InputError(f"{what} {text!r} is not finite")
    return value


def parse_duration_s(text: str, *, what: str = "duration") -> float:
    """``"30s"`` -> 30.0, ``"2m"`` -> 120.0; a bare number is in seconds."""
    return parse_duration_ms(text, default_unit="s", what=what) / 1000.0


def parse_rate(text: str, *, what: str = "rate") -> float:
    """``"1%"`` -> 0.01, ``"0.5%"`` -> 0.005, ``"0.01"`` -> 0.01 (a fraction)."""
    raw = text.strip()
    percent = raw.endswith("%")
    number = raw[:-1].strip() if percent else raw
    try:
        value = float(number)
    except ValueError:
        raise InputError(f"{what} {text!r} is not a rate like 1% or 0.01") from None
    if percent:
        value /= 100.0
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{what} {text!r} is outside 0%..100%")
    return value
