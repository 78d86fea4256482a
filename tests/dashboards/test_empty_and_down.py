"""Without data every page says what to do; with the database down a banner says so and the
app keeps serving; when it is back, so are the pages. A ClickHouse of this module's own is
started and stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector import ServerInfo, StorageUnavailableError, Store, embedded
from dashboards import running_dashboard
from tests.dashboards.browser import Browser

PAGES = ("/", "/latency", "/load", "/waste", "/risk", "/traces")
DATABASE = "agentflight_dash_empty"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data_dir = tmp_path_factory.mktemp("clickhouse-dash")
    embedded.start(data_dir, port=0)
    yield data_dir
    embedded.stop(data_dir)


@pytest.fixture(scope="module")
def browser(server: Path) -> Iterator[Browser]:
    def factory() -> Store:
        info: ServerInfo | None = embedded.status(server)
        if info is None:
            raise StorageUnavailableError(f"no ClickHouse server runs on {server}")
        return Store.connect(info.dsn, database=DATABASE, timeout_s=5)

    with running_dashboard(store_factory=factory, refresh_s=3600) as running:
        b = Browser()
        b.base = running.url
        yield b
        b.quit()


@pytest.fixture
def page(browser: Browser) -> Iterator[Browser]:
    browser.console_errors()
    yield browser
    assert browser.console_errors() == []


def test_without_spans_every_page_says_where_to_send_them(page: Browser) -> None:
    for path in PAGES:
        page.open(path)
        shown = page.texts(".af-page .af-empty-title")
        assert shown, f"{path} shows no empty state"
        assert all("No spans yet: point your agent at http://127.0.0.1:4318" in t for t in shown)
    assert page.texts("#db-banner") == [""]


def test_a_database_that_goes_down_gives_a_banner_and_comes_back(
    page: Browser, server: Path
) -> None:
    page.open("/")
    embedded.stop(server)
    try:
        page.wait_text("#db-banner", "Database down")
        for path in ("/latency", "/traces"):  # the app keeps serving, every page says why
            page.open(path)
            assert "Database down" in page.texts("#db-banner")[0]
            down = page.texts(".af-page .af-empty.af-down .af-empty-title")
            assert down and all("database is unreachable" in t for t in down)
    finally:
        embedded.start(server, port=0)
    page.wait(lambda d: page.texts("#db-banner") == [""], "the banner never went away")
    page.open("/")
    page.wait_text("#ov-cards", "No spans yet")
