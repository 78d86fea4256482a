"""A small agent for the replay tests: an LLM-driven router, two skills, a streamed answer.

The router asks the model and routes on which model answered: the simulator writes the same
kind of words for every model, so the model's name stands in for a model whose routing
differs (``gpt-4o`` routes to job search, others to people search). Every real skill call
appends a line to ``$AGENT_CALLS_FILE``, so tests can count them across processes; with
``$AGENT_PROFILE_URL`` set, ``profile`` also calls that HTTP service.

Run as a script (``python -m tests.replay.agent_app ...``) it records runs whose entry point
is ``__main__:assistant``, as a user's script would.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import os
import sys
from typing import Any

import httpx
import openai

import tracer

SYSTEM = "You answer questions about people and jobs, in one short paragraph."
ROUTER_SYSTEM = "Answer with one word: people or jobs."
JOB_MODELS = frozenset({"gpt-4o"})


class Kind(enum.Enum):
    PEOPLE = "people"
    JOBS = "jobs"


@dataclasses.dataclass(frozen=True)
class Hit:
    name: str
    kind: Kind
    score: float


@dataclasses.dataclass(frozen=True)
class Prefs:
    limit: int = 2


_client: openai.OpenAI | None = None


def client() -> openai.OpenAI:
    global _client
    if _client is None:
        base_url = os.environ.get("AGENT_LLM_URL", "http://127.0.0.1:9/v1")
        _client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
    return _client


def model() -> str:
    return os.environ.get("AGENT_MODEL", "gpt-4o-mini")


def _note(name: str) -> None:
    path = os.environ.get("AGENT_CALLS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{name}\n")


@tracer.route("router")
def choose(question: str) -> Kind:
    reply = client().chat.completions.create(
        model=model(),
        messages=[
            {"role": "system", "content": ROUTER_SYSTEM},
            {"role": "user", "content": question},
        ],
        max_tokens=2,
        seed=3,
    )
    return Kind.JOBS if reply.model in JOB_MODELS else Kind.PEOPLE


@tracer.skill("search")
def search(kind: Kind, query: str, limit: int = 2) -> list[Hit]:
    _note("search")
    return [Hit(f"{kind.value}-{i}", kind, 1.0 - i / 10) for i in range(limit)]


@tracer.skill("profile")
def profile(hit: Hit) -> dict[str, Any]:
    _note("profile")
    found: dict[str, Any] = {"name": hit.name, "since": datetime.date(2020, 1, 1)}
    directory = os.environ.get("AGENT_PROFILE_URL")
    if directory:  # a skill that calls an HTTP service (for the cassette test)
        found["directory"] = httpx.get(f"{directory}/health", params={"name": hit.name}).json()
    return found


@tracer.agent("assistant")
def assistant(question: str, prefs: Prefs | None = None) -> str:
    kind = choose(question)
    hits = search(kind, question, limit=(prefs or Prefs()).limit)
    details = [profile(hit) for hit in hits]
    names = ", ".join(d["name"] for d in details)
    stream = client().chat.completions.create(
        model=model(),
        messages=[
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"{question}\nCandidates: {names}"},
        ],
        stream=True,
        stream_options={"include_usage": True},
        seed=7,
    )
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


@tracer.skill("asearch")
async def asearch(kind: Kind, query: str) -> list[Hit]:
    _note("asearch")
    return [Hit(f"{kind.value}-async", kind, 0.5)]


@tracer.agent("assistant_async")
async def assistant_async(question: str) -> str:
    """The same agent, async: an async skill and the async OpenAI client."""
    kind = choose(question)
    hits = await asearch(kind, question)
    base_url = os.environ.get("AGENT_LLM_URL", "http://127.0.0.1:9/v1")
    async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0) as llm:
        stream = await llm.chat.completions.create(
            model=model(),
            messages=[
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"{question}\nCandidates: {hits[0].name}"},
            ],
            stream=True,
            stream_options={"include_usage": True},
            seed=7,
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


if __name__ == "__main__":  # a script: its runs record the entry point __main__:assistant
    from tests.replay.record import record

    record(lambda question: assistant(question, Prefs(limit=2)), sys.argv[1:])
