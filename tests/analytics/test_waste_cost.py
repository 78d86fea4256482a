"""Token waste by cause and cost: sums exact on known data."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from analytics import (
    Filters,
    cost,
    cost_per_run,
    load_prices,
    reasoning_latency,
    waste,
    waste_over_time,
)
from collector import Store
from tests.analytics.synth import Span, agent_attrs, insert, llm_attrs, new_id, past, route_attrs

PRICES = load_prices()


@pytest.fixture
def runs(store: Store):  # type: ignore[no-untyped-def]
    """Agent runs of known waste: per run, one reasoning call, one duplicate pair, and marks."""
    t0 = past(hours=2)
    spans: list[Span] = []
    for i in range(10):
        trace = new_id(32)
        start = t0 + timedelta(seconds=30 * i)
        failed_run = i == 0
        run = Span(
            trace,
            start,
            5000,
            "invoke_agent planner",
            agent_attrs("planner", timeout_ms=10_000),
            status="Error" if failed_run else "Unset",
        )
        spans.append(run)
        spans.append(
            Span(
                trace,
                start + timedelta(milliseconds=1),
                1,
                "route r",
                route_attrs("intent", "search"),
                parent=run.span_id,
            )
        )
        at = lambda ms: start + timedelta(milliseconds=ms)  # noqa: B023, E731
        calls = [
            # reasoning: 40 hidden of 100 output tokens
            llm_attrs(
                "gpt-4o-mini",
                input_tokens=1000,
                cached_tokens=200,
                output_tokens=100,
                reasoning_tokens=40,
                ttft_ms=300,
                gaps_ms=np.full(59, 10.0),
                fingerprint="fp-a",
            ),
            # an identical request later in the trace: duplicate, all 50 output tokens
            llm_attrs("gpt-4o-mini", input_tokens=1000, output_tokens=50, fingerprint="fp-a"),
            # marked by the tracer
            llm_attrs("gpt-4o-mini", input_tokens=500, output_tokens=30, waste="failed"),
            llm_attrs(
                "gpt-4o-mini",
                input_tokens=500,
                output_tokens=20,
                waste="truncated",
                fingerprint="fp-b",
            ),
            llm_attrs("my-model", input_tokens=100, output_tokens=10, waste="abandoned"),
        ]
        for k, attrs in enumerate(calls):
            spans.append(Span(trace, at(10 + 100 * k), 50, "chat", attrs, parent=run.span_id))
    # The same fingerprint in another trace is not a duplicate.
    other = new_id(32)
    spans.append(
        Span(
            other,
            t0 + timedelta(minutes=20),
            50,
            "chat",
            llm_attrs("gpt-4o-mini", input_tokens=10, output_tokens=7, fingerprint="fp-a"),
        )
    )
    insert(store, spans)
    return t0


def test_waste_by_cause_is_exact(store: Store, runs) -> None:  # type: ignore[no-untyped-def]
    t0 = runs
    df = waste(store, t0, t0 + timedelta(hours=1))
    got = {r["cause"]: r for r in df.iter_rows(named=True)}
    assert list(got) == [
        "reasoning",
        "failed",
        "retried",
        "parse_error",
        "abandoned",
        "truncated",
        "duplicate",
    ]
    output = 10 * (100 + 50 + 30 + 20 + 10) + 7
    expected = {
        "reasoning": 400,
        "failed": 300,
        "retried": 0,
        "parse_error": 0,
        "abandoned": 100,
        "truncated": 200,
        "duplicate": 500,
    }
    assert {c: r["tokens"] for c, r in got.items()} == expected
    for cause, tokens in expected.items():
        assert got[cause]["share"] == pytest.approx(tokens / output)
    # gpt-4o-mini output 0.60 per 1M; my-model is not priced.
    assert got["reasoning"]["cost_usd"] == pytest.approx(400 * 0.60 / 1e6)
    assert got["duplicate"]["cost_usd"] == pytest.approx(500 * 0.60 / 1e6)
    assert got["abandoned"]["cost_usd"] is None
    assert got["retried"]["cost_usd"] == 0.0


def test_waste_by_agent_model_and_route(store: Store, runs) -> None:  # type: ignore[no-untyped-def]
    t0 = runs
    until = t0 + timedelta(hours=1)
    by_agent = waste(store, t0, until, by="agent")
    planner = by_agent.filter((pl.col("agent") == "planner") & (pl.col("cause") == "duplicate"))
    assert planner["tokens"].to_list() == [500]
    assert planner["share"].to_list() == [pytest.approx(500 / 2100)]
    by_model = waste(store, t0, until, by="model")
    mine = by_model.filter(pl.col("model") == "my-model")
    assert dict(zip(mine["cause"], mine["tokens"], strict=True))["abandoned"] == 100
    by_route = waste(store, t0, until, by="route")
    assert set(by_route["route"].to_list()) == {"intent", ""}
    trend = waste_over_time(store, t0, until, bucket=timedelta(minutes=10))
    assert trend.group_by("cause").agg(pl.col("tokens").sum()).sort("cause").rows() == sorted(
        [
            ("abandoned", 100),
            ("duplicate", 500),
            ("failed", 300),
            ("reasoning", 400),
            ("truncated", 200),
        ]
    )
    only = waste(store, t0, until, Filters(agent="planner"))
    assert only.filter(pl.col("cause") == "duplicate")["share"].to_list() == [
        pytest.approx(500 / 2100)
    ]


def test_reasoning_latency_is_reasoning_tokens_times_tbt(store: Store, runs) -> None:  # type: ignore[no-untyped-def]
    t0 = runs
    df = reasoning_latency(store, t0, t0 + timedelta(hours=1))
    row = df.filter(pl.col("model") == "*").row(0, named=True)
    assert row["calls"] == 10
    assert row["p95_ms"] == pytest.approx(400.0)  # 40 tokens x 10 ms
    assert row["total_ms"] == pytest.approx(4000.0)


def test_cost_per_model_and_per_successful_run(store: Store, runs) -> None:  # type: ignore[no-untyped-def]
    t0 = runs
    until = t0 + timedelta(hours=1)
    df = cost(store, t0, until, prices=PRICES)
    mini = df.filter(pl.col("model") == "gpt-4o-mini").row(0, named=True)
    assert (mini["calls"], mini["input_tokens"], mini["cached_tokens"]) == (41, 30010, 2000)
    assert (mini["output_tokens"], mini["reasoning_tokens"]) == (2007, 400)
    expected = PRICES.cost(
        "gpt-4o-mini",
        input_tokens=30010,
        cached_tokens=2000,
        output_tokens=2007,
        reasoning_tokens=400,
    )
    assert mini["cost_usd"] == pytest.approx(expected, rel=1e-12)
    assert df.filter(pl.col("model") == "my-model")["cost_usd"].to_list() == [None]
    per_run = cost_per_run(store, t0, until, prices=PRICES).row(0, named=True)
    assert (per_run["agent"], per_run["runs"], per_run["successful_runs"]) == ("planner", 10, 9)
    in_runs = PRICES.cost(
        "gpt-4o-mini",
        input_tokens=30000,
        cached_tokens=2000,
        output_tokens=2000,
        reasoning_tokens=400,
    )
    assert per_run["cost_usd"] == pytest.approx(in_runs, rel=1e-12)
    assert per_run["cost_per_successful_run"] == pytest.approx(in_runs / 9, rel=1e-12)
    assert per_run["unpriced_models"] == ["my-model"]


def test_abandoned_streams_count_the_chunks_they_delivered(store: Store) -> None:
    """A stream closed before its usage arrived reports 0 output tokens: its waste is the
    content chunks the consumer received (the first and one per TBT gap)."""
    t0 = past(hours=3).replace(minute=5)  # the spans' 3 minutes inside one hour's bucket
    chunks = [1, 7, 40]  # content chunks delivered by three abandoned streams
    spans = []
    for i, n in enumerate(chunks):
        attrs = llm_attrs(
            "gpt-4o-mini", ttft_ms=200.0, gaps_ms=np.full(n - 1, 20.0), waste="abandoned"
        )
        spans.append(Span(new_id(32), t0 + timedelta(seconds=10 * i), 500, "chat", attrs))
    # Abandoned before any content: nothing was delivered.
    nothing = llm_attrs("gpt-4o-mini", waste="abandoned")
    spans.append(Span(new_id(32), t0 + timedelta(minutes=1), 50, "chat", nothing))
    # Usage arrived before the stream was dropped: the reported tokens count.
    reported = llm_attrs(
        "gpt-4o-mini", ttft_ms=100.0, gaps_ms=np.full(9, 5.0), output_tokens=25, waste="abandoned"
    )
    spans.append(Span(new_id(32), t0 + timedelta(minutes=2), 300, "chat", reported))
    # A finished call: its output is the share's denominator, not waste.
    done = llm_attrs("gpt-4o-mini", ttft_ms=100.0, gaps_ms=np.full(99, 5.0), output_tokens=100)
    spans.append(Span(new_id(32), t0 + timedelta(minutes=3), 700, "chat", done))
    insert(store, spans)
    until = t0 + timedelta(hours=1)
    got = waste(store, t0, until, prices=PRICES).filter(pl.col("cause") == "abandoned")
    row = got.row(0, named=True)
    delivered = sum(chunks) + 25
    assert row["tokens"] == delivered
    assert row["share"] == pytest.approx(delivered / (delivered + 100))
    assert row["cost_usd"] == pytest.approx(delivered * 0.60 / 1e6)
    trend = waste_over_time(store, t0, until, bucket=timedelta(hours=1))
    assert trend.filter(pl.col("cause") == "abandoned")["tokens"].to_list() == [delivered]
    # Cost stays what providers reported: the estimate is for waste only.
    assert cost(store, t0, until)["output_tokens"].to_list() == [25 + 100]


def test_duplicates_are_every_unmarked_repeat_of_a_request_in_its_trace(store: Store) -> None:
    """The first of identical requests is not waste, marked or not; a marked repeat counts
    under its mark; the same fingerprint with another model, or in another trace, is not a
    repeat."""
    t0 = past(hours=2)
    trace, other = new_id(32), new_id(32)
    at = lambda ms: t0 + timedelta(milliseconds=ms)  # noqa: E731
    calls = [
        (trace, 0, llm_attrs("m", output_tokens=10, waste="failed", fingerprint="fp")),  # failed
        (trace, 100, llm_attrs("m", output_tokens=20, reasoning_tokens=5, fingerprint="fp")),
        (trace, 200, llm_attrs("m", output_tokens=40, waste="truncated", fingerprint="fp")),
        (trace, 300, llm_attrs("m", output_tokens=80, fingerprint="fp")),  # a repeat
        (trace, 400, llm_attrs("m2", output_tokens=160, fingerprint="fp")),  # another model
        (other, 500, llm_attrs("m", output_tokens=320, reasoning_tokens=7, fingerprint="fp")),
    ]
    insert(store, [Span(t, at(ms), 50, "chat", attrs) for t, ms, attrs in calls])
    df = waste(store, t0, t0 + timedelta(hours=1))
    got = dict(zip(df["cause"], df["tokens"], strict=True))
    assert got["failed"] == 10 and got["truncated"] == 40
    assert got["duplicate"] == 20 + 80  # the unmarked repeats, reasoning tokens included
    assert got["reasoning"] == 7  # only the other trace's call: its first
    by_model = waste(store, t0, t0 + timedelta(hours=1), by="model")
    dups = by_model.filter(pl.col("cause") == "duplicate")
    assert dict(zip(dups["model"], dups["tokens"], strict=True)) == {"m": 100, "m2": 0}
    trend = waste_over_time(store, t0, t0 + timedelta(hours=1), bucket=timedelta(minutes=1))
    assert trend.filter(pl.col("cause") == "duplicate")["tokens"].sum() == 100
