"""The per-call TBT gap histogram: fixed log-spaced buckets, sparse, mergeable by summing.

Buckets are fixed (``semconv.TBT_HISTOGRAM_*``), so ClickHouse pools the gaps of many calls
by adding their counts bucket by bucket (``sumMap``), and percentiles over all gaps of a
window come out within the buckets' relative error. Computed once per stream, at its end,
from gaps already sorted: a list (one bisection per non-empty bucket) or a numpy array (one
vectorised search over the buckets the gaps span); both give the same string.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

from . import semconv

__all__ = ["tbt_histogram", "tbt_histogram_of_array"]

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


def tbt_histogram_of_array(np: Any, sorted_gaps_ns: Any) -> str:
    """``tbt_histogram`` of a non-empty sorted int64 numpy array of gaps below 2**53 ns.

    Only the buckets from the smallest gap's to the largest's are searched. Integers below
    2**53 convert to float64 exactly, so numpy compares them with the bounds as Python does.
    """
    first = bisect_right(_UPPER_NS, int(sorted_gaps_ns[0]))
    last = bisect_right(_UPPER_NS, int(sorted_gaps_ns[-1]))
    bounds = np.array(_UPPER_NS[first:last])
    ends: list[int] = np.searchsorted(sorted_gaps_ns, bounds, side="left").tolist()
    ends.append(len(sorted_gaps_ns))  # bucket ``last`` takes the rest
    parts: list[str] = []
    start = 0
    for bucket, end in enumerate(ends, first):
        if end > start:
            parts.append(f"{bucket}:{end - start}")
            start = end
    return ",".join(parts)
