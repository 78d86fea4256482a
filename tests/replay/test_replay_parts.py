"""The replay's parts on known data: the summary figures, the gate's grammar, similarity,
request rebuilding and overrides, skill matching."""

from __future__ import annotations

import json
from typing import Any

import pytest

from replay import ReplayInputError, TraceResult, parse_fail_if, similarity, summarise
from replay._diff import Figures
from replay._model import Step
from replay._requests import apply_overrides, recorded_request
from replay._stubs import SkillBook
from tracer import ReplayOverrides, exact, semconv


def _result(
    recorded: tuple[int, float, float | None],
    replayed: tuple[int, float, float | None],
    *,
    route_changed: bool = False,
    sim: float | None = 1.0,
    status: str = "ok",
    divergences: int = 0,
    errors: int = 0,
) -> TraceResult:
    r = TraceResult("t" * 32, "agent", replay_trace_id="r" * 32, status=status)
    r.recorded = Figures(tokens=recorded[0], latency_ms=recorded[1], cost_usd=recorded[2])
    r.replayed = Figures(tokens=replayed[0], latency_ms=replayed[1], cost_usd=replayed[2])
    r.route_changed, r.similarity = route_changed, sim
    r.divergences = [{}] * divergences
    r.errors = ["x"] * errors
    return r


def test_summary_figures_on_known_traces() -> None:
    results = [
        _result((100, 10.0, 0.010), (110, 20.0, 0.012), sim=0.5),
        _result((100, 20.0, 0.010), (90, 20.0, 0.009), route_changed=True, sim=1.0),
        _result((200, 30.0, None), (200, 60.0, None), sim=None, divergences=2),
        _result((0, 0.0, None), (0, 0.0, None), status="error", sim=None, errors=1),
    ]
    results[3].replay_trace_id = ""  # never ran
    summary = summarise(results)
    assert summary["traces"] == 4
    assert summary["route_agreement"] == pytest.approx(2 / 3)
    assert summary["mean_similarity"] == pytest.approx(0.75)
    assert summary["tokens_delta_pct"] == pytest.approx((400 - 400) / 400 * 100)
    # Costs: only traces where both are known (the first two): 0.021 vs 0.020.
    assert summary["cost_delta_pct"] == pytest.approx((0.021 - 0.020) / 0.020 * 100)
    # p95 with linear interpolation: recorded [10, 20, 30] -> 29; replayed [20, 20, 60] -> 56.
    assert summary["p95_latency_delta_pct"] == pytest.approx((56 - 29) / 29 * 100)
    assert (summary["divergences"], summary["errors"]) == (2, 1)


def test_the_gate_grammar() -> None:
    conditions = parse_fail_if(
        "route_agreement<95%,similarity<0.8, cost_delta>10%,p95_latency_delta>20%,errors>0"
    )
    assert [(c.key, c.op, c.threshold) for c in conditions] == [
        ("route_agreement", "<", 0.95),
        ("mean_similarity", "<", 0.8),
        ("cost_delta_pct", ">", 10.0),
        ("p95_latency_delta_pct", ">", 20.0),
        ("errors", ">", 0.0),
    ]
    summary = {"route_agreement": 0.9, "mean_similarity": 0.9, "cost_delta_pct": None,
               "p95_latency_delta_pct": 5.0, "errors": 0}  # fmt: skip
    assert [c.holds(summary) for c in conditions] == [True, False, None, False, False]
    for bad in ("similarity<<1", "speed>1", "errors>1%", "cost_delta>10", "similarity<"):
        with pytest.raises(ReplayInputError, match="--fail-if"):
            parse_fail_if(bad)


def test_similarity_is_the_word_level_ratio() -> None:
    assert similarity("", "") == 1.0
    assert similarity("a b c d", "a b c d") == 1.0
    assert similarity("a b c d", "w x y z") == 0.0
    assert similarity("a b c d", "a b x d") == pytest.approx(2 * 3 / 8)
    assert similarity("one two", "one two three four") == pytest.approx(2 * 2 / 6)


def _llm_step(**content: Any) -> Step:
    return Step("s" * 16, "", "llm", "chat m", model="m", **content)


def test_requests_are_rebuilt_from_each_source() -> None:
    exact_request = {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                     "tools": [{"type": "function"}], "temperature": 0.5}  # fmt: skip
    assert recorded_request(_llm_step(input=exact.dumps(exact_request))) == (exact_request, "")
    prompt = {"model": "m", "prompt": "hi", "system": "be brief", "max_tokens": 3}
    assert recorded_request(_llm_step(input=exact.dumps(prompt)))[0] == {
        "model": "m", "max_tokens": 3,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    }  # fmt: skip
    call = {"type": "tool_call", "id": "c1", "name": "w", "arguments": {"c": "P"}}
    response = {"type": "tool_call_response", "id": "c1", "response": {"t": 20}}
    history = [
        {"role": "user", "parts": [{"type": "text", "content": "weather?"}]},
        {"role": "assistant", "parts": [call]},
        {"role": "tool", "parts": [response]},
    ]
    semconv_step = _llm_step(
        input_messages=json.dumps(history),
        system_instructions='[{"type":"text","content":"sys"}]',
        attributes={semconv.GEN_AI_REQUEST_TEMPERATURE: "0.2"},
    )
    function = {"name": "w", "arguments": '{"c": "P"}'}
    assert recorded_request(semconv_step)[0] == {
        "model": "m",
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": function}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"t": 20}'},
        ],
    }
    assert recorded_request(_llm_step()) == (
        None,
        "no input messages recorded (content capture was off)",
    )
    omitted = _llm_step(input=exact.omitted(10, 5), truncated=(semconv.CONTENT_INPUT,))
    assert "exact-capture bound" in recorded_request(omitted)[1]


def test_overrides_replace_the_system_prompt_of_the_named_step_only() -> None:
    request = {"model": "m", "messages": [{"role": "system", "content": "old"},
                                          {"role": "user", "content": "q"}]}  # fmt: skip
    overrides = ReplayOverrides(
        "run", "t", model="n", system_prompt="new", step="answer", params={"temperature": 0.2}
    )
    changed = apply_overrides(request, overrides, "answer")
    assert changed == {"model": "n", "temperature": 0.2, "messages": [
        {"role": "system", "content": "new"}, {"role": "user", "content": "q"}]}  # fmt: skip
    assert apply_overrides(request, overrides, "router")["messages"] == request["messages"]
    no_system = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    inserted = apply_overrides(no_system, ReplayOverrides("r", "t", system_prompt="s"), "x")
    assert inserted["messages"][0] == {"role": "system", "content": "s"}
    assert request["messages"][0]["content"] == "old"  # the recorded request is not changed


def _skill(name: str, arguments: Any, result: Any, span: str) -> Step:
    return Step(span, "", "skill", name, input=exact.dumps(arguments), output=exact.dumps(result))


def test_skill_calls_match_by_arguments_then_order_and_nearest() -> None:
    steps = [
        _skill("search", {"q": "rust", "n": 2}, ["a"], "1"),
        _skill("search", {"q": "rust", "n": 2}, ["b"], "2"),
        _skill("search", {"q": "go", "n": 2}, ["c"], "3"),
    ]
    book = SkillBook.from_steps(steps, "nearest")
    assert book.resolve("search", {"n": 2, "q": "rust"}) == ["a"]  # key order does not matter
    assert book.resolve("search", {"q": "rust", "n": 2}) == ["b"]  # the same call: next in order
    assert book.resolve("search", {"q": "gopher", "n": 2}) == ["c"]  # nearest: the go call
    assert [c.resolution for c in book.calls] == ["stubbed", "stubbed", "nearest"]
    assert book.unused() == []


def test_the_json_keys_are_the_contract() -> None:
    from replay import RunReport

    report = RunReport("run", {}, [_result((1, 1.0, None), (2, 2.0, None))]).finish()
    data = report.to_json()
    assert {"run_id", "passed", "summary", "traces"} <= set(data)
    assert set(data["summary"]) == {
        "traces", "route_agreement", "mean_similarity", "tokens_delta_pct", "cost_delta_pct",
        "p95_latency_delta_pct", "divergences", "errors",
    }  # fmt: skip
    (trace,) = data["traces"]
    assert {
        "trace_id", "replay_trace_id", "status", "route_changed", "skills", "similarity",
        "tokens_delta", "cost_delta_usd", "latency_delta_ms", "ttft_delta_ms", "divergences",
        "errors",
    } <= set(trace)  # fmt: skip
    assert {"stubbed", "live", "added", "removed", "changed"} <= set(trace["skills"])
