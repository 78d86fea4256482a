"""Latency over time: per time bucket and model, calls, errors, TTFT and pooled TBT.

Two sources (docs/analytics.md, "Over time"):

- ``raw``: exact. TTFT percentiles over ``genai_spans`` (``quantilesExactInclusive``);
  calls, errors and the TBT histograms are sums, read from the rollup for the window's
  whole minutes and from ``genai_spans`` at its edges (:mod:`analytics._rollup`).
- ``rollup``: every figure from ``genai_minutes``, TTFT percentiles from its per-minute
  TTFT histogram (within 1.09 %, read as pooled TBT is), over the whole minutes that
  overlap the window.

Histograms are merged in ClickHouse; their percentiles are read with numpy, every bucket
at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import polars as pl

from analytics._filters import Filters, rollup_scope, scope, scope_params, window
from analytics._histogram import percentiles_of
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


# Exact: the sums and histograms per bucket, with the TTFT percentiles of its calls.
_RAW = f"""
SELECT toDateTime64(s.bucket, 0, 'UTC') AS bucket, s.model AS model, s.calls AS calls,
       s.errors AS errors, t.ttft AS ttft, s.tbt_keys AS tbt_keys, s.tbt_counts AS tbt_counts
FROM ({{sums}}) AS s
LEFT JOIN (
    SELECT toStartOfInterval(toDateTime(timestamp, 'UTC'), {_STEP_T}) AS bucket,
           {MODEL} AS model, {LATENCY_QUANTILES}(assumeNotNull(ttft_ms)) AS ttft
    FROM {{{{db:Identifier}}}}.genai_spans
    WHERE {{scope}} AND {IS_LLM} AND ttft_ms IS NOT NULL
    GROUP BY bucket, model
) AS t ON s.bucket = t.bucket AND s.model = t.model
ORDER BY bucket, model
"""

# From the rollup: TTFT percentiles too are read from its histogram, as pooled TBT.
_ROLLUP = f"""
SELECT toDateTime64(toStartOfInterval(toDateTime(minute, 'UTC'), {_STEP_T}), 0, 'UTC') AS bucket,
       model, sum(calls) AS calls, sum(errors) AS errors,
       {_concat("ttft_histogram", "ttft_keys", "ttft_counts")},
       {_concat("tbt_histogram", "tbt_keys", "tbt_counts")}
FROM {{{{db:Identifier}}}}.genai_minutes
WHERE {{scope}} AND model != '' AND operation NOT IN ('invoke_agent', 'execute_tool', 'route')
GROUP BY bucket, model
ORDER BY bucket, model
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
        df = frame(store, _ROLLUP.format(scope=rolled), params)
        ttft = percentiles_of(df["ttft_keys"], df["ttft_counts"], PERCENTILES)
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
        df = frame(store, _RAW.format(sums=sums, scope=scope(filters)), params)
        exact = df["ttft"].fill_null([]).list
        ttft = (
            np.column_stack(
                [exact.get(i, null_on_oob=True).fill_null(np.nan).to_numpy() for i in range(3)]
            )
            if df.height
            else np.empty((0, 3))
        )
    tbt = percentiles_of(df["tbt_keys"], df["tbt_counts"], PERCENTILES)
    return pl.DataFrame(
        {
            "bucket": df["bucket"],
            "model": df["model"].cast(pl.String),
            "calls": df["calls"].cast(pl.UInt64),
            "errors": df["errors"].cast(pl.UInt64),
            **_columns("ttft", ttft),
            "tbt_gaps": df["tbt_counts"].list.sum().fill_null(0).cast(pl.UInt64),
            **_columns("tbt", tbt),
            "source": pl.Series(["rollup" if use_rollup else "raw"] * df.height, dtype=pl.String),
        }
    )


def _columns(prefix: str, values: np.ndarray) -> dict[str, pl.Series]:
    """Percentile columns ``{prefix}_p50/p95/p99`` (null where NaN) from an (n, 3) array."""
    return {
        f"{prefix}_{s}": pl.Series(values[:, i], dtype=pl.Float64).fill_nan(None)
        for i, s in enumerate(("p50", "p95", "p99"))
    }


def choose_bucket(length: timedelta) -> timedelta:
    """The time bucket for a window: about 60 to 300 points whatever its length."""
    for longest, step in _BUCKETS:
        if length <= longest:
            return step
    return timedelta(days=1)
