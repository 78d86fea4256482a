"""Every page in a real browser against seeded data of known content: it draws the data,
without console errors, and its screenshot is taken (docs/images/ under `make screenshots`)."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.keys import Keys

from tests.dashboards.browser import Browser
from tests.dashboards.conftest import screenshot_path
from tests.dashboards.seed import LOADTEST_RUN, TRACE_ID, Known


def _no_failed_panels(page: Browser) -> None:
    failed = [el.text for el in page.find_all(".af-empty.af-error, .af-empty.af-down")]
    assert failed == []


def _traces(page: Browser, css: str) -> list[dict[str, Any]]:
    return list(page.figure(css)["data"])


def test_overview_shows_the_windows_figures_and_the_agents_at_risk(
    page: Browser, known: Known
) -> None:
    page.open("/")
    calls = page.find("#card-calls")
    assert float(calls.get_attribute("data-value") or 0) == known.production_calls()
    assert "vs previous" in calls.text  # the hour before has traffic too
    earlier = sum(known.earlier_calls.values())
    expected_change = (known.production_calls() - earlier) / earlier * 100
    assert f"{expected_change:.1f} %" in calls.text
    rows = page.find_all("#ov-risk-table tbody tr")
    assert [r.text.split()[0] for r in rows] == ["job_fit", "general"]  # tightest first
    _no_failed_panels(page)
    page.screenshot(screenshot_path("overview"))


def test_latency_draws_percentiles_per_model_with_slo_lines(page: Browser, known: Known) -> None:
    page.open("/latency")
    names = {t["name"] for t in _traces(page, "#lat-ttft-graph")}
    models = {model for (_, model) in known.calls}
    assert names == {f"{m} {p}" for m in models for p in ("p50", "p95", "p99")}
    shapes = page.figure("#lat-ttft-graph")["layout"]["shapes"]
    assert [s["y0"] for s in shapes] == [800]  # ttft_p95<800ms
    assert [s["y0"] for s in page.figure("#lat-tbt-graph")["layout"]["shapes"]] == [80]
    agents = _traces(page, "#lat-agent-graph")[0]["x"]
    assert sorted(agents) == sorted(known.runs)
    assert _traces(page, "#lat-skill-graph")[0]["x"] == ["people_search", "web_search"]
    assert _traces(page, "#lat-route-graph")[0]["x"] == ["router → general", "router → job_fit"]
    _no_failed_panels(page)
    page.screenshot(screenshot_path("latency"))


def test_load_overlays_the_load_test_run_on_production(page: Browser) -> None:
    page.open("/load")
    names = [t.get("name", "") for t in _traces(page, "#load-ttft-graph")]
    assert "gpt-4o-mini, production" in names
    assert f"gpt-4o-mini, load test {LOADTEST_RUN}" in names
    assert "fit gpt-4o-mini, production" in names
    fits = page.find_all("#load-fits-table tbody tr")
    # The seeded laws: TTFT grows 40 ms (gpt-4o-mini) per concurrent call in the load test.
    mini_test = next(r.text for r in fits if "load test" in r.text and "TTFT" in r.text)
    slope = float(mini_test.split("ms ")[1].split()[0])
    assert slope == pytest.approx(40.0, abs=1.0)
    _no_failed_panels(page)
    page.screenshot(screenshot_path("load"))


def test_waste_shows_the_seeded_tokens_by_cause(page: Browser, known: Known) -> None:
    page.open("/waste")
    bars = _traces(page, "#waste-causes-graph")[0]
    drawn = {c: t for c, t in zip(bars["x"], bars["y"], strict=True) if t}
    assert drawn == known.waste
    by_agent = {t["name"] for t in _traces(page, "#waste-by-graph")}
    assert by_agent == set(known.waste)
    assert page.find_all("#waste-reasoning-table tbody tr")
    _no_failed_panels(page)
    page.screenshot(screenshot_path("waste"))


def test_risk_shows_the_observed_timeouts(page: Browser, known: Known) -> None:
    page.open("/risk")
    rows = {
        r.find_element("css selector", "td").text: r.text
        for r in page.find_all("#risk-agents-table tbody tr")
    }
    assert set(rows) == set(known.runs)
    share = known.timed_out["job_fit"] / known.runs["job_fit"] * 100
    assert f"{share:.1f} % ({known.timed_out['job_fit']})" in rows["job_fit"]
    assert "0.0 % (0)" in rows["general"]
    assert {t["name"] for t in _traces(page, "#risk-budget-graph")} >= {"deadline"}
    _no_failed_panels(page)
    page.screenshot(screenshot_path("risk"))


def test_traces_lists_the_newest_first_and_pages_on(page: Browser) -> None:
    page.open("/traces")
    first = page.find_all("#traces-table tbody tr")
    assert len(first) == 50
    assert (
        first[0]
        .find_element("css selector", "a")
        .get_attribute("href")
        .split("/traces/")[1]
        .startswith(TRACE_ID)
    )
    _no_failed_panels(page)
    page.screenshot(screenshot_path("traces"))
    links = "#traces-table tbody tr a"
    newest = page.attributes(links, "href")
    page.find("#traces-older").click()
    page.wait(lambda d: page.attributes(links, "href")[:1] != newest[:1], "no older page came")
    older = page.attributes(links, "href")
    assert len(older) == 50 and not set(older) & set(newest)
    page.find("#traces-newest").click()
    page.wait(lambda d: page.attributes(links, "href") == newest, "no way back")


def test_a_trace_id_opens_its_waterfall(page: Browser) -> None:
    page.open("/traces")
    box = page.find("#traces-id")
    box.send_keys("not-an-id")
    page.find("#traces-open").click()
    page.wait_text("#traces-id-error", "32 hexadecimal digits")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(TRACE_ID.upper())
    page.find("#traces-open").click()
    page.wait(lambda d: f"/traces/{TRACE_ID}" in d.current_url, "the trace never opened")
    page.wait_idle()
    page.find("#trace-waterfall .js-plotly-plot")


def test_loadtests_lists_the_run_and_shows_its_stages(page: Browser) -> None:
    page.open("/loadtests?range=6h")
    rows = page.texts("#lt-runs-table tbody tr")
    assert len(rows) == 1 and LOADTEST_RUN in rows[0] and "breached" in rows[0]
    assert page.find_all("#lt-run-detail") == []
    page.find("#lt-runs-table a").click()
    page.wait(lambda d: f"loadtest_run={LOADTEST_RUN}" in d.current_url, "the run was not chosen")
    page.wait_idle()
    stages = page.texts("#lt-stages-table tbody tr")
    assert [row.split()[1] for row in stages] == ["10", "14", "18"]
    assert "BREACHED" in stages[2] and "BREACHED" not in stages[1]
    facts = page.text("#lt-run-facts")
    assert "14 users met every objective" in facts
    traces = next(a for a in page.attributes("#lt-run-facts a", "href") if "/traces?" in a)
    assert f"loadtest_run={LOADTEST_RUN}" in traces and "range=custom" in traces
    _no_failed_panels(page)
    page.screenshot(screenshot_path("loadtests"))
    page.driver.get(traces)
    page.wait_idle()
    listed = page.texts("#traces-table tbody tr")
    assert listed and all("chat gpt-4o-mini" in row for row in listed)
