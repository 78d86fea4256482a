"""Live: with the toggle on, a page follows new spans by itself; off, it holds still."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from collector import Store
from dashboards import running_dashboard
from tests.analytics.synth import Span, insert, llm_attrs, new_id
from tests.dashboards.browser import Browser

REFRESH_S = 1.0


def calls(store: Store, n: int) -> None:
    """``n`` LLM calls, a minute ago."""
    start = datetime.now(UTC) - timedelta(minutes=1)
    insert(store, [Span(new_id(32), start, 100, "chat m", llm_attrs("m")) for _ in range(n)])


@pytest.fixture
def live(store: Store, browser: Browser) -> Iterator[Browser]:
    with running_dashboard(
        store_factory=lambda: Store.connect(store.url, database=store.database),
        refresh_s=REFRESH_S,
    ) as running:
        base, browser.base = browser.base, running.url
        browser.console_errors()
        try:
            yield browser
            assert browser.console_errors() == []
        finally:
            browser.driver.get("about:blank")  # its refreshes stop before its server does
            browser.base = base


def shown(page: Browser) -> str:
    return (
        page.attributes("#card-calls", "dataset")[0].get("value", "")
        if page.find_all("#card-calls")
        else ""
    )


def wait_calls(page: Browser, n: int) -> None:
    page.wait(lambda d: shown(page) == repr(float(n)), f"the page never showed {n} calls")


def test_the_live_toggle(live: Browser, store: Store) -> None:
    calls(store, 3)
    live.open("/")
    wait_calls(live, 3)
    calls(store, 2)
    wait_calls(live, 5)  # no reload: the interval redraws the page
    live.find("#live-toggle input").click()
    live.wait_idle()  # a refresh already under way when the toggle went off may still land
    calls(store, 4)
    time.sleep(4 * REFRESH_S)  # four refresh periods pass with the toggle off
    assert shown(live) == repr(5.0)
    live.find("#live-toggle input").click()
    wait_calls(live, 9)
