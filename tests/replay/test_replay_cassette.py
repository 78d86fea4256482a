"""--cassette: the first replay records the target's answers and the HTTP of skills that run
live; later replays play them back with the target (and the skill's service) stopped."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import requests
import yaml

import loadtest
from replay._cassette import use_cassette
from tests.http_server import QuietHandler, serving
from tests.replay.conftest import PROFILE, SIM_SEED, Recorded, ReplayEnv


def test_a_cassette_records_then_plays_back_offline(
    replay_env: ReplayEnv, recorded: Recorded, tmp_path: Path
) -> None:
    trace_id = recorded.traces[0]
    cassettes = tmp_path / "cassettes"
    with loadtest.running_simulator(PROFILE, seed=SIM_SEED) as target:
        directory = target.removesuffix("/v1")  # the profile skill's HTTP service, too
        flags = ["--base-url", target, "--model", "gpt-4o", "--policy", "live",
                 "--cassette", str(cassettes)]  # fmt: skip
        calls_before = len(replay_env.calls())
        code, first = replay_env.replay_json(trace_id, *flags, AGENT_PROFILE_URL=directory)
        assert code == 0
    # The target and the service are stopped now.
    cassette = cassettes / f"{trace_id}.yaml"
    interactions = yaml.safe_load(cassette.read_text())["interactions"]
    uris = [i["request"]["uri"] for i in interactions]
    assert sum(u.endswith("/v1/chat/completions") for u in uris) == 2  # router, answer
    assert sum("/health?name=" in u for u in uris) == 2  # the live profile calls
    assert all(replay_env.collector_url not in u for u in uris)  # span export not recorded

    code, second = replay_env.replay_json(trace_id, *flags, AGENT_PROFILE_URL=directory)
    assert code == 0
    (a,), (b,) = first["traces"], second["traces"]
    assert a["status"] == b["status"] == "diverged"  # the route changed; skills ran live
    for key in ("route_changed", "routes", "skills", "similarity", "output_diff", "tokens_delta"):
        assert a[key] == b[key], key
    assert a["errors"] == b["errors"] == []
    assert len(replay_env.calls()) == calls_before + 6  # the live skills ran both times

    # Without the cassette, the stopped target is an unreachable target.
    offline = replay_env.cli(trace_id, "--base-url", target)
    assert offline.returncode == 2 and "cannot reach the target" in offline.stderr


class _Ok(QuietHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def test_passthrough_traffic_on_other_threads_lets_nothing_escape_the_cassette(
    tmp_path: Path,
) -> None:
    """The exporter and ClickHouse talk through ``requests``/``urllib3`` on their own threads
    while replay threads call the model; every model call must land in the cassette."""
    path = tmp_path / "c.yaml"
    calls = 300
    with serving(_Ok) as model, serving(_Ok) as collector:
        stop = threading.Event()

        def export() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    session.post(f"{collector}/v1/traces", data=b"spans")

        exporters = [threading.Thread(target=export) for _ in range(2)]
        with use_cassette(path, [collector]), httpx.Client() as client:
            for thread in exporters:
                thread.start()
            try:
                for i in range(calls):
                    assert client.post(f"{model}/v1/chat/{i}", content=b"{}").status_code == 200
            finally:
                stop.set()
                for thread in exporters:
                    thread.join()
    uris = [i["request"]["uri"] for i in yaml.safe_load(path.read_text())["interactions"]]
    assert sorted(uris) == sorted(f"{model}/v1/chat/{i}" for i in range(calls))
