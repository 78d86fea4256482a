"""Agent replay end to end: recorded runs of the test agent replayed by `agentflight replay`
against the simulator, with another model and a changed system prompt."""

from __future__ import annotations

import json
from pathlib import Path

from tests.collector.conftest import count
from tests.replay.conftest import Recorded, ReplayEnv

NEW_SYSTEM = "You are terse. Answer in one line."


def test_a_replay_is_linked_and_stands_recorded_skills_in(
    replay_env: ReplayEnv, recorded: Recorded, tmp_path: Path
) -> None:
    prompt = tmp_path / "system.txt"
    prompt.write_text(NEW_SYSTEM)
    calls_before = replay_env.calls()
    trace_id = recorded.traces[0]
    code, report = replay_env.replay_json(
        trace_id, "--base-url", replay_env.sim_url, "--system-prompt", str(prompt),
        "--step", "chat gpt-4o-mini",
    )  # fmt: skip
    assert code == 0
    (result,) = report["traces"]
    assert result["status"] == "ok", result
    assert result["route_changed"] is False
    assert result["skills"]["stubbed"] == 3 and result["skills"]["live"] == 0
    assert result["skills"]["unused"] == []
    assert replay_env.calls() == calls_before  # no skill ran
    # The new trace is stored, every span linked to the recorded one.
    replay_id = result["replay_trace_id"]
    replay_env.wait_stored(replay_id, 7)
    store = replay_env.store
    t = {"t": replay_id}
    assert count(store, "trace_id = {t:String}", "genai_spans", **t) == 7
    linked = "trace_id = {t:String} AND replay_of = {o:String} AND replay_run_id = {r:String}"
    assert count(store, linked, "genai_spans", o=trace_id, r=report["run_id"], **t) == 7
    content = store.trace_content(replay_id)
    systems = [
        json.loads(c["input"])["messages"][0]["content"]
        for c in content.values()
        if c["input"].startswith('{"model"')
    ]
    assert sorted(systems) == sorted([NEW_SYSTEM, NEW_SYSTEM])  # both LLM calls are this step


def _hits(kind: str) -> list[dict[str, object]]:
    return [{"name": f"{kind}-{i}", "kind": kind, "score": 1.0 - i / 10} for i in range(2)]


def test_a_changed_route_with_policy_fail_stops_and_reports_the_unused_calls(
    replay_env: ReplayEnv, recorded: Recorded
) -> None:
    calls_before = replay_env.calls()
    code, report = replay_env.replay_json(
        recorded.traces[2], "--base-url", replay_env.sim_url, "--model", "gpt-4o",
        "--policy", "fail",
    )  # fmt: skip
    assert code == 0
    (result,) = report["traces"]
    assert result["status"] == "stopped"
    assert result["route_changed"] is True
    assert result["routes"] == [{"route": "router", "call": 1, "from": "people", "to": "jobs"}]
    (divergence,) = result["divergences"]
    assert (divergence["skill"], divergence["policy"], divergence["resolution"]) == (
        "search",
        "fail",
        "stopped",
    )
    skills = result["skills"]
    assert (skills["stubbed"], skills["live"]) == (0, 0)
    assert [u["skill"] for u in skills["unused"]] == ["search", "profile", "profile"]
    assert [r["skill"] for r in skills["removed"]] == ["profile", "profile"]
    assert skills["changed"] == [
        {
            "skill": "search",
            "from": {"kind": "people", "query": "who can review go code?", "limit": 2},
            "to": {"kind": "jobs", "query": "who can review go code?", "limit": 2},
        }
    ]
    assert replay_env.calls() == calls_before


def test_a_changed_route_with_policy_live_runs_the_new_calls(
    replay_env: ReplayEnv, recorded: Recorded
) -> None:
    calls_before = replay_env.calls()
    code, report = replay_env.replay_json(
        recorded.traces[2], "--base-url", replay_env.sim_url, "--model", "gpt-4o",
        "--policy", "live",
    )  # fmt: skip
    assert code == 0
    (result,) = report["traces"]
    assert result["status"] == "diverged" and result["route_changed"] is True
    skills = result["skills"]
    assert (skills["stubbed"], skills["live"]) == (0, 3)
    assert replay_env.calls() == [*calls_before, "search", "profile", "profile"]
    assert [d["resolution"] for d in result["divergences"]] == ["live"] * 3
    assert [c["skill"] for c in skills["changed"]] == ["search", "profile", "profile"]
    assert skills["changed"][1]["to"] == {"hit": _hits("jobs")[0]}
    assert len(skills["unused"]) == 3 and skills["added"] == [] and skills["removed"] == []


def test_a_changed_route_with_policy_nearest_and_the_diff_figures(
    replay_env: ReplayEnv, recorded: Recorded
) -> None:
    trace_id = recorded.traces[1]
    calls_before = replay_env.calls()
    sim_before = replay_env.sim_seq()
    code, report = replay_env.replay_json(
        trace_id, "--base-url", replay_env.sim_url, "--model", "gpt-4o", "--policy", "nearest",
    )  # fmt: skip
    assert code == 0
    (result,) = report["traces"]
    assert result["status"] == "diverged" and result["route_changed"] is True
    skills = result["skills"]
    assert (skills["stubbed"], skills["live"]) == (3, 0)  # search by nearest, profiles exact
    assert [d["resolution"] for d in result["divergences"]] == ["nearest"]
    assert [c["skill"] for c in skills["changed"]] == ["search"]
    assert skills["unused"] == [] and skills["added"] == [] and skills["removed"] == []
    assert replay_env.calls() == calls_before

    # Ground truth: the simulator's own record of each request, and the stored spans.
    start, end = recorded.sim_ranges[1]
    before = [r for r in replay_env.sim_records(start) if r["seq"] <= end]
    after = replay_env.sim_records(sim_before)
    assert [r["model"] for r in before] == ["gpt-4o-mini"] * 2
    assert [r["model"] for r in after] == ["gpt-4o"] * 2

    def tokens(records: list[dict[str, object]]) -> int:
        return sum(int(r["prompt_tokens"]) + int(r["completion_tokens"]) for r in records)  # type: ignore[call-overload]

    assert result["tokens_delta"] == tokens(after) - tokens(before)
    from analytics import load_prices

    prices = load_prices()

    def cost(records: list[dict[str, object]]) -> float:
        return sum(
            prices.cost(str(r["model"]), input_tokens=int(r["prompt_tokens"]),  # type: ignore[call-overload]
                        output_tokens=int(r["completion_tokens"]))  # type: ignore[call-overload]
            or 0.0
            for r in records
        )  # fmt: skip

    assert abs(result["cost_delta_usd"] - (cost(after) - cost(before))) < 1e-12
    replay_id = result["replay_trace_id"]
    replay_env.wait_stored(replay_id, 7)
    figures = {}
    for tid in (trace_id, replay_id):
        row = replay_env.store.query(
            "SELECT sum(duration_ms), avgIf(ttft_ms, streamed) FROM {db:Identifier}.genai_spans "
            "WHERE trace_id = {t:String} AND operation = 'chat'",
            {"t": tid},
        ).result_rows[0]
        figures[tid] = row
    assert abs(result["latency_delta_ms"] - (figures[replay_id][0] - figures[trace_id][0])) < 1e-3
    assert abs(result["ttft_delta_ms"] - (figures[replay_id][1] - figures[trace_id][1])) < 1e-3
    # Similarity: difflib's ratio over the words of the two stored answers.
    import difflib

    outputs = []
    for tid in (trace_id, replay_id):
        content = replay_env.store.trace_content(tid)
        agent = next(c for c in content.values() if c["display_output"].startswith('"'))
        outputs.append(json.loads(agent["display_output"]).split())
    matcher = difflib.SequenceMatcher(None, outputs[0], outputs[1], autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    expected = 2 * matched / (len(outputs[0]) + len(outputs[1]))
    assert abs(result["similarity"] - expected) < 1e-12
    assert result["similarity"] < 1.0  # another model, another answer


def test_an_async_agent_is_replayed_on_the_async_client(replay_env: ReplayEnv) -> None:
    (trace_id,) = replay_env.record("--async", "who knows async rust?", spans=5)
    calls_before = replay_env.calls()
    code, report = replay_env.replay_json(trace_id, "--base-url", replay_env.sim_url)
    assert code == 0
    (result,) = report["traces"]
    assert result["status"] == "ok", result
    assert (result["skills"]["stubbed"], result["skills"]["live"]) == (1, 0)
    assert result["similarity"] == 1.0  # the same request to the same seeded simulator
    assert result["tokens_delta"] == 0
    assert replay_env.calls() == calls_before
