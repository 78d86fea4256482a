"""Load: latency against each LLM call's concurrency (docs/analytics.md, "Load").

Concurrency is computed in ClickHouse by :mod:`analytics._concurrency` for the calls a
figure samples; fits are Theil-Sen lines (:mod:`analytics._fit`) per model and source
(production, each load-test run).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import numpy as np
import polars as pl

from analytics._concurrency import LOOKBACK_S, concurrency_sql, domain, sweep_sql
from analytics._filters import Filters, Window, scope, scope_params, window
from analytics._fit import LineFit, fit_many
from analytics._measures import IS_LLM, MODEL, SAMPLE_KEY, frame
from analytics._rollup import window_sums_sql
from analytics._slo import SLO
from collector import Store

__all__ = [
    "FIT_COLUMNS",
    "FIT_FIELDS",
    "FIT_POINTS",
    "LOOKBACK_S",
    "POINT_COLUMNS",
    "fit_lines",
    "fit_sample",
    "fits_frame",
    "lines_from",
    "load_fits",
    "load_points",
]

LoadMeasure = Literal["concurrency", "inflight"]
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

# Calls eligible for fits and points: streamed (a TTFT or a TBT) LLM calls.
_STREAMED = "(ttft_ms IS NOT NULL OR tbt_mean_ms IS NOT NULL)"
_SIZES = f"""
SELECT request_model, response_model, loadtest_run_id, count() AS n
FROM {{{{db:Identifier}}}}.genai_spans
WHERE {{scope}} AND {IS_LLM} AND {_STREAMED}{{extra}}
GROUP BY request_model, response_model, loadtest_run_id
"""
_POINTS = """
SELECT timestamp, model, if(loadtest_run_id = '', 'production', 'loadtest') AS source,
       loadtest_run_id, concurrency, inflight, ttft_ms, tbt_mean_ms AS tbt_ms
FROM ({calls})
ORDER BY sample_key, start_ns
LIMIT {{limit:UInt32}}
"""
_POINT_FIELDS = ("timestamp", "inflight", "ttft_ms", "tbt_mean_ms", "sample_key")
FIT_FIELDS = ("ttft_ms", "tbt_mean_ms", "sample_key")
FIT_POINTS = 1000
"""Calls fitted per model and source, by default."""
# The sample: a bound on the sample key per model and source (evaluated only where the
# largest bound passes).
_CUT = (
    f"{SAMPLE_KEY} <= {{{{{{p}}top:UInt64}}}} AND {SAMPLE_KEY} <= transform(concat({MODEL}, "
    "'|', loadtest_run_id), {{{p}groups:Array(String)}}, {{{p}cuts:Array(UInt64)}}, "
    "toUInt64(0))"
)
_FIT_SAMPLE_INFLIGHT = f"""
SELECT {MODEL} AS model, loadtest_run_id, toUnixTimestamp64Nano(timestamp) AS start_ns,
       {SAMPLE_KEY} AS sample_key, inflight, ttft_ms, tbt_mean_ms
FROM {{{{db:Identifier}}}}.genai_spans
WHERE {{where}} AND {IS_LLM}
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
    params = scope_params(win, filters) | {"limit": limit}
    sizes = _sizes(store, filters, params)
    total = int(sizes["n"].sum() or 0)
    # The smallest sample keys: those under a bound that keeps about twice the limit, or
    # every call when that bound keeps too few.
    for top in dict.fromkeys((_cut(total, limit), 2**64 - 1)):
        calls = concurrency_sql(
            filters,
            _POINT_FIELDS,
            target=f"{_STREAMED} AND {SAMPLE_KEY} <= {top}",
            all_sources=True,
        )
        points = frame(store, _POINTS.format(calls=calls), params)
        if points.height >= limit:
            break
    return points.select(POINT_COLUMNS)


def load_fits(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    slo: SLO | None = None,
    load_measure: LoadMeasure = "concurrency",
    *,
    max_points: int = FIT_POINTS,
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
    max_points: int = FIT_POINTS,
) -> dict[tuple[str, str, str], LineFit]:
    """The fitted lines by ``(model, loadtest_run_id, metric)`` (run ``""``: production)."""
    if load_measure not in ("concurrency", "inflight"):
        raise ValueError(f"load_measure must be concurrency or inflight, got {load_measure!r}")
    win = window(since, until)
    plan = fit_sample(store, win, filters, max_points, inflight=load_measure == "inflight")
    if plan is None:
        return {}
    where, params = plan
    if load_measure == "inflight":
        sql = _FIT_SAMPLE_INFLIGHT.format(where=where)
        sample = frame(store, sql, params).rename({"inflight": "load"})
    else:
        sql = sweep_sql({"": where}, FIT_FIELDS, domain(filters, all_sources=True))
        sample = frame(store, sql, params).rename({"concurrency": "load"})
    return lines_from(sample, max_points)


def fit_sample(
    store: Store,
    win: Window,
    filters: Filters | None,
    max_points: int,
    *,
    inflight: bool = False,
    prefix: str = "",
) -> tuple[str, dict[str, Any]] | None:
    """The condition (over ``genai_spans``) selecting the calls fits sample, about twice
    ``max_points`` per model and source by hash, and its values (the sample's own named
    with ``prefix``); None without such calls."""
    params = scope_params(win, filters)
    extra = " AND inflight IS NOT NULL" if inflight else ""
    sizes = _sizes(store, filters, params, extra)
    groups = sizes.group_by("grp").agg(pl.col("n").sum())
    if groups.is_empty():
        return None
    cuts = [_cut(n, max_points) for n in groups["n"]]
    params |= {
        f"{prefix}groups": groups["grp"].to_list(),
        f"{prefix}cuts": cuts,
        f"{prefix}top": max(cuts),
    }
    cut = _CUT.format(p=prefix)
    where = f"({scope(filters, all_sources=True)}) AND {_STREAMED}{extra} AND {cut}"
    return where, params


def lines_from(sample: pl.DataFrame, max_points: int) -> dict[tuple[str, str, str], LineFit]:
    """Fits on the ``max_points`` calls of smallest sample key per model and source, of a
    sample with ``model, loadtest_run_id, start_ns, sample_key, load, ttft_ms,
    tbt_mean_ms``."""
    kept = sample.sort("sample_key", "start_ns").group_by(
        "model", "loadtest_run_id", maintain_order=True
    )
    keys: list[tuple[str, str, str]] = []
    points: list[tuple[np.ndarray, np.ndarray]] = []
    for (model, run), group in kept:
        group = group.head(max_points)
        load = group["load"].cast(pl.Float64).to_numpy()
        for metric, column in (("ttft_ms", "ttft_ms"), ("tbt_ms", "tbt_mean_ms")):
            keys.append((str(model), str(run), metric))
            points.append((load, group[column].cast(pl.Float64).to_numpy()))
    fits = fit_many(points)
    return {key: fit for key, fit in zip(keys, fits, strict=True) if fit is not None}


def _sizes(
    store: Store, filters: Filters | None, params: dict[str, Any], extra: str = ""
) -> pl.DataFrame:
    """Streamed calls per ``grp`` (``model|loadtest_run_id``), to size samples: from the
    rollup's counts (:mod:`analytics._rollup`), or with ``extra`` conditions the spans'."""
    if extra:
        sql = _SIZES.format(scope=scope(filters, all_sources=True), extra=extra)
        df = frame(store, sql, params)
        model = pl.when(pl.col("request_model") != "").then("request_model")
        df = df.with_columns(model=model.otherwise("response_model"))
    else:
        dims = [
            ("model", "model", MODEL),
            ("loadtest_run_id", "loadtest_run_id", "loadtest_run_id"),
        ]
        sums = window_sums_sql(filters, dims, llm_only=True, all_sources=True)
        df = frame(store, f"SELECT model, loadtest_run_id, streamed AS n FROM ({sums})", params)
    return df.select(grp=pl.concat_str("model", pl.lit("|"), "loadtest_run_id"), n="n")


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
