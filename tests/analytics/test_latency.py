"""Latency figures against numpy on the same synthetic values."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from analytics import Filters, cost, duration_by, latency_over_time, latency_summary
from analytics._histogram import RELATIVE_ERROR, bucket_value, percentiles_of
from collector import Store
from tests.analytics.synth import Span, agent_attrs, insert, llm_attrs, new_id, past, skill_attrs

QS = (50, 95, 99)


@pytest.fixture
def dataset(store: Store) -> dict[str, object]:
    """Two models with lognormal TTFT and gaps, errors, an agent with runs, a skill."""
    rng = np.random.default_rng(7)
    base = past(hours=3)
    spans: list[Span] = []
    truth: dict[str, dict[str, list[float]]] = {}
    for model, n, mu in (("model-a", 1500, 5.5), ("model-b", 700, 6.2)):
        t = truth.setdefault(model, {"ttft": [], "gaps": [], "duration": [], "errors": []})
        for i in range(n):
            trace = new_id(32)
            start = base + timedelta(seconds=float(rng.uniform(0, 7000)))
            ttft = float(rng.lognormal(mu, 0.5))
            gaps = rng.lognormal(3.0, 0.6, size=int(rng.integers(5, 60)))
            duration = ttft + float(gaps.sum()) + 1.0
            error = i % 20 == 0
            runs_agent = i % 3 == 0
            parent = ""
            if runs_agent:
                run = Span(
                    trace,
                    start,
                    duration + 50,
                    "invoke_agent helper",
                    agent_attrs("helper", timeout_ms=5000),
                )
                spans.append(run)
                parent = run.span_id
                t.setdefault("agent_ttft", []).append(ttft)
                t.setdefault("agent_gaps", []).extend(gaps)
                t.setdefault("run_duration", []).append(duration + 50)
            spans.append(
                Span(
                    trace,
                    start + timedelta(milliseconds=10),
                    duration,
                    f"chat {model}",
                    llm_attrs(model, ttft_ms=ttft, gaps_ms=gaps, output_tokens=len(gaps) + 1),
                    parent=parent,
                    status="Error" if error else "Unset",
                )
            )
            t["ttft"].append(ttft)
            t.setdefault("start", []).append((start + timedelta(milliseconds=10)).timestamp())
            t["gaps"].extend(gaps)
            t.setdefault("call_gaps", []).append(gaps)
            t["duration"].append(duration)
            t["errors"].append(float(error))
    for i in range(300):
        trace = new_id(32)
        start = base + timedelta(seconds=float(rng.uniform(0, 7000)))
        d = float(rng.lognormal(4, 1))
        spans.append(
            Span(
                trace,
                start,
                d,
                "execute_tool search",
                skill_attrs("search"),
                status="Error" if i % 10 == 0 else "Unset",
            )
        )
        truth.setdefault("search", {}).setdefault("duration", []).append(d)
    insert(store, spans)
    return {"base": base, "truth": truth}


def window(dataset: dict[str, object]) -> tuple:
    base = dataset["base"]
    return base, base + timedelta(hours=2, minutes=30)  # type: ignore[operator]


def test_exact_percentiles_match_numpy_and_tbt_is_pooled(store: Store, dataset: dict) -> None:
    since, until = window(dataset)
    df = latency_summary(store, since, until)
    truth = dataset["truth"]
    for model in ("model-a", "model-b"):
        row = df.filter((pl.col("operation") == "chat") & (pl.col("model") == model)).row(
            0, named=True
        )
        t = truth[model]
        assert row["calls"] == len(t["ttft"])
        assert row["errors"] == int(sum(t["errors"]))
        assert row["error_rate"] == pytest.approx(np.mean(t["errors"]))
        assert row["streamed"] == len(t["ttft"])
        assert row["tbt_gaps"] == len(t["gaps"])
        for q in QS:
            assert row[f"ttft_p{q}"] == pytest.approx(np.percentile(t["ttft"], q), rel=1e-6)
            assert row[f"duration_p{q}"] == pytest.approx(np.percentile(t["duration"], q), rel=1e-6)
            assert row[f"tbt_p{q}"] == pytest.approx(
                np.percentile(t["gaps"], q), rel=RELATIVE_ERROR + 1e-6
            )
    skill = df.filter(pl.col("operation") == "execute_tool").row(0, named=True)
    assert skill["model"] == "" and skill["calls"] == 300 and skill["errors"] == 30
    assert skill["ttft_p50"] is None and skill["tbt_p95"] is None
    assert skill["duration_p95"] == pytest.approx(
        np.percentile(truth["search"]["duration"], 95), rel=1e-6
    )


def test_agent_rows_pool_the_calls_of_its_runs(store: Store, dataset: dict) -> None:
    since, until = window(dataset)
    df = latency_summary(store, since, until)
    row = df.filter(pl.col("agent") == "helper").row(0, named=True)
    truth = dataset["truth"]
    ttft = truth["model-a"]["agent_ttft"] + truth["model-b"]["agent_ttft"]
    gaps = truth["model-a"]["agent_gaps"] + truth["model-b"]["agent_gaps"]
    runs = truth["model-a"]["run_duration"] + truth["model-b"]["run_duration"]
    assert row["operation"] == "invoke_agent" and row["calls"] == len(runs)
    assert row["duration_p99"] == pytest.approx(np.percentile(runs, 99), rel=1e-6)
    assert row["ttft_p95"] == pytest.approx(np.percentile(ttft, 95), rel=1e-6)
    assert row["tbt_p99"] == pytest.approx(np.percentile(gaps, 99), rel=RELATIVE_ERROR + 1e-6)
    # The model filter keeps the LLM calls of that model and the runs that called it.
    only_b = latency_summary(store, since, until, Filters(model="model-b"))
    assert set(only_b["model"].to_list()) == {"model-b", ""}
    helper = only_b.filter(pl.col("agent") == "helper").row(0, named=True)
    assert helper["calls"] == len(truth["model-b"]["run_duration"])


def test_over_time_raw_is_exact_and_rollup_within_its_sketch_error(
    store: Store, dataset: dict
) -> None:
    since, until = window(dataset)
    raw = latency_over_time(store, since, until, bucket=timedelta(minutes=30), source="raw")
    rolled = latency_over_time(store, since, until, bucket=timedelta(minutes=30), source="rollup")
    assert raw["source"].unique().to_list() == ["raw"]
    assert rolled["source"].unique().to_list() == ["rollup"]
    assert raw.select("bucket", "model", "calls").equals(rolled.select("bucket", "model", "calls"))
    assert raw["calls"].sum() == 2200
    # The TBT histograms are the same in both; TTFT is a histogram (1.09 %) in the rollup.
    assert raw["tbt_p99"].to_list() == pytest.approx(rolled["tbt_p99"].to_list(), rel=1e-12)
    # Pooled TBT over time (histograms merged per bucket) equals the summary's on one bucket.
    one = latency_over_time(store, since, until, bucket=timedelta(days=1), source="raw")
    summary = latency_summary(store, since, until)
    compared = 0
    for row in one.iter_rows(named=True):
        same = summary.filter((pl.col("model") == row["model"]) & (pl.col("agent") == ""))
        if same["calls"][0] == row["calls"]:  # the day bucket holds the whole window
            compared += 1
            for q in ("p50", "p95", "p99"):
                assert row[f"tbt_{q}"] == pytest.approx(same[f"tbt_{q}"][0], rel=1e-9)
    assert compared == 2 or since.date() != until.date()  # unless the window spans midnight
    # The rollup's TTFT histogram answers within its buckets' error of numpy's percentile.
    truth = dataset["truth"]
    for row in rolled.iter_rows(named=True):
        t = truth[row["model"]]
        start = row["bucket"].timestamp()
        values = [
            v for v, s in zip(t["ttft"], t["start"], strict=True) if start <= s < start + 1800
        ]
        for q in QS:
            assert row[f"ttft_p{q}"] == pytest.approx(
                np.percentile(values, q), rel=RELATIVE_ERROR + 1e-9
            )


def test_exact_figures_cut_the_window_inside_minutes(store: Store, dataset: dict) -> None:
    """Whole minutes come from the rollup and the partial minutes at both edges from the
    spans: the figures are those of exactly the calls that start in the window."""
    since = dataset["base"] + timedelta(minutes=7, seconds=23.5)  # type: ignore[operator]
    until = dataset["base"] + timedelta(hours=1, minutes=41, seconds=12.25)  # type: ignore[operator]
    summary = latency_summary(store, since, until)
    series = latency_over_time(store, since, until, bucket=timedelta(minutes=30), source="raw")
    costs = cost(store, since, until)
    truth = dataset["truth"]
    for model in ("model-a", "model-b"):
        t = truth[model]
        inside = [i for i, s in enumerate(t["start"]) if since.timestamp() <= s < until.timestamp()]
        gaps = np.concatenate([t["call_gaps"][i] for i in inside])
        row = summary.filter((pl.col("model") == model) & (pl.col("agent") == "")).row(
            0, named=True
        )
        assert (row["calls"], row["tbt_gaps"]) == (len(inside), len(gaps))
        assert row["tbt_p99"] == pytest.approx(np.percentile(gaps, 99), rel=RELATIVE_ERROR + 1e-6)
        spent = costs.filter(pl.col("model") == model).row(0, named=True)
        assert (spent["calls"], spent["output_tokens"]) == (len(inside), len(gaps) + len(inside))
        buckets = series.filter(pl.col("model") == model)
        assert buckets["calls"].sum() == len(inside)
        for b in buckets.iter_rows(named=True):
            start = b["bucket"].timestamp()
            mine = [i for i in inside if start <= t["start"][i] < start + 1800]
            mine_gaps = np.concatenate([t["call_gaps"][i] for i in mine])
            assert (b["calls"], b["tbt_gaps"]) == (len(mine), len(mine_gaps))
            ttft = [t["ttft"][i] for i in mine]
            assert b["ttft_p95"] == pytest.approx(np.percentile(ttft, 95), rel=1e-6)
            assert b["tbt_p50"] == pytest.approx(
                np.percentile(mine_gaps, 50), rel=RELATIVE_ERROR + 1e-6
            )


def test_over_time_picks_the_rollup_for_long_windows(store: Store, dataset: dict) -> None:
    _since, until = window(dataset)
    long = latency_over_time(store, until - timedelta(days=2), until)
    assert long["source"].unique().to_list() == ["rollup"]
    assert long["calls"].sum() == 2200
    agent_filter = latency_over_time(
        store, until - timedelta(days=2), until, Filters(agent="helper")
    )
    assert agent_filter["source"].unique().to_list() == ["raw"]
    assert agent_filter["calls"].sum() == 2200 // 3 + 1  # every third call ran in an agent


def test_duration_by_skill_and_agent(store: Store, dataset: dict) -> None:
    since, until = window(dataset)
    skills = duration_by(store, since, until, by="skill")
    row = skills.row(0, named=True)
    assert (row["name"], row["calls"], row["errors"]) == ("search", 300, 30)
    assert row["duration_p50"] == pytest.approx(
        np.percentile(dataset["truth"]["search"]["duration"], 50), rel=1e-6
    )
    agents = duration_by(store, since, until, by="agent")
    assert agents["name"].to_list() == ["helper"]
    with pytest.raises(ValueError, match="by must be one of"):
        duration_by(store, since, until, by="model")  # type: ignore[arg-type]


def test_an_empty_window_gives_empty_frames(store: Store) -> None:
    since = past(hours=100)
    df = latency_summary(store, since, since + timedelta(hours=1))
    assert df.is_empty()
    assert latency_over_time(store, since, since + timedelta(hours=1)).is_empty()


def test_many_histograms_read_at_once_like_numpy() -> None:
    """Percentiles of many merged histograms at once (buckets in any order, zero counts,
    empty rows) equal numpy's on the values the buckets stand for."""
    rng = np.random.default_rng(11)
    keys, counts = [], []
    for _ in range(300):
        m = int(rng.integers(0, 8))
        keys.append(rng.choice(833, m, replace=False).tolist())
        counts.append(rng.integers(0, 5, m).tolist())
    got = percentiles_of(
        pl.Series(keys, dtype=pl.List(pl.Int64)),
        pl.Series(counts, dtype=pl.List(pl.Int64)),
        (0.5, 0.95, 0.99),
    )
    for row, k, c in zip(got, keys, counts, strict=True):
        values = np.repeat(bucket_value(np.array(k, dtype=np.int64)), c)
        expected = np.percentile(values, [50, 95, 99]) if values.size else np.full(3, np.nan)
        assert np.allclose(row, expected, equal_nan=True)
