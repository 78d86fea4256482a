"""Load: each LLM call's concurrency, and latency against it (docs/analytics.md, "Load").

``concurrency`` of a call: the calls to the same model in flight at its start, across all
processes, services and projects, itself included, from span start and end times. It is a
window-function sweep in ClickHouse over +1 (start) / -1 (end) events per model, ordered by
time with ends before starts at the same instant, summed over peers: calls that start at
the same instant count each other. Load-test runs are swept apart from production and from
each other (partition by ``loadtest_run_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import numpy as np
import polars as pl

from analytics._filters import Filters, scope, scope_params, window
from analytics._fit import LineFit, fit_line
from analytics._measures import END_NS, IS_LLM, MODEL, START_NS, frame
from analytics._slo import SLO
from collector import Store

__all__ = [
    "FIT_COLUMNS",
    "LOOKBACK_S",
    "POINT_COLUMNS",
    "calls_with_concurrency",
    "fit_lines",
    "fits_frame",
    "load_fits",
    "load_points",
]

LOOKBACK_S = 3600
"""Calls that started up to this long before the window still count in its concurrency."""
LoadMeasure = Literal["concurrency", "inflight"]
METRICS = ("ttft_ms", "tbt_ms")
POINT_COLUMNS = (
    "timestamp",
    "model",
    "source",
    "loadtest_run_id",
    "concurrency",
    "inflight",
    "ttft_ms",
    "tbt_ms",
)
FIT_COLUMNS = (
    "model",
    "metric",
    "source",
    "loadtest_run_id",
    "load_measure",
    "n",
    "intercept_ms",
    "slope_ms_per_concurrent",
    "slope_ci95_lo",
    "slope_ci95_hi",
    "r2",
    "concurrency_lo",
    "concurrency_hi",
    "slo",
    "slo_crossing_concurrency",
    "curve_x",
    "curve_y",
    "curve_lo",
    "curve_hi",
)

# Every LLM call of the window with its concurrency. Only the columns asked for, and a flag
# for the calls the filters select, go through the sweep: it sorts every event of the window.
_CONCURRENCY = f"""
SELECT {{columns}}, toUInt32(concurrency) AS concurrency FROM (
    SELECT *, sum(ev.2) OVER (PARTITION BY model, loadtest_run_id
                              ORDER BY ev.1, ev.2
                              RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS concurrency
    FROM (
        SELECT {{expressions}}, {MODEL} AS model, loadtest_run_id, ({{scope}}) AS keep,
               arrayJoin([({START_NS}, toInt8(1)), ({END_NS}, toInt8(-1))]) AS ev
        FROM {{{{db:Identifier}}}}.genai_spans
        WHERE {{events}} AND {IS_LLM}
    )
)
WHERE ev.2 = 1 AND keep
"""
# Columns callers may ask for, by name: genai_spans columns, or these expressions.
_EXPRESSIONS = {
    "trace_key": "cityHash64(trace_id)",
    "sample_key": "cityHash64(span_id)",
    "start_ns": START_NS,
    "end_ns": END_NS,
}


def calls_with_concurrency(
    filters: Filters | None, columns: Sequence[str], *, all_sources: bool = False
) -> str:
    """SQL of the window's LLM calls with ``columns`` (``genai_spans`` columns, ``model``,
    ``loadtest_run_id``, ``trace_key``, ``sample_key``, ``start_ns``, ``end_ns``) and their
    ``concurrency``."""
    f = filters or Filters()
    events = scope(
        Filters(loadtest_run=f.loadtest_run),
        all_sources=True,
        model="none",
        lookback_s=LOOKBACK_S,
        all_replays=True,
    )
    carried = [c for c in columns if c not in ("model", "loadtest_run_id")]
    expressions = ", ".join(f"{_EXPRESSIONS.get(c, c)} AS {c}" for c in carried) or "1 AS one"
    return _CONCURRENCY.format(
        columns=", ".join(columns),
        expressions=expressions,
        events=events,
        scope=scope(filters, all_sources=all_sources),
    )


_POINTS = """
SELECT timestamp, model, if(loadtest_run_id = '', 'production', 'loadtest') AS source,
       loadtest_run_id, concurrency, inflight, ttft_ms, tbt_mean_ms AS tbt_ms
FROM ({calls})
WHERE ttft_ms IS NOT NULL OR tbt_mean_ms IS NOT NULL
ORDER BY sample_key
LIMIT {{limit:UInt32}}
"""
_POINT_FIELDS = (
    "timestamp",
    "model",
    "loadtest_run_id",
    "inflight",
    "ttft_ms",
    "tbt_mean_ms",
    "sample_key",
)
_FIT_FIELDS = ("model", "loadtest_run_id", "inflight", "ttft_ms", "tbt_mean_ms", "sample_key")

# Calls per model and source, to sample each group down to about max_points by hash.
_GROUP_SIZES = f"""
SELECT concat({MODEL}, '|', loadtest_run_id) AS grp, count() AS n
FROM {{{{db:Identifier}}}}.genai_spans
WHERE {{scope}} AND {IS_LLM}
GROUP BY grp
"""
_FIT_SAMPLE = """
SELECT model, loadtest_run_id, toFloat64({measure}) AS load, ttft_ms,
       tbt_mean_ms AS tbt_ms
FROM ({calls})
WHERE ({measure}) IS NOT NULL AND (ttft_ms IS NOT NULL OR tbt_mean_ms IS NOT NULL)
  AND sample_key <= transform(concat(model, '|', loadtest_run_id), {{groups:Array(String)}},
                              {{cuts:Array(UInt64)}}, toUInt64(0))
ORDER BY sample_key
LIMIT {{per_group:UInt32}} BY model, loadtest_run_id
"""


def load_points(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    limit: int = 5000,
) -> pl.DataFrame:
    """A deterministic sample of at most ``limit`` streamed LLM calls, for scatter plots.

    Columns: :data:`POINT_COLUMNS`; ``source`` is ``production`` or ``loadtest``
    (production and every load-test run, unless a run is asked for); ``tbt_ms`` is the
    call's mean gap.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    win = window(since, until)
    sql = _POINTS.format(calls=calls_with_concurrency(filters, _POINT_FIELDS, all_sources=True))
    return frame(store, sql, scope_params(win, filters) | {"limit": limit}).select(POINT_COLUMNS)


def load_fits(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    slo: SLO | None = None,
    load_measure: LoadMeasure = "concurrency",
    *,
    max_points: int = 1000,
) -> pl.DataFrame:
    """Per model and source (production, each load-test run): Theil-Sen fits of TTFT and of
    the per-call mean TBT against load, with what a plot needs (``curve_*``: the line and
    its 95 % band over the loads seen).

    Fits use a deterministic sample of at most ``max_points`` calls per model and source.
    ``slo_crossing_concurrency``: the load at which the fitted percentile of the SLO's
    ``ttft_pNN``/``tbt_pNN`` objective reaches its threshold (the earliest, with several).
    Columns: :data:`FIT_COLUMNS`.
    """
    lines = fit_lines(store, since, until, filters, load_measure, max_points=max_points)
    return fits_frame(lines, slo, load_measure)


def fits_frame(
    lines: dict[tuple[str, str, str], LineFit], slo: SLO | None, load_measure: str
) -> pl.DataFrame:
    """:func:`load_fits`'s frame for lines already fitted by :func:`fit_lines`."""
    rows = [
        _row(model, run, metric, load_measure, fit, slo)
        for (model, run, metric), fit in lines.items()
    ]
    if not rows:
        return pl.DataFrame(schema=_FIT_SCHEMA)
    return pl.DataFrame(rows, schema=_FIT_SCHEMA).sort(["source", "loadtest_run_id", "model"])


def fit_lines(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    load_measure: LoadMeasure = "concurrency",
    *,
    max_points: int = 1000,
) -> dict[tuple[str, str, str], LineFit]:
    """The fitted lines by ``(model, loadtest_run_id, metric)`` (run ``""``: production)."""
    if load_measure not in ("concurrency", "inflight"):
        raise ValueError(f"load_measure must be concurrency or inflight, got {load_measure!r}")
    win = window(since, until)
    sql = _FIT_SAMPLE.format(
        calls=calls_with_concurrency(filters, _FIT_FIELDS, all_sources=True),
        measure=load_measure,
    )
    params = scope_params(win, filters) | {"per_group": max_points}
    sizes = frame(store, _GROUP_SIZES.format(scope=scope(filters, all_sources=True)), params)
    params |= {"groups": sizes["grp"].to_list(), "cuts": [_cut(n, max_points) for n in sizes["n"]]}
    sample = frame(store, sql, params)
    lines: dict[tuple[str, str, str], LineFit] = {}
    for (model, run), group in sample.group_by(["model", "loadtest_run_id"], maintain_order=True):
        for metric in METRICS:
            fit = fit_line(group["load"].to_numpy(), group[metric].to_numpy().astype(np.float64))
            if fit is not None:
                lines[(str(model), str(run), metric)] = fit
    return lines


def _cut(size: int, wanted: int) -> int:
    """A hash bound keeping about twice ``wanted`` of ``size`` uniformly hashed rows."""
    share = min(1.0, 2.0 * wanted / size) if size else 1.0
    return min(2**64 - 1, int(share * 2**64))


_FIT_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "model": pl.String,
    "metric": pl.String,
    "source": pl.String,
    "loadtest_run_id": pl.String,
    "load_measure": pl.String,
    "n": pl.Int64,
    "intercept_ms": pl.Float64,
    "slope_ms_per_concurrent": pl.Float64,
    "slope_ci95_lo": pl.Float64,
    "slope_ci95_hi": pl.Float64,
    "r2": pl.Float64,
    "concurrency_lo": pl.Float64,
    "concurrency_hi": pl.Float64,
    "slo": pl.String,
    "slo_crossing_concurrency": pl.Float64,
    "curve_x": pl.List(pl.Float64),
    "curve_y": pl.List(pl.Float64),
    "curve_lo": pl.List(pl.Float64),
    "curve_hi": pl.List(pl.Float64),
}


def _row(
    model: str, run: str, metric: str, measure: str, fit: LineFit, slo: SLO | None
) -> dict[str, object]:
    crossing: float | None = None
    text: str | None = None
    for objective in slo.latency(metric.removesuffix("_ms")) if slo else ():
        at = fit.crossing(objective.threshold, objective.quantile or 0.5)
        if at is not None and (crossing is None or at < crossing):
            crossing, text = at, objective.text
        elif text is None:
            text = objective.text
    x, y, lo, hi = fit.band()
    return {
        "model": model,
        "metric": metric,
        "source": "loadtest" if run else "production",
        "loadtest_run_id": run,
        "load_measure": measure,
        "n": fit.n,
        "intercept_ms": fit.intercept,
        "slope_ms_per_concurrent": fit.slope,
        "slope_ci95_lo": fit.slope_lo,
        "slope_ci95_hi": fit.slope_hi,
        "r2": fit.r2,
        "concurrency_lo": fit.x_lo,
        "concurrency_hi": fit.x_hi,
        "slo": text,
        "slo_crossing_concurrency": crossing,
        "curve_x": x,
        "curve_y": y,
        "curve_lo": lo,
        "curve_hi": hi,
    }
