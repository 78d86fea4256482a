"""The Locust user classes in a locustfile of one's own, run by Locust in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.loadtest.conftest import Simulator

# Runs under Locust (monkey-patched), so in a process of its own.
LOCUSTFILE = """
import json, sys
import gevent
from locust.env import Environment
from loadtest.users import AgentHttpUser, OpenAIChatUser

class Agent(AgentHttpUser):
    host = sys.argv[1]
    path = "/chat/completions"
    stream = sys.argv[2] == "stream"
    payload = {"model": "agent", "messages": [{"role": "user", "content": "hi"}],
               "stream": stream}

class Chat(OpenAIChatUser):
    host = sys.argv[1]
    model = "chat"
    max_tokens = 3

results = []
def on_request(name, context, response_time, exception, **kw):
    if "agentflight" in context:
        r = context["agentflight"]
        results.append({"name": name, "outcome": r.outcome, "ttft": r.ttft_ms,
                        "gaps": len(r.gaps_ms), "tokens": r.output_tokens,
                        "e2e": response_time, "failed": exception is not None})

env = Environment(user_classes=[Agent, Chat])
env.events.request.add_listener(on_request)
env.create_local_runner().start(4, spawn_rate=100)
gevent.sleep(1.5)
env.runner.quit()
print(json.dumps({"results": results, "stats": sorted(env.stats.entries)}))
"""


@pytest.fixture(scope="module")
def sim(simulator_factory: Callable[..., Simulator]) -> Simulator:
    return simulator_factory("--output-tokens", "5", "--tbt-base-ms", "5")


@pytest.mark.parametrize("mode", ["stream", "whole"])
def test_agent_and_chat_users_measure_and_report_to_locust(sim: Simulator, mode: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOCUSTFILE, sim.url, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    output = json.loads(done.stdout)
    agent = [r for r in output["results"] if r["name"] == "agent e2e"]
    chat = [r for r in output["results"] if r["name"] == "chat e2e"]
    assert len(agent) >= 5 and len(chat) >= 5
    assert all(r["outcome"] == "ok" and not r["failed"] for r in agent + chat)
    assert all(r["ttft"] > 0 and r["e2e"] >= r["ttft"] for r in agent + chat)
    assert all((r["gaps"], r["tokens"]) == (2, 3) for r in chat)  # max_tokens=3
    if mode == "stream":  # every SSE event counts: role, 5 tokens, finish
        assert all(r["gaps"] == 6 for r in agent)
    else:  # one JSON answer; its usage gives the token count
        assert all((r["gaps"], r["tokens"]) == (0, 5) for r in agent)
    names = {tuple(entry) for entry in output["stats"]}
    assert {("chat ttft", "LLM"), ("chat tbt", "LLM"), ("chat e2e", "LLM")} <= names
    assert ("agent e2e", "LLM") in names
