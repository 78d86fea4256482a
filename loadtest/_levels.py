"""Deciding one level of a capacity search: passed, failed, or inconclusive.

A latency objective ``m_pNN<X`` is checked on the level's samples, failed requests counting
as samples worse than any threshold. Its 95% confidence interval is distribution-free: the
order statistics at ranks ``n*q -/+ 1.96*sqrt(n*q*(1-q))`` (the normal approximation of the
binomial count of samples below the true percentile). The objective is **met** when the
whole interval is under X, **missed** when the whole interval is at or above it, and
**inconclusive** otherwise; then about ``1.96**2 * q*(1-q) / (share - q)**2`` samples would
decide it, where ``share`` is the measured share of samples under X.

``--attainment A`` adds one more check: the Wilson 95% interval of the share of conforming
requests against A. ``error_rate``/``timeout_rate`` are checked on their measured value.
A level **fails** if any check is missed, is **inconclusive** if none is missed and one is
inconclusive, and **passes** otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loadtest._slo import Objective
from loadtest._stats import StageStats

__all__ = ["LevelCheck", "LevelResult", "decide_level", "needed_samples", "wilson"]

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class LevelCheck:
    slo: str
    observed: float | None
    """The point estimate; ``math.inf`` when failed requests reach the percentile."""
    low: float | None
    high: float | None
    """The 95% confidence interval (``math.inf`` high: not enough samples to bound it)."""
    verdict: str
    """``met``, ``missed`` or ``inconclusive``."""
    needed: int | None = None
    """Samples that would decide an inconclusive check (``None``: none would)."""

    def to_json(self) -> dict[str, Any]:
        def number(value: float | None) -> float | None:
            return None if value is None or math.isinf(value) else round(value, 6)

        data: dict[str, Any] = {
            "slo": self.slo,
            "observed": number(self.observed),
            "ci95": [number(self.low), number(self.high)],
            "verdict": self.verdict,
        }
        if self.verdict == "inconclusive":
            data["needed_samples"] = self.needed
        return data


@dataclass(frozen=True)
class LevelResult:
    verdict: str
    """``passed``, ``failed`` or ``inconclusive``."""
    checks: list[LevelCheck]

    @property
    def needed_requests(self) -> int | None:
        needs = [c.needed for c in self.checks if c.verdict == "inconclusive" and c.needed]
        return max(needs) if needs else None


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    share = successes / n
    denominator = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / denominator
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / denominator
    return max(centre - half, 0.0), min(centre + half, 1.0)


def needed_samples(share: float, required: float, z: float = Z_95) -> int | None:
    """About how many samples tell a measured ``share`` from the ``required`` one."""
    if share == required:
        return None
    return math.ceil(z * z * required * (1 - required) / (share - required) ** 2) + 1


def _latency(objective: Objective, stage: StageStats) -> LevelCheck:
    assert objective.quantile is not None
    q = objective.quantile
    histogram = objective.histogram(stage)
    n = histogram.count + stage.failed
    observed = histogram.percentile(q, misses=stage.failed)
    if n == 0 or observed is None:
        return LevelCheck(objective.text, None, None, None, "missed")
    spread = Z_95 * math.sqrt(n * q * (1 - q))
    low_rank, high_rank = round(n * q - spread), round(n * q + spread)  # 1-based
    low = -math.inf if low_rank < 1 else histogram.at_rank(low_rank - 1)
    high = math.inf if high_rank > n else histogram.at_rank(high_rank - 1)
    if objective.met_by(high):
        verdict = "met"
    elif not objective.met_by(low):
        verdict = "missed"
    else:
        verdict = "inconclusive"
    share = histogram.count_below(objective.threshold, inclusive=objective.op == "<=") / n
    needed = needed_samples(share, q) if verdict == "inconclusive" else None
    return LevelCheck(
        objective.text, observed, low if low_rank >= 1 else None, high, verdict, needed
    )


def _rate(objective: Objective, stage: StageStats) -> LevelCheck:
    observed = objective.observe(stage)
    verdict = "met" if objective.met_by(observed) else "missed"
    return LevelCheck(objective.text, observed, observed, observed, verdict)


def _attainment(target: float, stage: StageStats) -> LevelCheck:
    text = f"attainment>={target:.4g}"
    if not stage.requests:
        return LevelCheck(text, None, None, None, "missed")
    share = stage.conforming / stage.requests
    low, high = wilson(stage.conforming, stage.requests)
    if low >= target:
        verdict = "met"
    elif high < target:
        verdict = "missed"
    else:
        verdict = "inconclusive"
    needed = needed_samples(share, target) if verdict == "inconclusive" else None
    return LevelCheck(text, share, low, high, verdict, needed)


def decide_level(
    objectives: Sequence[Objective], stage: StageStats, attainment: float | None = None
) -> LevelResult:
    """Check every objective (and the attainment target) on one level's measurements."""
    checks = [
        _latency(objective, stage) if objective.quantile is not None else _rate(objective, stage)
        for objective in objectives
    ]
    if attainment is not None:
        checks.append(_attainment(attainment, stage))
    verdicts = {check.verdict for check in checks}
    if not stage.requests or "missed" in verdicts:
        verdict = "failed"
    elif "inconclusive" in verdicts:
        verdict = "inconclusive"
    else:
        verdict = "passed"
    return LevelResult(verdict, checks)
