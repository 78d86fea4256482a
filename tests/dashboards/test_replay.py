"""The replay action: started from a trace's page against the LLM simulator, it appears on
/replays with the recorded trace and its replay side by side; a cross-site request cannot
start one. The dashboard runs as users run it (``agentflight dashboard``, a child process),
with a collector that stores the replayed spans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import loadtest
from collector import Store
from collector.config import CollectorSettings
from collector.server import bind
from collector.server import run as run_collector
from tests.dashboards.browser import Browser
from tests.dashboards.conftest import screenshot_path
from tests.dashboards.seed import TRACE_ID, seed

PROFILE = loadtest.SimulatorProfile.build(
    {
        "defaults": {"prefill_base_ms": 5, "tbt_base_ms": 1, "tbt_slope_ms": 0},
        "models": {"gpt-4o-mini": {"output_tokens": 12}, "gpt-4o": {"output_tokens": 20}},
    }
)


@dataclass
class Setup:
    store: Store
    url: str  # the dashboard's


def _wait(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _replay_runs(store: Store) -> int:
    return int(store.query("SELECT count() FROM {db:Identifier}.replay_runs").result_rows[0][0])


@pytest.fixture(scope="module")
def setup(clickhouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp: Path = tmp_path_factory.mktemp("dash-replay")
    store = Store.connect(clickhouse_url, database=f"test_dash_replay_{uuid.uuid4().hex[:8]}")
    seed(store)
    settings = CollectorSettings.resolve(spool_dir=tmp / "spool", batch_interval_ms=50)
    sock = bind("127.0.0.1", 0)
    servers: list[object] = []
    collector = threading.Thread(
        target=run_collector,
        args=(settings, sock, store.url, store.database),
        kwargs={"started": servers.append},
        daemon=True,
    )
    collector.start()
    _wait(lambda: bool(servers) and servers[0].started, "the collector")  # type: ignore[attr-defined]
    collector_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with loadtest.running_simulator(PROFILE, seed=3) as sim_url:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTFLIGHT_API"))
        }
        env |= {
            "AGENTFLIGHT_CLICKHOUSE_URL": store.url,
            "AGENTFLIGHT_DATABASE": store.database,
            "AGENTFLIGHT_ENDPOINT": collector_url,
            "PYTHONUNBUFFERED": "1",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "agentflight", "dashboard", "--port", "0",
             "--replay-target", sim_url, "--collector-url", collector_url],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        assert process.stdout is not None
        try:
            line = process.stdout.readline()
            assert line.startswith("Dashboard   http://"), line
            yield Setup(store, line.split()[1].rstrip("/"))
        finally:
            process.terminate()
            process.wait(30)
            process.stdout.close()
            servers[0].should_exit = True  # type: ignore[attr-defined]
            collector.join(60)
            store.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC")
            store.close()


@pytest.fixture
def page(browser: Browser, setup: Setup) -> Iterator[Browser]:
    base, browser.base = browser.base, setup.url
    browser.console_errors()
    try:
        yield browser
        assert browser.console_errors() == []
    finally:
        browser.base = base


def test_a_replay_started_from_the_ui_appears_on_replays(page: Browser, setup: Setup) -> None:
    page.open(f"/traces/{TRACE_ID}")
    assert page.find("#replay-target").get_attribute("value").startswith("http://127.0.0.1:")
    page.find("#replay-model").send_keys("gpt-4o")
    page.find("#replay-go").click()
    link = page.find("#replay-link")
    assert "Replayed" in page.text("#replay-result")
    href = link.get_attribute("href")
    assert f"trace={TRACE_ID}" in href
    run_id = href.split("run=")[1].split("&")[0]
    link.click()
    page.wait(lambda d: "/replays?" in d.current_url, "the diff never opened")
    page.wait_idle()
    assert any(run_id[:12] in row for row in page.texts("#rp-runs-table tbody tr"))
    summary = {row.split("\t")[0]: row.split("\t")[-1] for row in page.texts("#rp-summary tr")}
    assert (summary["Model"], summary["Traces"]) == ("gpt-4o", "1")
    traces = page.texts("#rp-traces-table tbody tr")
    assert len(traces) == 1 and TRACE_ID[:16] in traces[0]
    page.figure("#rp-recorded-graph")
    # The replayed trace reaches the database through the collector: it shows once stored.
    for _ in range(60):
        if page.find_all("#rp-replayed-graph"):
            break
        time.sleep(0.5)
        page.open(href.split(setup.url, 1)[1])
    replayed = page.figure("#rp-replayed-graph")
    names = [t for t in replayed["layout"]["yaxis"]["ticktext"]]
    assert any("chat" in name for name in names)
    stored = setup.store.query(
        "SELECT model FROM {db:Identifier}.replay_runs FINAL "
        "ARRAY JOIN [JSONExtractString(settings, 'model')] AS model WHERE run_id = {r:String}",
        {"r": run_id},
    ).result_rows
    assert stored == [("gpt-4o",)]
    page.screenshot(screenshot_path("replays"))


def test_a_cross_site_request_starts_no_replay(setup: Setup) -> None:
    before = _replay_runs(setup.store)
    body = {
        "output": "replay-result.children",
        "outputs": {"id": "replay-result", "property": "children"},
        "inputs": [{"id": "replay-go", "property": "n_clicks", "value": 1}],
        "changedPropIds": ["replay-go.n_clicks"],
        "state": [
            {"id": "replay-target", "property": "value", "value": "http://127.0.0.1:9/v1"},
            {"id": "replay-model", "property": "value", "value": "gpt-4o"},
            {"id": "replay-prompt", "property": "value", "value": None},
            {"id": "page-state", "property": "data", "value": {"trace_id": TRACE_ID}},
        ],
    }
    forged = httpx.post(
        setup.url + "/_dash-update-component",
        content=json.dumps(body),
        headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
    )
    assert forged.status_code == 403
    # With the page's cookie and token, the same request runs (and is refused by replay:
    # nothing listens at that target).
    client = httpx.Client(base_url=setup.url, timeout=60)
    client.get("/")
    own = client.post(
        "/_dash-update-component",
        content=json.dumps(body),
        headers={
            "Content-Type": "application/json",
            "X-CSRFToken": client.cookies.get("agentflight_csrf") or "",
        },
    )
    assert own.status_code == 200 and "Replay refused: cannot reach the target" in own.text
    assert _replay_runs(setup.store) == before
