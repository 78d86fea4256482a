"""Latency over time: per time bucket and model, calls, errors, TTFT and pooled TBT.

Two sources (docs/analytics.md, "Over time"):

- ``raw``: exact. TTFT percentiles over ``genai_spans`` (``quantilesExactInclusive``);
  calls, errors and the TBT histograms are sums, read from the rollup for the window's
  whole minutes and from ``genai_spans`` at its edges (:mod:`analytics._rollup`).
- ``rollup``: every figure from ``genai_minutes``, TTFT percentiles from its per-minute
  TTFT histogram (within 1.09 %, read as pooled TBT is), over the whole minutes that
  overlap the window.

Pooled TBT percentiles are computed in ClickHouse from the merged histogram of each bucket,
so only three numbers per bucket cross the wire.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import polars as pl

from analytics._filters import Filters, rollup_scope, scope, scope_params, window
from analytics._histogram import pooled_sql
from analytics._measures import IS_LLM, LATENCY_QUANTILES, MODEL, PERCENTILES, frame
from analytics._rollup import window_sums_sql
from collector import Store

__all__ = ["OVER_TIME_COLUMNS", "ROLLUP_AFTER", "choose_bucket", "latency_over_time"]

OVER_TIME_COLUMNS = (
    "bucket",
    "model",
    "calls",
    "errors",
    "ttft_p50",
    "ttft_p95",
    "ttft_p99",
    "tbt_gaps",
    "tbt_p50",
    "tbt_p95",
    "tbt_p99",
)
ROLLUP_AFTER = timedelta(hours=6)
"""Windows longer than this read the per-minute rollup (when the filters allow it)."""
_BUCKETS = (
    (timedelta(hours=1), timedelta(minutes=1)),
    (timedelta(hours=6), timedelta(minutes=5)),
    (timedelta(days=1), timedelta(minutes=15)),
    (timedelta(days=7), timedelta(hours=1)),
    (timedelta(days=31), timedelta(hours=6)),
)
_STEP = "toIntervalSecond({bucket_s:UInt32})"
_STEP_T = _STEP.replace("{", "{{").replace("}", "}}")  # in templates filled by .format


def _concat(column: str, keys: str, counts: str) -> str:
    """A histogram column's rows merged: their buckets in order, with their counts."""
    return (
        f"arraySort(groupArrayArray(mapKeys({column}))) AS {keys}, "
        f"arraySort((c, k) -> k, groupArrayArray(mapValues({column})), "
        f"groupArrayArray(mapKeys({column}))) AS {counts}"
    )


# Pooled percentiles, computed in ClickHouse from each bucket's merged histogram.
_TBT = (
    pooled_sql("tbt_keys", "tbt_counts", "tbt", PERCENTILES)
    + ", "
    + ", ".join(f"tbt_q{i} AS tbt_{s}" for i, s in enumerate(("p50", "p95", "p99")))
)
# From the rollup, TTFT percentiles are read from its histogram, as pooled TBT.
_TTFT_FROM_HISTOGRAM = pooled_sql("ttft_keys", "ttft_counts", "ttft", PERCENTILES)
_TTFT = ", ".join(
    f"if(length(ttft) > {i}, ttft[{i + 1}], NULL) AS ttft_{s}"
    for i, s in enumerate(("p50", "p95", "p99"))
)

# Exact: the sums and histograms per bucket, with the TTFT percentiles of its calls.
_RAW = f"""
SELECT toDateTime64(s.bucket, 0, 'UTC') AS bucket, s.model AS model, s.calls AS calls,
       s.errors AS errors, t.ttft AS ttft, arraySum(s.tbt_counts) AS tbt_gaps, {{tbt}}
FROM ({{sums}}) AS s
LEFT JOIN (
    SELECT toStartOfInterval(toDateTime(timestamp, 'UTC'), {_STEP_T}) AS bucket,
           {MODEL} AS model, {LATENCY_QUANTILES}(assumeNotNull(ttft_ms)) AS ttft
    FROM {{{{db:Identifier}}}}.genai_spans
    WHERE {{scope}} AND {IS_LLM} AND ttft_ms IS NOT NULL
    GROUP BY bucket, model
) AS t ON s.bucket = t.bucket AND s.model = t.model
"""

_ROLLUP = f"""
SELECT toDateTime64(toStartOfInterval(toDateTime(minute, 'UTC'), {_STEP_T}), 0, 'UTC') AS bucket,
       model, sum(calls) AS calls, sum(errors) AS errors,
       {_concat("ttft_histogram", "ttft_keys", "ttft_counts")},
       {{ttft}}, [ttft_q0, ttft_q1, ttft_q2] AS ttft,
       {_concat("tbt_histogram", "tbt_keys", "tbt_counts")},
       arraySum(tbt_counts) AS tbt_gaps, {{tbt}}
FROM {{{{db:Identifier}}}}.genai_minutes
WHERE {{scope}} AND model != '' AND operation NOT IN ('invoke_agent', 'execute_tool', 'route')
GROUP BY bucket, model
"""


def latency_over_time(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    bucket: timedelta | None = None,
    *,
    source: Literal["auto", "raw", "rollup"] = "auto",
) -> pl.DataFrame:
    """LLM calls per time bucket and model: calls, errors, TTFT and pooled TBT percentiles.

    ``bucket`` defaults to :func:`choose_bucket` of the window. ``source="auto"`` reads the
    per-minute rollup for windows longer than :data:`ROLLUP_AFTER` when the bucket is whole
    minutes and no agent/route/skill filter is set, else the exact figures. Columns:
    :data:`OVER_TIME_COLUMNS` (``bucket``: the bucket's start, UTC) plus ``source``.
    """
    win = window(since, until)
    step = bucket or choose_bucket(win.length)
    if step.total_seconds() < 1 or step.total_seconds() != int(step.total_seconds()):
        raise ValueError(f"bucket must be a whole number of seconds, got {step}")
    params = scope_params(win, filters) | {"bucket_s": int(step.total_seconds())}
    rolled = rollup_scope(filters)
    whole_minutes = step.total_seconds() % 60 == 0
    use_rollup = source == "rollup" or (
        source == "auto" and win.length > ROLLUP_AFTER and whole_minutes and rolled is not None
    )
    if use_rollup:
        if rolled is None:
            raise ValueError("the rollup has no agent, route or skill dimension; use raw")
        sql = _ROLLUP.format(scope=rolled, tbt=_TBT, ttft=_TTFT_FROM_HISTOGRAM)
    else:
        sums = window_sums_sql(
            filters,
            [
                (
                    "bucket",
                    f"toStartOfInterval(toDateTime(minute, 'UTC'), {_STEP})",
                    f"toStartOfInterval(toDateTime(timestamp, 'UTC'), {_STEP})",
                ),
                ("model", "model", MODEL),
            ],
            llm_only=True,
            histogram="concat",
            rollup=whole_minutes,
        )
        sql = _RAW.format(sums=sums, scope=scope(filters), tbt=_TBT)
    sql = (
        f"SELECT bucket, model, calls, errors, {_TTFT}, tbt_gaps, tbt_p50, tbt_p95, tbt_p99 "
        f"FROM ({sql}) ORDER BY bucket, model"
    )
    df = frame(store, sql, params)
    return df.select(
        pl.col(OVER_TIME_COLUMNS[:4]),
        *[pl.col(c).cast(pl.Float64).fill_nan(None) for c in OVER_TIME_COLUMNS[4:7]],
        pl.col("tbt_gaps").cast(pl.UInt64),
        *[pl.col(c).cast(pl.Float64) for c in OVER_TIME_COLUMNS[8:]],
        source=pl.lit("rollup" if use_rollup else "raw"),
    )


def choose_bucket(length: timedelta) -> timedelta:
    """The time bucket for a window: about 60 to 300 points whatever its length."""
    for longest, step in _BUCKETS:
        if length <= longest:
            return step
    return timedelta(days=1)
