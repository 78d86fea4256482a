"""Parsing the units people type: durations (``800ms``, ``30s``, ``2m``) and rates (``1%``).

The grammar is analytics' (``analytics._slo``), so ``--slo`` means the same to the load-test
gate and to ``agentflight report``; here its errors become :class:`InputError`.
"""

from __future__ import annotations

from analytics import _slo as grammar

__all__ = ["InputError", "parse_duration_ms", "parse_duration_s", "parse_rate"]


class InputError(ValueError):
    """Bad user input; the message is one line that says what is wrong and what is expected."""


def parse_duration_ms(text: str, *, default_unit: str = "ms", what: str = "duration") -> float:
    """``"800ms"`` -> 800.0, ``"1.5s"`` -> 1500.0; a bare number is in ``default_unit``."""
    try:
        return grammar.parse_duration_ms(text, default_unit=default_unit, what=what)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def parse_duration_s(text: str, *, what: str = "duration") -> float:
    """``"30s"`` -> 30.0, ``"2m"`` -> 120.0; a bare number is in seconds."""
    return parse_duration_ms(text, default_unit="s", what=what) / 1000.0


def parse_rate(text: str, *, what: str = "rate") -> float:
    """``"1%"`` -> 0.01, ``"0.5%"`` -> 0.005, ``"0.01"`` -> 0.01 (a fraction)."""
    try:
        return grammar.parse_rate(text, what=what)
    except ValueError as exc:
        raise InputError(str(exc)) from None
