"""Fits side by side (``fit_many``) are the fits one by one."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from analytics import _fit
from analytics._fit import LineFit, fit_line, fit_many


def _same(a: LineFit | None, b: LineFit | None) -> bool:
    if a is None or b is None:
        return a is b
    return all(
        np.array_equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
    )


def test_fits_side_by_side_are_the_fits_one_by_one_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(7)
    points = []
    for slope in (0.0, 2.0, 5.0, -1.0, 12.0):
        x = rng.integers(1, 40, 800).astype(np.float64)
        points.append((x, 100 + slope * x + rng.standard_cauchy(x.size)))
    points.insert(2, (np.arange(5.0), np.arange(5.0)))  # too few points: no fit
    points.insert(4, (np.full(50, 3.0), rng.normal(size=50)))  # one load: no fit
    alone = [fit_line(x, y) for x, y in points]

    names: set[str] = set()

    def noting(x: np.ndarray, y: np.ndarray) -> LineFit | None:
        names.add(threading.current_thread().name)
        return fit_line(x, y)

    monkeypatch.setattr(_fit, "FIT_THREADS", 3)
    monkeypatch.setattr(_fit, "fit_line", noting)
    together = fit_many(points)

    assert [fit is None for fit in together] == [False, False, True, False, True, False, False]
    assert all(_same(a, b) for a, b in zip(alone, together, strict=True))
    assert names and all(name.startswith("agentflight-fit") for name in names)


def test_one_thread_fits_in_the_callers_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    x = rng.integers(1, 9, 100).astype(np.float64)
    monkeypatch.setattr(_fit, "FIT_THREADS", 1)
    names: list[str] = []
    monkeypatch.setattr(
        _fit, "fit_line", lambda x, y: names.append(threading.current_thread().name)
    )
    fit_many([(x, x), (x, 2 * x)])
    assert names == [threading.current_thread().name] * 2
