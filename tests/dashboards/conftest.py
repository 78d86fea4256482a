"""Fixtures of the dashboard tests: one seeded database, one dashboard server and one
browser for the session (a browser per test would dominate the run time); modules that need
another setup (no data, a database that goes down, API keys) make their own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collector import Store
from dashboards import RunningDashboard, running_dashboard
from tests.conftest import SCREENSHOTS
from tests.dashboards.browser import Browser
from tests.dashboards.seed import Known, seed

SLO = "ttft_p95<800ms,tbt_p99<80ms"


def screenshot_path(page: str) -> Path:
    """Where the screenshot of a page goes (docs/images/dashboard-<page>.png under
    `make screenshots`)."""
    return SCREENSHOTS / f"dashboard-{page}.png"


@pytest.fixture(scope="session")
def database(clickhouse_url: str) -> Iterator[str]:
    """A migrated database of the dashboard tests' own, dropped afterwards."""
    name = f"test_dash_{uuid.uuid4().hex[:10]}"
    with Store.connect(clickhouse_url, database=name):
        pass
    yield name
    with Store.connect(clickhouse_url, database=name, apply_migrations=False) as store:
        store.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC")


@pytest.fixture(scope="session")
def store_factory(clickhouse_url: str, database: str) -> Callable[[], Store]:
    def factory() -> Store:
        return Store.connect(clickhouse_url, database=database, apply_migrations=False)

    return factory


@pytest.fixture(scope="session")
def known(store_factory: Callable[[], Store]) -> Known:
    with store_factory() as store:
        return seed(store)


@pytest.fixture(scope="session")
def dashboard(store_factory: Callable[[], Store], known: Known) -> Iterator[RunningDashboard]:
    with running_dashboard(store_factory=store_factory, slo=SLO, refresh_s=3600) as running:
        yield running


@pytest.fixture(scope="session")
def browser(dashboard: RunningDashboard) -> Iterator[Browser]:
    b = Browser()
    b.base = dashboard.url
    yield b
    b.quit()


@pytest.fixture
def page(browser: Browser) -> Iterator[Browser]:
    """The module's browser; a test fails on any console error it caused."""
    browser.driver.get("about:blank")  # no page of an earlier test still refreshing
    browser.console_errors()  # drain what earlier tests left
    yield browser
    errors = browser.console_errors()
    assert errors == [], f"browser console errors: {errors}"
