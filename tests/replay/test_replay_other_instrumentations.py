"""LLM-call replay of traces written by other instrumentations: OpenLLMetry and OpenInference
spans inserted into otel_traces as their exporters would write them."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import uuid
from typing import Any

import pytest

from tests.replay.conftest import ReplayEnv
from tests.replay.test_genai_content import row

SYSTEM = "Be brief."
QUESTION = "Who on the team knows rust?"
OPENLLMETRY = {
    "llm.request.type": "chat",
    "gen_ai.system": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.request.temperature": "0.3",
    "gen_ai.prompt.0.role": "system",
    "gen_ai.prompt.0.content": SYSTEM,
    "gen_ai.prompt.1.role": "user",
    "gen_ai.prompt.1.content": QUESTION,
    "gen_ai.completion.0.role": "assistant",
    "gen_ai.completion.0.content": "Ana and Bo know rust well",
    "gen_ai.completion.0.finish_reason": "stop",
    "llm.usage.prompt_tokens": "12",
    "llm.usage.completion_tokens": "6",
}
OPENINFERENCE = {
    "openinference.span.kind": "LLM",
    "llm.provider": "openai",
    "llm.model_name": "gpt-4o-mini",
    "llm.invocation_parameters": json.dumps({"temperature": 0.1, "seed": 5}),
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": SYSTEM,
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.content": QUESTION,
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "the model answers with plain words",
    "llm.token_count.prompt": "12",
    "llm.token_count.completion": "6",
}


def _insert(env: ReplayEnv, llm_attributes: dict[str, str], root: dict[str, str]) -> str:
    trace_id = uuid.uuid4().hex
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    env.store.insert_spans(
        [
            row(trace_id, "a" * 16, root, name="workflow", start=start),
            row(trace_id, "b" * 16, llm_attributes, parent="a" * 16, name="openai.chat",
                start=start + dt.timedelta(milliseconds=5)),
        ],
        column_oriented=False,
    )  # fmt: skip
    env.wait_stored(trace_id, 2)
    return trace_id


@pytest.mark.parametrize(
    ("attributes", "root", "expected_params"),
    [
        pytest.param(
            OPENLLMETRY, {"traceloop.span.kind": "workflow"}, {"temperature": 0.3}, id="openllmetry"
        ),
        pytest.param(
            OPENINFERENCE, {"openinference.span.kind": "CHAIN"}, {"temperature": 0.1, "seed": 5},
            id="openinference",
        ),
    ],
)  # fmt: skip
def test_another_instrumentations_trace_is_replayed_call_by_call(
    replay_env: ReplayEnv,
    attributes: dict[str, str],
    root: dict[str, str],
    expected_params: dict[str, Any],
) -> None:
    trace_id = _insert(replay_env, attributes, root)
    sim_before = replay_env.sim_seq()
    code, report = replay_env.replay_json(trace_id, "--base-url", replay_env.sim_url)
    assert code == 0
    (result,) = report["traces"]
    assert (result["mode"], result["status"]) == ("llm", "ok")
    # The request re-issued: the recorded messages and parameters, field for field.
    replay_id = result["replay_trace_id"]
    replay_env.wait_stored(replay_id, 2)
    content = replay_env.store.trace_content(replay_id)
    (chat,) = [c for c in content.values() if c["input"]]
    sent = json.loads(chat["input"])
    assert sent["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTION},
    ]
    assert sent["model"] == "gpt-4o-mini"
    assert {k: sent[k] for k in expected_params} == expected_params
    # The figures against ground truth: the simulator's record, the recorded answer.
    (request,) = replay_env.sim_records(sim_before)
    replayed_tokens = int(request["prompt_tokens"]) + int(request["completion_tokens"])
    assert result["tokens_delta"] == replayed_tokens - 18
    recorded_text = attributes.get("gen_ai.completion.0.content") or attributes.get(
        "llm.output_messages.0.message.content", ""
    )
    answer = "".join(
        p["content"] for p in json.loads(chat["output_messages"])[0]["parts"] if p["type"] == "text"
    )
    words = recorded_text.split(), answer.split()
    matcher = difflib.SequenceMatcher(None, *words, autojunk=False)
    matched = sum(b.size for b in matcher.get_matching_blocks())
    assert result["similarity"] == pytest.approx(2 * matched / (len(words[0]) + len(words[1])))


def test_agent_mode_needs_an_agent_run(replay_env: ReplayEnv) -> None:
    trace_id = _insert(replay_env, OPENLLMETRY, {"traceloop.span.kind": "workflow"})
    result = replay_env.cli(trace_id, "--base-url", replay_env.sim_url, "--mode", "agent")
    assert result.returncode == 2
    assert "has no agent run" in result.stderr and "--mode llm" in result.stderr
