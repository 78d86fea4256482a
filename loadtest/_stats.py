"""Per-stage measurements: what one request produced, and histograms of many.

Latencies go into fixed-precision histograms (0.1 ms below 100 ms, 1 ms below 1 s, three
significant digits above), so a stage of millions of token gaps costs a few thousand
buckets, and a percentile costs a sort of the buckets, not of the samples.

Percentiles use one rule and one scale everywhere in agentflight: ``q`` in ``[0, 1]`` and
linear interpolation between the closest ranks (numpy's default), as
:func:`tracer.percentile` computes it on sorted values; :meth:`Histogram.percentile` applies
the same rule to the bucketed values.

What a stage reports (the rule is documented in ``docs/loadtest.md``, "Honest figures"):

- ``ttft``: every first token measured, plus each timeout that produced none, at the moment
  it timed out; ``e2e``: every successful request, plus each timeout at its timeout; ``tbt``:
  every gap measured. Errors are left out of these figures and counted in ``error_rate``.
- ``ok_ttft``, ``ok_tbt``, ``ok_e2e``: successful requests only (``success_only`` in the
  report).
- ``failed``: errors and timeouts, which count as misses in every latency objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Histogram", "RequestResult", "StageStats"]

Outcome = Literal["ok", "error", "timeout"]


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

    def percentile(self, q: float, *, misses: int = 0) -> float | None:
        """The ``q``-quantile (``q`` in ``[0, 1]``), interpolated between closest ranks.

        ``misses`` adds that many samples above every bucket (failed requests in an SLO
        check): a quantile that reaches one of them is ``math.inf``. ``None`` without samples.
        """
        total = self.count + misses
        if not total:
            return None
        rank = (total - 1) * q
        low_rank = math.floor(rank)
        fraction = rank - low_rank
        high_rank = low_rank + (1 if fraction else 0)
        if high_rank >= self.count:
            return math.inf
        low = high = None
        seen = 0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if low is None and seen > low_rank:
                low = key
            if seen > high_rank:
                high = key
                break
        assert low is not None and high is not None
        value = low + (high - low) * fraction
        return min(max(value, self.min), self.max)

    def at_rank(self, rank: int) -> float:
        """The bucketed value of the ``rank``-th smallest sample (0-based); ``math.inf`` at
        or past ``count`` (the failed samples of an SLO check come after every bucket)."""
        if rank >= self.count:
            return math.inf
        seen = 0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen > rank:
                return min(max(key, self.min), self.max)
        raise AssertionError("unreachable: rank < count")

    def count_below(self, threshold: float, *, inclusive: bool = False) -> int:
        """Samples under ``threshold`` (or at it, with ``inclusive``), by bucketed value."""
        return sum(
            n
            for key, n in self.buckets.items()
            if key < threshold or (inclusive and key == threshold)
        )

    def summary(self) -> dict[str, float | None]:
        return {
            name: None if (v := self.percentile(q)) is None else round(v, 3)
            for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
        }


@dataclass(slots=True)
class RequestResult:
    """One load-test request as the client saw it."""

    outcome: Outcome
    stage: int | None
    e2e_ms: float
    """Until the answer ended, the request failed, or (a timeout) its timeout passed."""
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
    conforming: int = 0
    """Requests that succeeded and met every latency objective (SLO attainment)."""
    output_tokens: int = 0
    peak_inflight: int = 0
    started_at: float | None = None
    ended_at: float | None = None
    ttft: Histogram = field(default_factory=Histogram)
    tbt: Histogram = field(default_factory=Histogram)
    e2e: Histogram = field(default_factory=Histogram)
    ok_ttft: Histogram = field(default_factory=Histogram)
    ok_tbt: Histogram = field(default_factory=Histogram)
    ok_e2e: Histogram = field(default_factory=Histogram)
    error_samples: dict[str, int] = field(default_factory=dict)

    def add(self, result: RequestResult, *, conforming: bool = False) -> None:
        self.requests += 1
        self.output_tokens += result.output_tokens
        self.tbt.extend(result.gaps_ms)
        if result.ttft_ms is not None:
            self.ttft.add(result.ttft_ms)
        if result.outcome == "ok":
            self.e2e.add(result.e2e_ms)
            self.ok_e2e.add(result.e2e_ms)
            self.ok_tbt.extend(result.gaps_ms)
            if result.ttft_ms is not None:
                self.ok_ttft.add(result.ttft_ms)
            self.conforming += conforming
            return
        if result.outcome == "timeout":
            self.timeouts += 1
            self.e2e.add(result.e2e_ms)  # at its timeout
            if result.ttft_ms is None:  # no first token before the timeout
                self.ttft.add(result.e2e_ms)
        else:
            self.errors += 1
        message = (result.error or result.outcome)[:200]
        if message in self.error_samples or len(self.error_samples) < 10:
            self.error_samples[message] = self.error_samples.get(message, 0) + 1

    @property
    def failed(self) -> int:
        """Errors and timeouts: misses in every latency objective."""
        return self.errors + self.timeouts

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def timeout_rate(self) -> float:
        return self.timeouts / self.requests if self.requests else 0.0

    @property
    def attainment(self) -> float | None:
        """Share of the stage's requests that met every latency objective."""
        return self.conforming / self.requests if self.requests else None

    @property
    def duration_s(self) -> float:
        if self.started_at is None or self.ended_at is None:
            return 0.0
        return max(self.ended_at - self.started_at, 0.0)
