"""The trace page: the waterfall of a seeded trace, its first-token markers, span details."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains

from tests.dashboards.browser import Browser
from tests.dashboards.conftest import screenshot_path
from tests.dashboards.seed import TRACE_ID, Known


def test_the_waterfall_draws_the_spans_in_order_with_first_token_markers(
    page: Browser, known: Known
) -> None:
    page.open(f"/traces/{TRACE_ID}")
    figure = page.figure("#trace-waterfall")
    labels = [t.replace("\u00a0", "").lstrip("└ ") for t in figure["layout"]["yaxis"]["ticktext"]]
    assert labels == [name for name, *_ in known.waterfall]
    bars = {}
    for trace in figure["data"]:
        if trace["type"] == "bar":
            for y, base, width in zip(trace["y"], trace["base"], trace["x"], strict=True):
                bars[y] = (base, width)
    assert [bars[i] for i in range(len(labels))] == [
        pytest.approx((offset, duration)) for _, offset, duration, _ in known.waterfall
    ]
    (marks,) = [t for t in figure["data"] if t["name"] == "first token"]
    expected = [
        (i, offset + ttft) for i, (_, offset, _, ttft) in enumerate(known.waterfall) if ttft
    ]
    assert list(zip(marks["y"], marks["x"], strict=True)) == [
        (i, pytest.approx(x)) for i, x in expected
    ]
    assert all("TBT mean" in text for text in marks["hovertext"])
    # The details open on the first streamed call, with its messages as indented JSON.
    page.wait_text("#span-title", "chat gpt-4o-mini")
    io = page.text("#span-io")
    assert '"role": "system"' in io and '\n  {\n    "role"' in io
    timings = page.text("#span-timings")
    assert "230 ms" in timings and "18.0 ms" in timings
    page.screenshot(screenshot_path("trace"))


def test_clicking_a_span_shows_its_details(page: Browser) -> None:
    page.open(f"/traces/{TRACE_ID}")
    page.wait_text("#span-title", "chat gpt-4o-mini")

    # The skill's bar: the third row, 50 ms to 350 ms of a 2 s trace.
    # Plotly may redraw the figure meanwhile, replacing the bars: then look and click again.
    def click_skill(driver: object) -> bool:
        bars = page.find_all("#trace-waterfall .trace.bars .point path")
        skill = next((b for b in bars if b.rect["height"] > 0 and _row_of(page, b) == 2), None)
        if skill is None:
            return False
        ActionChains(page.driver).move_to_element(skill).click().perform()
        return "execute_tool web_search" in page.text("#span-title")

    page.wait(click_skill, "a click on the skill's bar did not show its details")
    page.wait_text("#span-attributes", "gen_ai.tool.name")


def _row_of(page: Browser, element: object) -> int:
    """The waterfall row a bar sits on, from its vertical position."""
    ticks = page.find_all("#trace-waterfall .ytick text")
    middle = element.rect["y"] + element.rect["height"] / 2  # type: ignore[attr-defined]
    return min(
        range(len(ticks)),
        key=lambda i: abs(ticks[i].rect["y"] + ticks[i].rect["height"] / 2 - middle),
    )


def test_an_unknown_trace_says_so(page: Browser) -> None:
    page.open("/traces/" + "f" * 32)
    page.wait_text("#trace-message", "No trace ffffffff")
    page.open("/traces/not-a-trace")
    page.wait_text("#trace-message", "is not a trace id")
