"""The tracer's replay hooks: recorded results stand in for skills, OpenAI calls are redirected,
and ``@llm`` code can read the overrides; outside a replay nothing changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

import tracer
from tracer import semconv
from tracer._replay import LIVE, ReplayOverrides, replaying
from tracer.testing import CapturedSpans
from tracer.testing import attributes as attrs

pytestmark = pytest.mark.timeout(60)
RAN: list[str] = []


@dataclass
class Hooks:
    results: dict[str, Any]
    overrides: ReplayOverrides = field(
        default_factory=lambda: ReplayOverrides(run_id="r1", replay_of="t1", model="other")
    )
    asked: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    target: Any = None
    steps: list[str] = field(default_factory=list)

    def skill(self, name: str, arguments: dict[str, Any]) -> Any:
        self.asked.append((name, arguments))
        value = self.results.get(name, LIVE)
        if isinstance(value, Exception):
            raise value
        return value

    def openai_request(
        self, resource: Any, kwargs: dict[str, Any], step: str
    ) -> tuple[Any, dict[str, Any]]:
        self.steps.append(step)
        return self.target.chat.completions, {**kwargs, "model": self.overrides.model}


@tracer.skill("lookup")
def lookup(query: str, limit: int = 2) -> list[str]:
    RAN.append("lookup")
    return [query] * limit


@tracer.skill("alookup")
async def alookup(query: str) -> str:
    RAN.append("alookup")
    return query


@tracer.skill("pages")
def pages(n: int) -> Iterator[int]:
    RAN.append("pages")
    yield from range(n)


@tracer.skill("apages")
async def apages(n: int) -> AsyncIterator[int]:
    RAN.append("apages")
    for i in range(n):
        yield i


@pytest.fixture(autouse=True)
def no_runs() -> Iterator[None]:
    RAN.clear()
    yield
    RAN.clear()


def test_outside_a_replay_skills_run_as_usual(spans: CapturedSpans) -> None:
    assert lookup("a") == ["a", "a"]
    assert RAN == ["lookup"]
    assert tracer.replay_overrides() is None
    assert semconv.REPLAY_STUBBED not in attrs(spans.spans[0])


def test_recorded_results_stand_in_for_every_kind_of_skill(spans: CapturedSpans) -> None:
    hooks = Hooks({"lookup": ["r"], "alookup": "ra", "pages": [7, 8], "apages": (9,)})

    async def run_async() -> tuple[str, list[int]]:
        return await alookup("q"), [i async for i in apages(3)]

    with replaying(hooks):
        assert lookup("q", limit=5) == ["r"]
        assert asyncio.run(run_async()) == ("ra", [9])
        assert list(pages(3)) == [7, 8]
        assert tracer.replay_overrides() == hooks.overrides
    assert RAN == []  # no skill body ran
    assert hooks.asked == [
        ("lookup", {"query": "q", "limit": 5}),
        ("alookup", {"query": "q"}),
        ("apages", {"n": 3}),
        ("pages", {"n": 3}),
    ]
    for span in spans.spans:
        assert attrs(span)[semconv.REPLAY_STUBBED] is True, span.name
    assert attrs(spans.by_name("execute_tool lookup"))[semconv.GEN_AI_TOOL_CALL_RESULT] == '["r"]'


def test_live_runs_the_skill_and_a_raising_hook_fails_the_call(spans: CapturedSpans) -> None:
    error = LookupError("no recorded call")
    with replaying(Hooks({"pages": LIVE, "lookup": error})):
        assert list(pages(2)) == [0, 1]
        with pytest.raises(LookupError) as raised:
            lookup("q")
    assert raised.value is error
    assert RAN == ["pages"]
    assert semconv.REPLAY_STUBBED not in attrs(spans.by_name("execute_tool pages"))
    failed = spans.by_name("execute_tool lookup")
    assert failed.status.status_code is StatusCode.ERROR


def test_openai_calls_are_redirected_before_they_are_recorded(
    openai_server: tuple[str, Any], spans: CapturedSpans
) -> None:
    url, script = openai_server
    original = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="dead", max_retries=0)
    hooks = Hooks({}, target=openai.OpenAI(base_url=url, api_key="unused", max_retries=0))

    @tracer.llm("answer")
    def answer() -> str:
        stream = original.chat.completions.create(
            model="recorded-model", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    tracer.instrument_openai()
    try:
        with replaying(hooks):
            assert answer() == "Hello world!"
            original.chat.completions.create(
                model="recorded-model", messages=[{"role": "user", "content": "again"}]
            )
    finally:
        tracer.uninstrument_openai()
        original.close()
        hooks.target.close()
    assert [body["model"] for body in script.bodies] == ["other", "other"]
    assert hooks.steps == ["answer", "chat recorded-model"]
    bare = spans.spans[-1]
    assert attrs(bare)[semconv.GEN_AI_REQUEST_MODEL] == "other"  # what was sent
    assert attrs(bare)[semconv.SERVER_PORT] == int(url.rsplit(":", 1)[1].split("/")[0])
