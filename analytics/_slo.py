"""Service-level objectives, in the grammar of ``agentflight loadtest --slo``.

``"ttft_p95<800ms,tbt_p99<80ms,error_rate<1%"``: ``ttft_pNN``, ``tbt_pNN`` and ``e2e_pNN``
(any percentile, ``p99.9`` too) with a duration (``800ms``, ``1.5s``; a bare number is
milliseconds), and ``error_rate`` / ``timeout_rate`` with a rate (``1%`` or ``0.01``).
Operators: ``<`` and ``<=``. Errors are :class:`ValueError` with a one-line message.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["SLO", "Objective", "parse_duration_ms", "parse_rate", "parse_slo"]

_LATENCY = re.compile(r"^(ttft|tbt|e2e)_p(\d{1,2}(?:\.\d+)?)$")
_RATES = ("error_rate", "timeout_rate")
_SPEC = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(<=|<)\s*(\S.*?)\s*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|µs|ms|s|m|h|d)?\s*$", re.IGNORECASE)
_TO_MS = {"us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3, "d": 86400e3}


@dataclass(frozen=True, slots=True)
class Objective:
    metric: str
    """``ttft``, ``tbt``, ``e2e``, ``error_rate`` or ``timeout_rate``."""
    quantile: float | None
    """The percentile as a fraction (``p95`` is 0.95), as in ``loadtest``; None for rates."""
    op: str
    threshold: float
    """Milliseconds for latencies, a fraction for rates."""
    text: str


@dataclass(frozen=True, slots=True)
class SLO:
    objectives: tuple[Objective, ...]
    text: str

    def latency(self, metric: str) -> list[Objective]:
        """The percentile objectives on ``ttft``, ``tbt`` or ``e2e``."""
        return [o for o in self.objectives if o.metric == metric and o.quantile is not None]


def parse_slo(text: str) -> SLO:
    """Parse ``"ttft_p95<800ms,tbt_p99<80ms"``; raises ValueError naming the bad entry."""
    if not text or not text.strip():
        raise ValueError('--slo is empty; expected e.g. "ttft_p95<800ms,error_rate<1%"')
    objectives: list[Objective] = []
    for part in text.split(","):
        item = part.strip()
        match = _SPEC.match(item)
        if match is None:
            raise ValueError(f"--slo entry {item!r} is not METRIC<VALUE (e.g. ttft_p95<800ms)")
        name, op, value = match.groups()
        name = name.lower()
        latency = _LATENCY.match(name)
        if latency is not None:
            pct = float(latency.group(2))
            if not 0 < pct < 100:
                raise ValueError(f"--slo entry {item!r}: percentile must be between 0 and 100")
            threshold = parse_duration_ms(value, what=f"--slo entry {item!r}: threshold")
            quantile = round(pct / 100.0, 12)  # p99.9 is 0.999, not 0.9990000000000001
            objectives.append(Objective(latency.group(1), quantile, op, threshold, item))
        elif name in _RATES:
            threshold = parse_rate(value, what=f"--slo entry {item!r}: threshold")
            objectives.append(Objective(name, None, op, threshold, item))
        else:
            raise ValueError(
                f"--slo entry {item!r}: unknown metric {name!r}; use ttft_pNN, tbt_pNN, "
                "e2e_pNN, error_rate or timeout_rate"
            )
    return SLO(tuple(objectives), text.strip())


def parse_duration_ms(text: str, *, default_unit: str = "ms", what: str = "duration") -> float:
    """``"800ms"`` -> 800.0, ``"1.5s"`` -> 1500.0; a bare number is in ``default_unit``."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{what} {text!r} is not a duration like 800ms, 1.5s or 2m")
    value = float(match.group(1)) * _TO_MS[(match.group(2) or default_unit).lower()]
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not finite")
    return value


def parse_rate(text: str, *, what: str = "rate") -> float:
    """``"1%"`` -> 0.01, ``"0.5%"`` -> 0.005, ``"0.01"`` -> 0.01 (a fraction)."""
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = float(raw[:-1].strip() if percent else raw)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a rate like 1% or 0.01") from None
    if percent:
        value /= 100.0
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} {text!r} is outside 0%..100%")
    return value
