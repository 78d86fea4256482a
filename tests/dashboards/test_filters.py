"""The shared filters: kept in the URL, they change the figures of every page."""

from __future__ import annotations

from tests.dashboards.browser import Browser
from tests.dashboards.seed import Known


def _calls(page: Browser, expected: int) -> None:
    page.wait(
        lambda d: page.find("#card-calls").get_attribute("data-value") == repr(float(expected)),
        f"the calls card never showed {expected}",
    )


def test_choosing_a_model_changes_the_figures_and_the_url(page: Browser, known: Known) -> None:
    page.open("/")
    _calls(page, known.production_calls())
    page.select("f-model", "gpt-4o")
    page.wait(lambda d: "model=gpt-4o" in d.current_url, "the URL never took the filter")
    page.wait_idle()
    _calls(page, known.production_calls(model="gpt-4o"))
    # The filter follows to the other pages, and their figures change too.
    page.find("#nav-latency").click()
    page.wait(lambda d: "/latency?model=gpt-4o" in d.current_url, "the filter was lost")
    page.wait_idle()
    names = {t["name"] for t in page.figure("#lat-ttft-graph")["data"]}
    assert names == {"gpt-4o p50", "gpt-4o p95", "gpt-4o p99"}


def test_a_link_with_filters_opens_that_view(page: Browser, known: Known) -> None:
    page.open("/?project=p2")
    _calls(page, known.production_calls(project="p2"))
    assert page.text("#f-project") == "p2"
    page.open("/?project=p1&model=gpt-4o-mini&range=6h")
    # Six hours hold the hour before the last one too.
    earlier = known.earlier_calls.get(("p1", "gpt-4o-mini"), 0)
    _calls(page, known.production_calls(project="p1", model="gpt-4o-mini") + earlier)


def test_a_custom_range_and_an_empty_view(page: Browser) -> None:
    page.open("/?range=custom&since=3h&until=2h")
    page.wait_text("#ov-cards", "No spans from 3h to 2h.")
    assert page.find("#f-since").get_attribute("value") == "3h"
    page.open("/?range=custom&since=1h&until=2h")
    page.wait_text("#ov-cards", "Bad time range: since")
    page.open("/?agent=nobody")
    page.wait_text("#ov-cards", "No spans last hour for agent=nobody.")
