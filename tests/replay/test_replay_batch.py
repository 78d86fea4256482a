"""Batches: selection (never earlier replays), the summary, the --fail-if gate and its exit
codes, and stored runs read back with `agentflight replay show`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.collector.conftest import count, wait_until
from tests.replay.conftest import Recorded, ReplayEnv


def test_a_batch_gates_and_is_stored(
    replay_env: ReplayEnv, recorded: Recorded, tmp_path: Path
) -> None:
    out = tmp_path / "same.json"
    same = replay_env.cli(
        "--agent", "assistant", "--since", "1h", "--base-url", replay_env.sim_url,
        "--fail-if", "errors>0,divergences>0,similarity<1", "--json-out", str(out),
        "--concurrency", "3",
    )  # fmt: skip
    assert same.returncode == 0, same.stderr
    assert "summary" in same.stdout and "route agreement" in same.stdout  # the tables
    report = json.loads(out.read_text())
    assert report["passed"] is True
    assert sorted(t["trace_id"] for t in report["traces"]) == sorted(recorded.traces)
    summary = report["summary"]
    assert summary["traces"] == 3
    assert summary["route_agreement"] == 1.0
    assert summary["mean_similarity"] == 1.0  # same model, same prompt, seeded simulator
    assert summary["tokens_delta_pct"] == 0.0
    assert (summary["divergences"], summary["errors"]) == (0, 0)
    assert all(t["status"] == "ok" for t in report["traces"])

    # The replays are stored, and the next batch does not select them.
    replays = [t["replay_trace_id"] for t in report["traces"]]
    for replay_id in replays:
        replay_env.wait_stored(replay_id, 7)
    code, other = replay_env.replay_json(
        "--agent", "assistant", "--since", "1h", "--base-url", replay_env.sim_url,
        "--model", "gpt-4o", "--policy", "nearest",
        "--fail-if", "route_agreement<95%,similarity<0.5,errors>0",
    )  # fmt: skip
    assert code == 1
    assert other["passed"] is False
    assert other["failed_conditions"] == ["route_agreement<95%"]
    assert sorted(t["trace_id"] for t in other["traces"]) == sorted(recorded.traces)
    assert other["summary"]["route_agreement"] == 0.0
    assert other["summary"]["divergences"] == 3  # one nearest search per trace

    # --include-replays selects the stored replays too.
    code, everything = replay_env.replay_json(
        "--agent", "assistant", "--since", "1h", "--base-url", replay_env.sim_url,
        "--include-replays", "--limit", "50",
    )  # fmt: skip
    assert code == 0
    assert set(replays) <= {t["trace_id"] for t in everything["traces"]}

    # `replay show` reads a run back as it was reported.
    shown = replay_env.cli("show", other["run_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    stored = json.loads(shown.stdout)
    assert stored["summary"] == other["summary"]
    assert stored["passed"] is False and stored["failed_conditions"] == ["route_agreement<95%"]
    assert sorted(stored["traces"], key=lambda t: t["trace_id"]) == sorted(
        other["traces"], key=lambda t: t["trace_id"]
    )
    table = replay_env.cli("show", other["run_id"])
    assert table.returncode == 0 and "FAILED" in table.stdout
    rows = "run_id = {r:String}"
    assert count(replay_env.store, rows, "replay_traces", r=other["run_id"]) == 3
    wait_until(lambda: count(replay_env.store, rows, "replay_runs", r=other["run_id"]) == 1)
