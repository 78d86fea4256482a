"""The per-call TBT gap histogram: fixed log-spaced buckets, sparse, mergeable by summing.

Buckets are fixed (``semconv.TBT_HISTOGRAM_*``), so ClickHouse pools the gaps of many calls
by adding their counts bucket by bucket (``sumMap``), and percentiles over all gaps of a
window come out within the buckets' relative error. Computed once per stream, at its end,
from the gaps ``_stats`` has already sorted: one bisection per non-empty bucket.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from . import semconv

__all__ = ["tbt_histogram"]

_MIN_NS = semconv.TBT_HISTOGRAM_MIN_MS * 1e6
_LAST = semconv.TBT_HISTOGRAM_BUCKETS - 1
# Upper bounds (exclusive, ns) of buckets 0 .. LAST-1; the last bucket has none.
_UPPER_NS = tuple(_MIN_NS * 2 ** (i / semconv.TBT_HISTOGRAM_PER_DOUBLING) for i in range(_LAST))


def tbt_histogram(sorted_gaps_ns: Sequence[int]) -> str:
    """``"index:count,..."`` for gaps in nanoseconds, sorted ascending; ``""`` for none."""
    parts: list[str] = []
    n = len(sorted_gaps_ns)
    j = 0
    while j < n:
        bucket = bisect_right(_UPPER_NS, sorted_gaps_ns[j])
        end = n if bucket == _LAST else bisect_left(sorted_gaps_ns, _UPPER_NS[bucket], j)
        parts.append(f"{bucket}:{end - j}")
        j = end
    return ",".join(parts)
