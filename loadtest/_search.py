"""Capacity search: the highest concurrency (or request rate) at which the SLO holds.

As vLLM's ``serve_sla`` sweep and GuideLLM's goodput profile do: start at ``start``, double
until a level does not pass (or ``maximum`` is reached), then bisect between the highest
level that passed and the lowest that did not, until they are at most ``tolerance`` apart.
A level that is inconclusive counts as not passed (the search stays on the safe side) and
is reported with the sample size that would decide it.

The result (the report's ``capacity``):

- ``passed``: a level passed and the next level up failed (or the search reached
  ``maximum``): ``value`` is the capacity, within ``tolerance``;
- ``breached``: the first level already failed: the capacity is below ``start``;
- ``inconclusive``: the level that bounds the capacity from above (or the first level)
  was inconclusive: ``value`` is what was shown to hold, the rest is undecided.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from loadtest._units import InputError

__all__ = ["METRICS", "Search", "SearchSpec", "parse_tolerance"]

METRICS = ("concurrency", "rate")
DEFAULT_MAX = 256.0


def parse_tolerance(text: str | None, metric: str) -> tuple[float, bool]:
    """``--tolerance``: an absolute width (users, req/s) or a percentage of the level;
    returns ``(value, relative)``."""
    if text is None or not text.strip():
        return (1.0, False) if metric == "concurrency" else (0.1, True)
    raw = text.strip()
    relative = raw.endswith("%")
    try:
        value = float(raw[:-1] if relative else raw)
    except ValueError:
        raise InputError(f"--tolerance {text!r} is not a number or a percentage") from None
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"--tolerance must be positive, got {text!r}")
    return (value / 100.0, True) if relative else (value, False)


@dataclass(frozen=True)
class SearchSpec:
    metric: str
    start: float
    maximum: float
    tolerance: float
    relative: bool
    level_s: float
    attainment: float | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise InputError(f"--search must be concurrency or rate, got {self.metric!r}")
        if not math.isfinite(self.start) or self.start <= 0:
            raise InputError(f"--search-from must be positive, got {self.start!r}")
        if self.metric == "concurrency" and self.start != int(self.start):
            raise InputError(f"--search-from must be a whole number of users, got {self.start!r}")
        if not math.isfinite(self.maximum) or self.maximum < self.start:
            raise InputError(f"--max must be at least --search-from ({self.start:g})")
        if self.metric == "concurrency" and self.maximum != int(self.maximum):
            raise InputError(f"--max must be a whole number of users, got {self.maximum!r}")
        if self.level_s < 1:
            raise InputError("--level-duration must be at least 1s")

    def width(self, low: float) -> float:
        """The bracket width at which bisection stops, below ``low``'s next level up."""
        if self.relative:
            width = self.tolerance * low
            return max(width, 1.0) if self.metric == "concurrency" else width
        return self.tolerance


@dataclass
class Search:
    """The search's state: which level to measure next, and what was found."""

    spec: SearchSpec
    levels: list[dict[str, Any]] = field(default_factory=list)
    passed: float | None = None
    """The highest level that passed."""
    above: float | None = None
    """The lowest level above ``passed`` that did not pass."""
    above_verdict: str | None = None
    _doubling: bool = True

    def next_level(self) -> float | None:
        """The level to measure next, ``None`` when the search is over (a whole number of
        users for a concurrency search)."""
        level = self._next()
        if level is not None and self.spec.metric == "concurrency":
            return int(level)
        return level

    def _next(self) -> float | None:
        spec = self.spec
        if not self.levels:
            return spec.start
        if self.passed is None:
            return None  # the first level did not pass
        if self._doubling:
            if self.passed >= spec.maximum:
                return None
            return min(self.passed * 2, spec.maximum)
        assert self.above is not None
        if self.above - self.passed <= spec.width(self.passed):
            return None
        middle = (self.passed + self.above) / 2
        if spec.metric == "concurrency":
            middle = math.floor(middle)
            if middle <= self.passed:
                return None
        return middle

    def record(self, level: float, verdict: str, details: dict[str, Any]) -> None:
        """Take the verdict (``passed``, ``failed``, ``inconclusive``) of a measured level."""
        self.levels.append({"level": level, "verdict": verdict, **details})
        if verdict == "passed":
            if self.passed is None or level > self.passed:
                self.passed = level
            return
        self._doubling = False
        if self.above is None or level < self.above or self.passed is None:
            self.above, self.above_verdict = level, verdict

    @property
    def verdict(self) -> str:
        if self.passed is None:
            first = self.levels[0]["verdict"] if self.levels else "failed"
            return "breached" if first == "failed" else "inconclusive"
        if self.above_verdict == "inconclusive":
            return "inconclusive"
        return "passed"

    def result(self) -> dict[str, Any]:
        """The report's ``capacity`` object."""
        tolerance = self.spec.width(self.passed or self.spec.start)
        return {
            "metric": self.spec.metric,
            "value": self.passed,
            "tolerance": round(tolerance, 6),
            "verdict": self.verdict,
            "upper": self.above,
            "reached_max": self.passed is not None and self.passed >= self.spec.maximum,
            "attainment_target": self.spec.attainment,
            "levels": list(self.levels),
        }
