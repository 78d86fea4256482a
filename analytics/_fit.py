"""Latency against load: a robust line, its 95 % slope interval, and where it crosses an SLO.

The fit is Theil-Sen (``scipy.stats.theilslopes``): the slope is the median of the slopes
of all pairs of points with different loads, the intercept ``median(y) - slope *
median(x)``, and the 95 % interval on the slope is Sen's, from the distribution of Kendall's
tau (with the correction for tied loads). It shrugs off up to 29 % outliers, which latency
has (stalls, retries). R² is ``1 - SS_res / SS_tot`` around that line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["FIT_THREADS", "MIN_POINTS", "LineFit", "fit_line", "fit_many"]

MIN_POINTS = 10
"""Fewer calls than this (or a single load level) give no fit."""
CURVE_POINTS = 25
FIT_THREADS = min(4, os.cpu_count() or 1)
"""Fits run side by side on up to this many threads (:func:`fit_many`): most of a fit is
numpy's work on its pairwise slopes, which releases the GIL."""


@dataclass(frozen=True, slots=True)
class LineFit:
    n: int
    intercept: float
    slope: float
    slope_lo: float
    slope_hi: float
    r2: float | None
    x_lo: float
    x_hi: float
    x_median: float
    y_median: float
    residuals: np.ndarray

    def predict(self, x: np.ndarray | float) -> np.ndarray:
        return self.intercept + self.slope * np.asarray(x, dtype=np.float64)

    def residual_quantile(self, q: float) -> float:
        """The ``q`` quantile of the residuals: fitted pNN = line + this."""
        return float(np.quantile(self.residuals, q))

    def crossing(self, threshold: float, q: float) -> float | None:
        """The smallest load >= 1 at which the fitted ``q`` quantile reaches ``threshold``.

        The fitted quantile is the line plus the ``q`` quantile of the residuals (the spread
        around the line taken as the same at every load). None when it never gets there.
        """
        offset = self.intercept + self.residual_quantile(q)
        if offset + self.slope >= threshold:
            return 1.0
        if self.slope <= 0:
            return None
        return (threshold - offset) / self.slope

    def band(self) -> tuple[list[float], list[float], list[float], list[float]]:
        """Points of the line and of its 95 % band over the loads seen, for a plot.

        The band is the set of lines through (median load, median latency) with a slope in
        the interval.
        """
        x = np.linspace(self.x_lo, self.x_hi, CURVE_POINTS)
        lo_line = self.y_median + self.slope_lo * (x - self.x_median)
        hi_line = self.y_median + self.slope_hi * (x - self.x_median)
        return (
            x.tolist(),
            self.predict(x).tolist(),
            np.minimum(lo_line, hi_line).tolist(),
            np.maximum(lo_line, hi_line).tolist(),
        )


def fit_line(x: np.ndarray, y: np.ndarray) -> LineFit | None:
    """Theil-Sen fit of ``y`` on ``x``; None with too few points or a single ``x``."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < MIN_POINTS or np.unique(x).size < 2:
        return None
    # Sen's interval has no variance when almost every load is tied; it is then the slope.
    with np.errstate(invalid="ignore"):
        result = stats.theilslopes(y, x, alpha=0.95)
    slope = float(result.slope)
    intercept = float(result.intercept)
    residuals = y - (intercept + slope * x)
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residuals**2)) / total if total > 0 else None
    lo, hi = float(result.low_slope), float(result.high_slope)
    return LineFit(
        n=int(x.size),
        intercept=intercept,
        slope=slope,
        slope_lo=lo if math.isfinite(lo) else slope,
        slope_hi=hi if math.isfinite(hi) else slope,
        r2=r2,
        x_lo=float(x.min()),
        x_hi=float(x.max()),
        x_median=float(np.median(x)),
        y_median=float(np.median(y)),
        residuals=residuals,
    )


def fit_many(points: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[LineFit | None]:
    """:func:`fit_line` of each ``(x, y)``, in order, side by side on up to
    :data:`FIT_THREADS` threads. With 1,000 points a fit builds some 500,000 pairwise slopes."""
    threads = min(FIT_THREADS, len(points))
    if threads <= 1:
        return [fit_line(x, y) for x, y in points]
    with ThreadPoolExecutor(threads, thread_name_prefix="agentflight-fit") as pool:
        return list(pool.map(lambda xy: fit_line(*xy), points))
