"""`agentflight report` end to end: a subprocess against the test's database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics import (
    Filters,
    build_report,
    cost_per_run,
    latency_summary,
    load_fits,
    overview,
    parse_slo,
    parse_time,
    timeout_risk,
)
from collector import Store
from tests.analytics.synth import Span, agent_attrs, insert, llm_attrs, new_id, past
from tests.conftest import REPO_ROOT

KEYS = {
    "window",
    "latency",
    "load",
    "waste",
    "reasoning_latency_ms_p95",
    "timeout_risk",
    "cost",
    "cost_total",
    "cost_per_successful_run",
    "unpriced_models",
}


def agentflight(
    store: Store | None, *args: str, url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTFLIGHT_", "OTEL_"))}
    env["AGENTFLIGHT_CLICKHOUSE_URL"] = url or (store.url if store else "")
    env["AGENTFLIGHT_DATABASE"] = store.database if store else "agentflight"
    return subprocess.run(
        [sys.executable, "-m", "agentflight", "report", *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO_ROOT,
        env=env,
    )


@pytest.fixture
def recorded(store: Store):  # type: ignore[no-untyped-def]
    """Agent runs, each with two streamed gpt-4o-mini calls, a deadline and some waste."""
    rng = np.random.default_rng(3)
    t0 = past(hours=3)
    spans: list[Span] = []
    ttfts: list[float] = []
    offset = 0.0
    for c in list(range(1, 7)) * 3:
        for _ in range(c):
            trace = new_id(32)
            start = t0 + timedelta(seconds=offset)
            run = Span(
                trace, start, 3000, "invoke_agent desk", agent_attrs("desk", timeout_ms=4000)
            )
            spans.append(run)
            for k in range(2):
                ttft = float(rng.lognormal(5, 0.3)) + 10 * c
                ttfts.append(ttft)
                attrs = llm_attrs(
                    "gpt-4o-mini",
                    ttft_ms=ttft,
                    gaps_ms=np.full(30, 8.0 + c),
                    input_tokens=800,
                    output_tokens=31,
                    reasoning_tokens=5,
                    fingerprint=f"{trace}-x",
                    waste="failed" if k and c == 6 else None,
                )
                spans.append(
                    Span(
                        trace,
                        start + timedelta(milliseconds=100 + 1000 * k),
                        600,
                        "chat gpt-4o-mini",
                        attrs,
                        parent=run.span_id,
                    )
                )
        offset += 5.0
    insert(store, spans)
    return {"t0": t0, "ttfts": ttfts}


def test_json_report_has_the_fixed_keys_and_the_api_figures(store: Store, recorded) -> None:  # type: ignore[no-untyped-def]
    t0 = recorded["t0"]
    since, until = t0.isoformat(), (t0 + timedelta(hours=1)).isoformat()
    done = agentflight(
        store, "--since", since, "--until", until, "--json", "--slo", "ttft_p95<800ms,tbt_p99<80ms"
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) >= KEYS
    assert report["window"] == {
        "since": t0.isoformat().replace("+00:00", "Z"),
        "until": (t0 + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
    }
    chat = next(r for r in report["latency"] if r["operation"] == "chat")
    assert chat["model"] == "gpt-4o-mini" and chat["calls"] == len(recorded["ttfts"])
    for q in ("p50", "p95", "p99"):
        expected = np.percentile(recorded["ttfts"], int(q[1:]))
        assert abs(chat["ttft_ms"][q] - expected) <= 0.02 * expected
    agent = next(r for r in report["latency"] if r["agent"] == "desk")
    assert agent["operation"] == "invoke_agent" and agent["duration_ms"]["p50"] == 3000
    load = {(r["metric"], r["source"]): r for r in report["load"]}
    ttft_fit = load[("ttft_ms", "production")]
    assert ttft_fit["slope_ci95"][0] <= 10 <= ttft_fit["slope_ci95"][1]
    assert ttft_fit["concurrency_range"] == [1, 6]
    assert set(ttft_fit) >= {
        "model",
        "metric",
        "source",
        "n",
        "intercept_ms",
        "slope_ms_per_concurrent",
        "slope_ci95",
        "r2",
        "concurrency_range",
        "slo_crossing_concurrency",
    }
    waste = {r["cause"]: r for r in report["waste"]}
    assert waste["failed"]["tokens"] == 3 * 6 * 31
    assert waste["duplicate"]["tokens"] == (len(recorded["ttfts"]) // 2 - 3 * 6) * 31
    # First calls of a trace: only their reasoning tokens; the others are wasted whole.
    assert waste["reasoning"]["tokens"] == len(recorded["ttfts"]) // 2 * 5
    assert report["reasoning_latency_ms_p95"] == pytest.approx(5 * 14.0)
    (risk,) = report["timeout_risk"]
    assert set(risk) >= {
        "agent",
        "timeout_ms",
        "runs",
        "timed_out",
        "observed_rate",
        "projected",
        "breaking_multiplier",
        "slow_run_budget",
    }
    assert set(risk["projected"]) == {"1.5", "2", "3"}
    assert set(risk["slow_run_budget"]) == {
        "ttft_ms",
        "visible_output_ms",
        "reasoning_ms",
        "skills_ms",
        "other_ms",
    }
    (cost,) = report["cost"]
    assert cost["input_tokens"] == 800 * len(recorded["ttfts"])
    assert report["cost_total"]["cost_usd"] == pytest.approx(cost["cost_usd"])
    assert report["unpriced_models"] == []
    # The same figures as the API.
    api = build_report(
        store, t0, t0 + timedelta(hours=1), slo=parse_slo("ttft_p95<800ms,tbt_p99<80ms")
    )
    assert json.loads(json.dumps(api)) == report


@pytest.mark.parametrize(
    "filters", [None, Filters(model="gpt-4o-mini"), Filters(agent="desk")], ids=str
)
def test_the_report_shares_work_not_figures(store: Store, recorded, filters) -> None:  # type: ignore[no-untyped-def]
    """The report sweeps concurrency once for its fits and its timeout projection (whose
    laws are the project's fits, unlike the report's under an agent or model filter) and
    asks shared queries once: its figures are the functions' own."""
    t0 = recorded["t0"]
    until = t0 + timedelta(hours=1)
    report = build_report(store, t0, until, filters)
    fits = load_fits(store, t0, until, filters)
    assert [(r["model"], r["metric"], r["slope_ms_per_concurrent"]) for r in report["load"]] == [
        (r["model"], r["metric"], r["slope_ms_per_concurrent"]) for r in fits.iter_rows(named=True)
    ]
    (risk,) = timeout_risk(store, t0, until, filters).iter_rows(named=True)
    (item,) = report["timeout_risk"]
    assert item["projected"] == risk["projected"]
    assert item["breaking_multiplier"] == risk["breaking_multiplier"]
    assert item["slow_run_budget"] == risk["slow_run_budget"]
    summary = latency_summary(store, t0, until, filters)
    assert [r["calls"] for r in report["latency"]] == summary["calls"].to_list()
    runs = cost_per_run(store, t0, until, filters)
    assert [r["cost_usd"] for r in report["cost_per_successful_run"]] == runs["cost_usd"].to_list()


def test_markdown_and_terminal_output(store: Store, recorded) -> None:  # type: ignore[no-untyped-def]
    t0 = recorded["t0"]
    window = [
        "--since",
        str(int(t0.timestamp())),
        "--until",
        str(int((t0 + timedelta(hours=1)).timestamp())),
    ]
    md = agentflight(
        store, *window, "--markdown", "--prices", str(REPO_ROOT / "analytics" / "prices.yaml")
    )
    assert md.returncode == 0, md.stderr
    assert "## Token waste" in md.stdout and "| gpt-4o-mini |" in md.stdout
    rich = agentflight(store, *window, "--agent", "desk")
    assert rich.returncode == 0, rich.stderr
    assert "Timeout risk" in rich.stdout and "desk" in rich.stdout


def test_an_empty_window_says_so_and_exits_0(store: Store) -> None:
    done = agentflight(store, "--since", "2h", "--project", "nobody")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("No spans between") and done.stdout.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since 'yesterday' is not a duration"),
        (["--since", "1h", "--until", "2h"], "must be before --until"),
        (["--slo", "ttft_p95<fast"], "--slo entry 'ttft_p95<fast'"),
        (["--json", "--markdown"], "exclude each other"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(store: Store, args: list[str], message: str) -> None:
    done = agentflight(store, *args)
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.count("\n") == 1


def test_bad_prices_file_and_unreachable_database(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("models: {m: {input: 1}}\n")
    done = agentflight(store, "--prices", str(bad))
    assert done.returncode == 2 and "missing 'output'" in done.stderr
    assert done.stderr.count("\n") == 1
    down = agentflight(None, url="http://127.0.0.1:9")
    assert down.returncode == 2 and down.stderr.count("\n") == 1, down.stderr


def test_overview_compares_with_the_previous_window(store: Store, recorded) -> None:  # type: ignore[no-untyped-def]
    t0 = recorded["t0"]
    df = overview(store, t0 + timedelta(minutes=30), t0 + timedelta(hours=1))
    calls = df.filter(df["metric"] == "calls").row(0, named=True)
    assert calls["value"] == 0 and calls["previous"] == len(recorded["ttfts"])
    assert calls["change"] == -1.0
    assert overview(store, t0, t0 + timedelta(minutes=30), Filters(model="nope"))["value"][0] == 0


def test_parse_time_forms() -> None:
    now = parse_time("now")
    assert parse_time("90m", now=now) == now - timedelta(minutes=90)
    assert parse_time("7d", now=now) == now - timedelta(days=7)
    assert parse_time("1767225600").timestamp() == 1767225600
    assert parse_time("2026-01-01T00:00:00").tzinfo is not None
    with pytest.raises(ValueError, match="not a duration"):
        parse_time("soon")
