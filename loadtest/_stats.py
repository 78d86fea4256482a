"""Per-stage measurements: what one request produced, and histograms of many.

Latencies go into fixed-precision histograms (0.1 ms below 100 ms, 1 ms below 1 s, three
significant digits above), so a stage of millions of token gaps costs a few thousand
buckets, and a percentile costs a sort of the buckets, not of the samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Histogram", "RequestResult", "StageStats", "percentile"]

Outcome = Literal["ok", "error", "timeout"]


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default) of sorted values."""
    if not sorted_values:
        return None
    rank = (len(sorted_values) - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def _bucket(value: float) -> float:
    if value < 100.0:
        return round(value, 1)
    if value < 1000.0:
        return float(round(value))
    digits = 2 - math.floor(math.log10(value))
    return float(round(value, digits))


class Histogram:
    """Counts of latencies in milliseconds, bucketed to a fixed relative precision."""

    __slots__ = ("buckets", "count", "max", "min", "total")

    def __init__(self) -> None:
        self.buckets: dict[float, int] = {}
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float) -> None:
        key = _bucket(value)
        self.buckets[key] = self.buckets.get(key, 0) + 1
        self.count += 1
        self.total += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def extend(self, values: list[float]) -> None:
        for value in values:
            self.add(value)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def percentile(self, p: float) -> float | None:
        if not self.count:
            return None
        rank = (self.count - 1) * p / 100.0
        low_rank = math.floor(rank)
        fraction = rank - low_rank
        low = high = None
        seen = 0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if low is None and seen > low_rank:
                low = key
            if seen > low_rank + (1 if fraction else 0):
                high = key
                break
        assert low is not None
        high = low if high is None else high
        value = low + (high - low) * fraction
        return min(max(value, self.min), self.max)

    def summary(self) -> dict[str, float | None]:
        return {
            name: None if (v := self.percentile(p)) is None else round(v, 3)
            for name, p in (("p50", 50.0), ("p95", 95.0), ("p99", 99.0))
        }


@dataclass(slots=True)
class RequestResult:
    """One load-test request as the client saw it."""

    outcome: Outcome
    stage: int | None
    e2e_ms: float
    ttft_ms: float | None = None
    gaps_ms: list[float] = field(default_factory=list)
    output_tokens: int = 0
    error: str | None = None
    request_id: str | None = None
    started_at: float = 0.0
    """Wall-clock start, seconds since the epoch."""
    input_tokens: int | None = None
    reasoning_tokens: int | None = None
    finish_reason: str | None = None
    chunks: int = 0
    """Content-bearing chunks received."""


@dataclass
class StageStats:
    """Everything measured for one stage; requests belong to the stage they started in."""

    index: int
    users: int
    planned_s: float
    requests: int = 0
    errors: int = 0
    timeouts: int = 0
    output_tokens: int = 0
    peak_inflight: int = 0
    started_at: float | None = None
    ended_at: float | None = None
    ttft: Histogram = field(default_factory=Histogram)
    tbt: Histogram = field(default_factory=Histogram)
    e2e: Histogram = field(default_factory=Histogram)
    error_samples: dict[str, int] = field(default_factory=dict)

    def add(self, result: RequestResult) -> None:
        self.requests += 1
        if result.ttft_ms is not None:
            self.ttft.add(result.ttft_ms)
        self.tbt.extend(result.gaps_ms)
        self.output_tokens += result.output_tokens
        if result.outcome == "ok":
            self.e2e.add(result.e2e_ms)
            return
        if result.outcome == "timeout":
            self.timeouts += 1
        else:
            self.errors += 1
        message = (result.error or result.outcome)[:200]
        if message in self.error_samples or len(self.error_samples) < 10:
            self.error_samples[message] = self.error_samples.get(message, 0) + 1

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def timeout_rate(self) -> float:
        return self.timeouts / self.requests if self.requests else 0.0

    @property
    def duration_s(self) -> float:
        if self.started_at is None or self.ended_at is None:
            return 0.0
        return max(self.ended_at - self.started_at, 0.0)
