"""--cassette: the first replay records the target's answers and the HTTP of skills that run
live; later replays play them back with the target (and the skill's service) stopped."""

from __future__ import annotations

from pathlib import Path

import yaml

import loadtest
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
