"""`agentflight up --demo`, end to end, as a newcomer runs it (about a minute of traffic).

It starts everything on free ports in a data directory of its own, lets the demo assistant
run its ramp, then checks what a newcomer should see: every dashboard page with data (its
screenshots go to docs/images/demo-*.png under `make screenshots`), routes, skills and streamed
calls of several models, at least three waste causes, an agent at risk of timing out, a demo
trace that replays; and that stopping leaves no process behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import analytics
from collector import Store, embedded
from tests.conftest import REPO_ROOT, SCREENSHOTS
from tests.dashboards.browser import Browser

PAGES = ("/", "/latency", "/load", "/waste", "/risk", "/traces")
TRAFFIC_S = 50


class Up:
    """`agentflight up --demo` in a child process, its output read line by line."""

    def __init__(self, tmp_path: Path) -> None:
        self.data_dir = tmp_path / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFLIGHT_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agentflight", "up", "--demo", "--duration", f"{TRAFFIC_S}s",
             "--data-dir", str(self.data_dir), "--port", "0", "--collector-port", "0",
             "--dashboard-port", "0", "--simulator-port", "0",
             "--spool-dir", str(tmp_path / "spool")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT, env=env,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = dt.datetime.now() + dt.timedelta(seconds=timeout)
        while dt.datetime.now() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"never printed {text!r}; output:\n{''.join(self.seen)}")

    def url(self, label: str) -> str:
        for line in self.seen:
            found = re.match(rf"\s+{label}\s+(http://\S+)", line)
            if found:
                return found.group(1).rstrip("/")
        raise AssertionError(f"no {label} URL in:\n{''.join(self.seen)}")


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    running = Up(tmp_path)
    yield running
    if running.process.poll() is None:
        running.process.kill()
    running.process.wait(30)
    running.pump.join(10)
    assert running.process.stdout is not None
    running.process.stdout.close()
    embedded.stop(running.data_dir)


def test_make_demo_shows_the_point(up: Up, tmp_path: Path) -> None:
    up.wait_for("agentflight is up", 180)
    up.wait_for("Try next", 120)
    dashboard, simulator, collector = up.url("Dashboard"), up.url("Simulator"), up.url("Collector")
    parts = psutil.Process(up.process.pid).children(recursive=True)
    assert len(parts) >= 4  # collector, simulator, dashboard, assistant (and their workers)
    up.wait_for("demo traffic has finished", TRAFFIC_S + 120)
    info = embedded.status(up.data_dir)
    assert info is not None

    until = dt.datetime.now(dt.UTC)
    since = until - dt.timedelta(minutes=15)
    with Store.connect(info.dsn) as store:
        kinds = dict(
            store.query(
                "SELECT operation, count() FROM {db:Identifier}.genai_spans GROUP BY operation"
            ).result_rows
        )
        streamed_models = store.query(
            "SELECT uniqExact(request_model) FROM {db:Identifier}.genai_spans "
            "WHERE operation = 'chat' AND streamed"
        ).result_rows[0][0]
        waste = analytics.waste(store, since, until)
        risk = analytics.timeout_risk(store, since, until)
        trace_id = store.query(
            "SELECT trace_id FROM {db:Identifier}.genai_spans WHERE agent_name = 'job_fit' "
            "ORDER BY timestamp DESC LIMIT 1"
        ).result_rows[0][0]
    assert kinds.get("route", 0) > 0 and kinds.get("execute_tool", 0) > 0
    assert streamed_models >= 2
    causes = {row["cause"] for row in waste.to_dicts() if row["tokens"] > 0}
    assert len(causes) >= 3, causes
    at_risk = [
        row["agent"] for row in risk.to_dicts()
        if row["observed_rate"] > 0 or any((v or 0) > 0 for v in row["projected"].values())
    ]  # fmt: skip
    assert at_risk, risk

    browser = Browser()
    browser.base = dashboard
    try:
        for path in PAGES:
            browser.open(path)
            failed = browser.find_all(".af-empty.af-error, .af-empty.af-down")
            assert failed == [], (path, [el.text for el in failed])
            drawn = browser.driver.execute_script(
                "return [...document.querySelectorAll('.js-plotly-plot')]"
                ".filter(p => p.data && p.data.some(t => (t.x || t.values || []).length)).length"
                " + document.querySelectorAll('table tbody tr').length"
            )
            assert drawn > 0, f"{path} shows no data"
            assert browser.console_errors() == [], path
            name = "overview" if path == "/" else path.strip("/")
            browser.screenshot(SCREENSHOTS / f"demo-{name}.png")
        browser.open(f"/traces/{trace_id}")
        browser.find(".js-plotly-plot")
        browser.screenshot(SCREENSHOTS / "demo-trace.png")
    finally:
        browser.quit()

    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFLIGHT_")}
    env |= {"AGENTFLIGHT_DATA_DIR": str(up.data_dir), "AGENTFLIGHT_ENDPOINT": collector}
    replayed = subprocess.run(
        [sys.executable, "-m", "agentflight", "replay", trace_id, "--base-url", simulator,
         "--model", "gpt-4.1", "--policy", "nearest", "--json"],
        capture_output=True, text=True, timeout=180, cwd=REPO_ROOT, env=env,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    result = json.loads(replayed.stdout)
    replay = result["traces"][0]
    # Another model extracts other search parameters: the skills are called with other
    # arguments (a divergence, answered by the nearest recorded call), never run live.
    assert replay["status"] in ("ok", "diverged"), json.dumps(replay, indent=1)
    assert replay["replay_trace_id"] and replay["skills"]["live"] == 0
    assert replay["skills"]["stubbed"] > 0

    up.process.send_signal(signal.SIGTERM)
    assert up.process.wait(120) == 0
    assert [p.pid for p in parts if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    assert not psutil.pid_exists(info.pid)
    assert embedded.status(up.data_dir) is None
