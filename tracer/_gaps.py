"""The TBT summary of one stream: its gaps between chunks, sorted once when it ends.

This runs over every chunk, so it counts in the per-chunk cost of a traced stream. When the
process has numpy loaded, a long stream's gaps are taken and sorted in C through it; the
tracer never imports numpy itself (some 80 ms and 14 MiB the agent may not want). Otherwise,
and for short streams, where numpy's fixed cost outweighs it, the standard library does it.
Both paths give the very same figures: integer nanosecond gaps, ``percentile``'s rule and
the buckets of ``tbt_histogram``.
"""

from __future__ import annotations

import itertools
import math
import operator
import sys
from collections.abc import Sequence
from typing import Any

from ._errors import internal_error
from ._histogram import tbt_histogram, tbt_histogram_of_array

__all__ = ["NUMPY_FROM", "gap_summary", "numpy_summary", "percentile", "stdlib_summary"]

# Streams with fewer timestamps than this are summarised with the standard library: below
# it numpy's fixed cost (some 15 µs) outweighs its faster sort.
NUMPY_FROM = 128
_EXACT = 2**53  # integers below this convert to float64 exactly
_STAMPS = 2**62  # timestamps below this have differences within int64


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-quantile, ``q`` in ``[0, 1]``, of non-empty sorted data: linear interpolation
    between closest ranks (numpy's default). agentflight's one percentile rule."""
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def gap_summary(times: list[int]) -> tuple[float, float, int, str]:
    """p50, p95 and max of the gaps between consecutive timestamps (at least two, in ns), and
    their histogram (``tbt_histogram``)."""
    if len(times) >= NUMPY_FROM and (np := sys.modules.get("numpy")) is not None:
        try:
            summary = numpy_summary(np, times)
        except Exception as error:  # a numpy still being imported, say
            internal_error(error, "summarising stream gaps with numpy")
        else:
            if summary is not None:
                return summary
    return stdlib_summary(times)


def stdlib_summary(times: list[int]) -> tuple[float, float, int, str]:
    """``gap_summary`` with the standard library: the gaps taken and sorted by C builtins."""
    gaps = list(map(operator.sub, itertools.islice(times, 1, None), times))
    gaps.sort()
    return percentile(gaps, 0.50), percentile(gaps, 0.95), gaps[-1], tbt_histogram(gaps)


def numpy_summary(np: Any, times: list[int]) -> tuple[float, float, int, str] | None:
    """``gap_summary`` in C; ``None`` for times it could not take exactly (negative or past
    2**62 ns, a clock that went back, a gap of 2**53 ns or more): the standard library takes
    those."""
    try:  # fromiter with the count: a fifth cheaper than ``np.array`` on a list of ints
        stamps = np.fromiter(times, dtype=np.int64, count=len(times))
    except OverflowError:
        return None
    if stamps.min() < 0 or stamps.max() >= _STAMPS:
        return None  # their differences could overflow int64
    gaps = np.diff(stamps)
    gaps.sort()
    smallest, largest = int(gaps[0]), int(gaps[-1])
    if smallest < 0 or largest >= _EXACT:
        return None
    # Integers below 2**53 and their differences convert to float exactly: the same floats.
    return (
        float(percentile(gaps, 0.50)),
        float(percentile(gaps, 0.95)),
        largest,
        tbt_histogram_of_array(np, gaps),
    )
