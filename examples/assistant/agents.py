"""The assistant: a router picks one of three agents; agents call skills and stream answers.

Only the public tracer API and the ``openai`` client, as a user's code would. Where tokens are
wasted, it is the way production assistants waste them: hidden reasoning, a structured-output
step whose parse fails and is retried, users who regenerate an answer or stop reading it,
answers cut by ``max_tokens``, and the same request sent twice in one run.
"""

from __future__ import annotations

import os
from typing import Any

import openai
import yaml

import tracer
from examples.assistant.skills import job_search, people_search, post_lookup, web_search

__all__ = ["ROUTER_MODEL", "answer", "configure_llm"]

# Served by the simulator under these names (simulator.toml), so the shipped price table
# prices them: the figures the dashboard shows are in dollars.
ROUTER_MODEL = "gpt-4o-mini"
WRITER_MODEL = "gpt-4o"
REASONER_MODEL = "o4-mini"
ROUTES = ("general_knowledge", "job_fit", "post_takeaways", "out_of_scope")
SYSTEM = "You are a careful jobs assistant. Answer briefly and cite what you used."
_llm: dict[str, openai.OpenAI] = {}


def configure_llm(base_url: str, api_key: str = "demo") -> None:
    """Point the assistant at an OpenAI-compatible server."""
    _llm["client"] = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=60)


def _client() -> openai.OpenAI:
    """The configured client, else one from the environment (as under ``agentflight replay``,
    which does not run start-up code and redirects every call to its target itself)."""
    if "client" not in _llm:
        key = os.environ.get("OPENAI_API_KEY", "demo")
        _llm["client"] = openai.OpenAI(api_key=key, max_retries=0, timeout=60)
    return _llm["client"]


def _route_tool(name: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"Hand the question to the {name.replace('_', ' ')} agent.",
            "parameters": {"type": "object", "properties": {}, "required": []},
        },
    }


@tracer.route("intent_router")
def route(question: str) -> str:
    """The small model picks an agent with a tool call."""
    response = _client().chat.completions.create(
        model=ROUTER_MODEL,
        messages=[
            {"role": "system", "content": "Pick the agent for the user's question."},
            {"role": "user", "content": question},
        ],
        tools=[_route_tool(name) for name in ROUTES],
        tool_choice="required",
        max_tokens=16,
    )
    calls = response.choices[0].message.tool_calls or []
    return calls[0].function.name if calls else "out_of_scope"


@tracer.llm("write_answer")
def write(
    model: str,
    messages: list[dict[str, str]],
    max_tokens: int,
    patience: int | None = None,
    discarded: bool = False,
    **extra: Any,
) -> str:
    """Stream an answer; a user with ``patience`` stops reading after that many chunks, and
    a ``discarded`` answer is one the user throws away to ask again (its tokens: ``retried``).
    """
    stream = _client().chat.completions.create(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        stream=True,
        stream_options={"include_usage": True},
        **extra,
    )
    parts: list[str] = []
    for index, chunk in enumerate(stream):
        if patience is not None and index >= patience:
            stream.close()  # the user went away: the tracer marks the stream abandoned
            break
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    if discarded:
        tracer.current_span().mark_waste("retried")
    return "".join(parts)


@tracer.llm("extract_parameters")
def extract_parameters(question: str, strict: bool = False) -> dict[str, Any] | None:
    """Search parameters as YAML from the small model; None (marked) when it does not parse.

    The parser takes a YAML mapping, or one short line as the query.
    """
    response = _client().chat.completions.create(
        model=ROUTER_MODEL,
        messages=[
            {
                "role": "system",
                "content": "Reply with YAML: role, city, seniority."
                + (" One short line only." if strict else ""),
            },
            {"role": "user", "content": question},
        ],
        max_tokens=10 if strict else 24,
    )
    text = response.choices[0].message.content or ""
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        parsed = None
    if isinstance(parsed, dict):
        return parsed
    if isinstance(parsed, str) and len(parsed.split()) <= 12:
        return {"query": parsed}
    tracer.current_span().mark_waste("parse_error")
    return None


def _messages(question: str, context: Any) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"{question}\n\nContext: {context}"},
    ]


@tracer.agent("general_knowledge", timeout_ms=6000)
def general_knowledge(question: str, patience: int | None = None, discard: bool = False) -> str:
    try:
        context: Any = web_search(question)
    except Exception:  # the search API failed: answer without it
        context = "web search unavailable"
    return write(WRITER_MODEL, _messages(question, context), 220, patience, discard)


@tracer.agent("job_fit", timeout_ms=4500)
def job_fit(question: str, patience: int | None = None, discard: bool = False) -> str:
    """Reasoning-heavy: the first to time out when token gaps grow with load."""
    params = extract_parameters(question)
    if params is None:  # parse_error: ask again, more strictly
        params = extract_parameters(question, strict=True) or {"query": question}
    query = " ".join(str(v) for v in params.values())
    context = {"people": people_search(query), "jobs": job_search(query)}
    return write(
        REASONER_MODEL, _messages(question, context), 200, patience, discard,
        reasoning_effort="medium",
    )  # fmt: skip


@tracer.agent("post_takeaways", timeout_ms=8000)
def post_takeaways(question: str, patience: int | None = None, discard: bool = False) -> str:
    post = post_lookup(question)
    messages = _messages(f"Three takeaways from this post. {question}", post["text"])
    summary = write(WRITER_MODEL, messages, 60, patience, discard)  # often cut by max_tokens
    if len(summary) < 200:  # "a second opinion": the very same request again (duplicate)
        summary = write(WRITER_MODEL, messages, 60, patience, discard)
    return summary


AGENTS = {"general_knowledge": general_knowledge, "job_fit": job_fit,
          "post_takeaways": post_takeaways}  # fmt: skip


@tracer.agent("assistant", timeout_ms=12000)
def answer(question: str, patience: int | None = None, regenerate: bool = False) -> str:
    """The entry point: route, run the agent; ``regenerate``: the user asks for another answer."""
    target = route(question)
    agent = AGENTS.get(target)
    if agent is None:
        return "I can help with jobs, people and their posts, not with that."
    if regenerate:  # the user reads an answer, throws it away and asks again
        agent(question, patience, discard=True)
    return agent(question, patience)
