"""The agent benchmarks/bench_replay.py records and replays: a router, two skills and one
streamed LLM call through the OpenAI SDK (imported as ``_replay_agent``, its entry point)."""

from __future__ import annotations

import dataclasses
import os

import openai

import tracer

_client: openai.OpenAI | None = None


@dataclasses.dataclass(frozen=True)
class Hit:
    name: str
    score: float


def client() -> openai.OpenAI:
    global _client
    if _client is None:
        _client = openai.OpenAI(
            base_url=os.environ["BENCH_LLM_URL"], api_key="unused", max_retries=0
        )
    return _client


@tracer.route("router")
def choose(question: str) -> str:
    return "people" if "who" in question else "jobs"


@tracer.skill("search")
def search(kind: str, query: str) -> list[Hit]:
    return [Hit(f"{kind}-{i}", 1.0 - i / 10) for i in range(3)]


@tracer.skill("rank")
def rank(hits: list[Hit]) -> list[str]:
    return [h.name for h in sorted(hits, key=lambda h: -h.score)]


@tracer.agent("bench_assistant")
def assistant(question: str) -> str:
    names = rank(search(choose(question), question))
    stream = client().chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": f"{question} {names}"},
        ],
        stream=True,
        stream_options={"include_usage": True},
        seed=1,
    )
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
