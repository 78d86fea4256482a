"""Concurrency from span times, and latency-against-load fits with known slopes."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from analytics import Filters, load_fits, load_points, parse_slo
from collector import Store
from tests.analytics.synth import Span, insert, llm_attrs, new_id, past


def call(start, seconds: float, model: str = "m", **over) -> Span:  # type: ignore[no-untyped-def]
    service = over.pop("service", "svc")
    project = over.pop("project", "p1")
    attrs = llm_attrs(model, ttft_ms=over.pop("ttft_ms", 50.0), **over)
    return Span(
        new_id(32), start, seconds * 1000, f"chat {model}", attrs, service=service, project=project
    )


def test_concurrency_is_the_known_overlap(store: Store) -> None:
    t0 = past(hours=2)
    at = lambda s: t0 + timedelta(seconds=s)  # noqa: E731
    spans = [
        call(at(0), 10, ttft_ms=1.0),  # alone at its start
        call(at(2), 3, ttft_ms=2.0),  # with the first and the next (same instant)
        call(at(2), 6, ttft_ms=3.0, service="other", project="p2"),  # other services count
        call(at(5), 4, ttft_ms=4.0),  # the one ending at 5 is no longer in flight
        call(at(10), 2, ttft_ms=5.0),  # the first ended at 10
        call(at(-30), 60, ttft_ms=6.0),  # started before the window: counted, not returned
        call(at(3), 20, model="other-model", ttft_ms=7.0),  # another model
        call(at(3), 20, ttft_ms=8.0, loadtest_run="lt-1"),  # a load test is swept apart
    ]
    insert(store, spans)
    points = load_points(store, t0, t0 + timedelta(minutes=5), limit=100)
    got = {
        (row["source"], row["ttft_ms"]): row["concurrency"]
        for row in points.iter_rows(named=True)
        if row["model"] == "m"
    }
    assert got == {
        ("production", 1.0): 2,  # itself and the call started 30 s before the window
        ("production", 2.0): 4,
        ("production", 3.0): 4,
        ("production", 4.0): 4,
        ("production", 5.0): 2,
        ("loadtest", 8.0): 1,
    }
    # A model filter picks that model's calls; their concurrency is the same.
    only_m = load_points(store, t0, t0 + timedelta(minutes=5), Filters(model="m"), limit=100)
    assert {
        (row["source"], row["ttft_ms"]): row["concurrency"] for row in only_m.iter_rows(named=True)
    } == got
    # Filters pick the calls returned; concurrency still counts every service.
    only_other = load_points(store, t0, t0 + timedelta(minutes=5), Filters(service="other"))
    assert only_other["concurrency"].to_list() == [4]
    assert only_other["source"].to_list() == ["production"]


def batches(t0, model: str, levels, rng, a, b, a_tbt, b_tbt, run=None, repeat=4):  # type: ignore[no-untyped-def]
    """Calls started in simultaneous batches of ``c``: each call's concurrency is ``c``."""
    spans, offset = [], 0.0
    for _ in range(repeat):
        for c in levels:
            for _ in range(c):
                ttft = a + b * c + rng.normal(0, 10)
                gaps = np.full(20, a_tbt + b_tbt * c + rng.normal(0, 1))
                spans.append(
                    call(
                        t0 + timedelta(seconds=offset),
                        1.0,
                        model=model,
                        ttft_ms=ttft,
                        gaps_ms=gaps,
                        loadtest_run=run,
                        inflight=max(1, c // 2),
                    )
                )
            offset += 2.0
    return spans


@pytest.fixture
def fitted(store: Store):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    t0 = past(hours=2)
    spans = batches(t0, "fit-a", range(1, 13), rng, 100, 5, 20, 0.8)
    spans += batches(t0, "fit-a", range(4, 25, 2), rng, 90, 7, 18, 1.5, run="ramp-1", repeat=2)
    insert(store, spans)
    return t0


def test_fitted_slopes_hold_the_true_slope_in_their_interval(store: Store, fitted) -> None:  # type: ignore[no-untyped-def]
    t0 = fitted
    slo = parse_slo("ttft_p95<400ms,tbt_p99<30ms")
    fits = load_fits(store, t0, t0 + timedelta(hours=1), slo=slo)
    by = {(r["source"], r["metric"]): r for r in fits.iter_rows(named=True)}
    assert set(by) == {
        ("production", "ttft_ms"),
        ("production", "tbt_ms"),
        ("loadtest", "ttft_ms"),
        ("loadtest", "tbt_ms"),
    }
    for key, slope in (
        (("production", "ttft_ms"), 5),
        (("production", "tbt_ms"), 0.8),
        (("loadtest", "ttft_ms"), 7),
        (("loadtest", "tbt_ms"), 1.5),
    ):
        row = by[key]
        assert row["slope_ci95_lo"] <= slope <= row["slope_ci95_hi"], key
        assert row["slope_ci95_hi"] - row["slope_ci95_lo"] < slope  # informative
        assert row["r2"] > 0.5
    prod = by[("production", "ttft_ms")]
    assert prod["n"] == sum(range(1, 13)) * 4
    assert (prod["concurrency_lo"], prod["concurrency_hi"]) == (1, 12)
    assert by[("loadtest", "ttft_ms")]["loadtest_run_id"] == "ramp-1"
    # p95 of N(0, 10) residuals is 16.4: the fitted p95 reaches 400 ms near (400-116.4)/5.
    assert prod["slo"] == "ttft_p95<400ms"
    assert prod["slo_crossing_concurrency"] == pytest.approx(56.7, abs=3)
    # TBT: 20 + 0.8c plus about 2.3 ms (p99 of N(0, 1)) reaches 30 ms near c = 9.6.
    assert by[("production", "tbt_ms")]["slo_crossing_concurrency"] == pytest.approx(9.6, abs=1)
    curve = prod["curve_y"]
    assert len(curve) == len(prod["curve_lo"]) == len(prod["curve_x"]) == 25
    assert all(
        lo <= y <= hi for lo, y, hi in zip(prod["curve_lo"], curve, prod["curve_hi"], strict=True)
    )


def test_fits_on_inflight_and_for_one_run(store: Store, fitted) -> None:  # type: ignore[no-untyped-def]
    t0 = fitted
    fits = load_fits(
        store, t0, t0 + timedelta(hours=1), Filters(loadtest_run="ramp-1"), load_measure="inflight"
    )
    assert fits["source"].unique().to_list() == ["loadtest"]
    ttft = fits.filter(pl.col("metric") == "ttft_ms").row(0, named=True)
    assert ttft["load_measure"] == "inflight"
    # inflight = c // 2 here: twice the slope per unit of load.
    assert ttft["slope_ci95_lo"] <= 14 <= ttft["slope_ci95_hi"]
    assert ttft["slo_crossing_concurrency"] is None and ttft["slo"] is None
    with pytest.raises(ValueError, match="load_measure"):
        load_fits(store, t0, t0 + timedelta(hours=1), load_measure="rps")  # type: ignore[arg-type]


def test_too_few_calls_give_no_fit(store: Store) -> None:
    t0 = past(hours=2)
    insert(store, [call(t0 + timedelta(seconds=i * 5), 1) for i in range(5)])
    assert load_fits(store, t0, t0 + timedelta(hours=1)).is_empty()
