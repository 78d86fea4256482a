"""Exact sums over a window, read mostly from the per-minute rollup.

Counts, token sums and TBT gap histograms add up exactly, so the rollup (``genai_minutes``)
answers them for every whole minute inside the window, and ``genai_spans`` only for the
partial minutes at its edges: the same figures as from the raw table, at a fraction of the
reads (docs/analytics.md, "Rollup"). Percentiles of raw values (TTFT, duration) cannot be
added up: they stay on ``genai_spans``.

The rollup keeps the model (request model, else response model), response model, project,
service, load-test run and replay run of each span; a filter on an agent, route or skill
(trace level) needs the spans themselves, and then everything is read from
``genai_spans``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from analytics._filters import Filters, rollup_scope, scope
from analytics._measures import IS_ERROR, IS_LLM, NON_LLM

__all__ = ["ROLLUP_IS_LLM", "SUMS", "Dimension", "window_sums_sql"]

Dimension = tuple[str, str, str]
"""A dimension's name, its expression on ``genai_minutes`` and on ``genai_spans``."""

SUMS = (
    "calls",
    "errors",
    "timed_out",
    "streamed",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
)

_FIRST_MINUTE = "intDiv({since_ns:Int64} + 59999999999, 60000000000) * 60"
_END_MINUTE = "intDiv({until_ns:Int64}, 60000000000) * 60"
# Whole minutes inside the window: the rollup's; the rest of the window: the spans'.
_INSIDE_ROLLUP = (
    f"minute >= fromUnixTimestamp({_FIRST_MINUTE}) AND minute < fromUnixTimestamp({_END_MINUTE})"
)
_OUTSIDE_RAW = (
    f"NOT (timestamp >= fromUnixTimestamp64Nano(toInt64({_FIRST_MINUTE}) * 1000000000)"
    f" AND timestamp < fromUnixTimestamp64Nano(toInt64({_END_MINUTE}) * 1000000000))"
)
ROLLUP_IS_LLM = f"(model != '' AND operation NOT IN {NON_LLM!r})"

_ROLLUP_PART = """
SELECT {dims}, {sums}, tbt_histogram FROM {{db:Identifier}}.genai_minutes WHERE {where}
"""
_RAW_PART = """
SELECT {dims}, {sums}, tbt_histogram FROM {{db:Identifier}}.genai_spans WHERE {where}
"""
_RAW_SUMS = (
    "toUInt64(1)",
    f"toUInt64({IS_ERROR})",
    "toUInt64(timed_out)",
    "toUInt64(streamed)",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
)
_MERGED = {
    # Few groups over long windows: sum the histograms (at most one entry per bucket).
    "sum": "sumMap(tbt_histogram) AS tbt_merged, mapKeys(tbt_merged) AS tbt_keys, "
    "mapValues(tbt_merged) AS tbt_counts",
    # Many small groups: concatenate, sorted by bucket (equal buckets side by side).
    "concat": "arraySort(groupArrayArray(mapKeys(tbt_histogram))) AS tbt_keys, "
    "arraySort((c, k) -> k, groupArrayArray(mapValues(tbt_histogram)), "
    "groupArrayArray(mapKeys(tbt_histogram))) AS tbt_counts",
}


def window_sums_sql(
    filters: Filters | None,
    dims: Sequence[Dimension],
    *,
    llm_only: bool,
    histogram: Literal["sum", "concat"] = "sum",
    rollup: bool = True,
    all_sources: bool = False,
) -> str:
    """SQL of :data:`SUMS` and the merged TBT histogram (``tbt_keys``, ``tbt_counts``: its
    buckets in order and their gap counts) per ``dims``, over the window's spans that
    ``filters`` select (LLM calls only with ``llm_only``). Exact: whole minutes from the
    rollup when the filters allow it (and ``rollup``: the dimensions do not split
    minutes), the rest from ``genai_spans``. ``all_sources``: every load-test run's spans
    too, unless the filters ask for one (``streamed``: spans flagged as streamed).
    """
    f = filters or Filters()
    names = [name for name, _, _ in dims]
    raw_scope = scope(filters, all_sources=all_sources) + (f" AND {IS_LLM}" if llm_only else "")
    where = rollup_scope(f, all_sources=all_sources, minutes=_INSIDE_ROLLUP) if rollup else None
    raw_dims = _select([(n, r) for n, _, r in dims])
    raw_sums = _select(list(zip(SUMS, _RAW_SUMS, strict=True)))
    if where is None:
        parts = _RAW_PART.format(dims=raw_dims, sums=raw_sums, where=raw_scope)
    else:
        if llm_only:
            where += f" AND {ROLLUP_IS_LLM}"
        whole = _ROLLUP_PART.format(
            dims=_select([(n, r) for n, r, _ in dims]), sums=", ".join(SUMS), where=where
        )
        edges = _RAW_PART.format(
            dims=raw_dims, sums=raw_sums, where=f"{raw_scope} AND {_OUTSIDE_RAW}"
        )
        parts = f"{whole} UNION ALL {edges}"
    sums = ", ".join(f"sum({s}) AS {s}" for s in SUMS)
    group = f"GROUP BY {', '.join(names)}" if names else ""
    return f"SELECT {', '.join([*names, sums, _MERGED[histogram]])} FROM ({parts}) {group}"


def _select(columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{expr} AS {name}" for name, expr in columns) or "1 AS one"
