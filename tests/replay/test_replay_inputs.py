"""Bad input: one line each, exit 2, and what can be replayed still is."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.replay.conftest import Recorded, ReplayEnv


def _one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("agentflight replay: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def test_unknown_and_malformed_trace_ids(replay_env: ReplayEnv) -> None:
    url = replay_env.sim_url
    _one_line_error(replay_env.cli("0" * 32, "--base-url", url), "no trace " + "0" * 32)
    _one_line_error(replay_env.cli("not-a-trace", "--base-url", url), "is not a trace id")
    _one_line_error(replay_env.cli("show", "nope"), "no replay run 'nope'")


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        ([], "--base-url is required"),
        (["--base-url", "BASE", "--fail-if", "similarity<<3"], "--fail-if: cannot read"),
        (["--base-url", "BASE", "--fail-if", "cost_delta>10"], "write cost_delta>10%"),
        (["--base-url", "BASE", "--fail-if", "speed>3"], "unknown figure 'speed'"),
        (["--base-url", "BASE", "--param", "temperature"], "--param must be key=value"),
        (["--base-url", "BASE", "--policy", "maybe"], "--policy must be one of"),
        (["--base-url", "BASE", "--mode", "both"], "--mode must be agent or llm"),
        (["--base-url", "BASE", "--step", "chat"], "pass --system-prompt too"),
        (["--base-url", "BASE", "--system-prompt", "/no/such/file"], "cannot read it"),
    ],
)
def test_bad_flags(
    replay_env: ReplayEnv, recorded: Recorded, flags: list[str], fragment: str
) -> None:
    flags = [replay_env.sim_url if f == "BASE" else f for f in flags]
    _one_line_error(replay_env.cli(recorded.traces[0], *flags), fragment)


def test_an_unreachable_target(replay_env: ReplayEnv, recorded: Recorded) -> None:
    dead = _dead_url()
    _one_line_error(
        replay_env.cli(recorded.traces[0], "--base-url", dead), f"cannot reach the target at {dead}"
    )


def test_a_batch_with_nothing_to_replay(replay_env: ReplayEnv) -> None:
    _one_line_error(
        replay_env.cli("--agent", "nobody", "--base-url", replay_env.sim_url),
        "no recorded runs of agent 'nobody' in the last 24h",
    )


def test_a_script_entry_point_needs_entrypoint(replay_env: ReplayEnv) -> None:
    (trace_id,) = replay_env.record("who knows sql?", script=True)
    line = _one_line_error(
        replay_env.cli(trace_id, "--base-url", replay_env.sim_url),
        "__main__:assistant",
        "pass --entrypoint module:function",
    )
    assert "script" in line
    _one_line_error(
        replay_env.cli(trace_id, "--base-url", replay_env.sim_url, "--entrypoint", "no_such:fn"),
        "cannot import the entry point no_such:fn",
        "--entrypoint",
    )
    code, report = replay_env.replay_json(
        trace_id, "--base-url", replay_env.sim_url, "--entrypoint",
        "tests.replay.agent_app:assistant",
    )  # fmt: skip
    assert code == 0
    (result,) = report["traces"]
    assert (result["status"], result["skills"]["stubbed"]) == ("ok", 3)


def test_a_trace_recorded_without_content(replay_env: ReplayEnv) -> None:
    (trace_id,) = replay_env.record("who knows c?", AGENTFLIGHT_CAPTURE_CONTENT="false")
    line = _one_line_error(
        replay_env.cli(trace_id, "--base-url", replay_env.sim_url), f"trace {trace_id}"
    )
    assert "no input messages recorded (content capture was off)" in line
    assert "skill search: no recorded arguments or result" in line
    assert "AGENTFLIGHT_CAPTURE_CONTENT" in line


def test_what_can_be_replayed_is(replay_env: ReplayEnv, recorded: Recorded) -> None:
    """Our own trace at the LLM-call level: each recorded request re-issued."""
    code, report = replay_env.replay_json(
        recorded.traces[0], "--base-url", replay_env.sim_url, "--mode", "llm",
        "--param", "temperature=0.2",
    )  # fmt: skip
    assert code == 0
    (result,) = report["traces"]
    assert result["mode"] == "llm" and result["status"] == "ok"
    assert result["similarity"] == 1.0  # the same requests to the same seeded simulator
    assert result["tokens_delta"] == 0
    replay_env.wait_stored(result["replay_trace_id"], 3)  # a root and the two LLM calls
