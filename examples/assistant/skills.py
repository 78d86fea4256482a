"""The assistant's skills: search over a small bundled dataset, and a web search over HTTP."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import httpx

import tracer

__all__ = ["configure_web_search", "job_search", "people_search", "post_lookup", "web_search"]

_WORD = re.compile(r"[a-z0-9]+")
_web: dict[str, Any] = {"url": None, "client": None}


@cache
def _dataset(name: str) -> list[dict[str, Any]]:
    text = resources.files("examples.assistant").joinpath("data", f"{name}.json").read_text()
    rows: list[dict[str, Any]] = json.loads(text)
    return rows


def _score(row: dict[str, Any], words: set[str]) -> int:
    text = " ".join(str(v) for v in row.values()).lower()
    return len(words & set(_WORD.findall(text)))


def _search(name: str, query: str, limit: int) -> list[dict[str, Any]]:
    words = set(_WORD.findall(query.lower()))
    ranked = sorted(_dataset(name), key=lambda row: (-_score(row, words), row["id"]))
    return ranked[:limit]


@tracer.skill("people_search")
def people_search(query: str, limit: int = 3) -> list[dict[str, Any]]:
    """People whose title, skills or city match the query best."""
    return _search("people", query, limit)


@tracer.skill("job_search")
def job_search(query: str, limit: int = 3) -> list[dict[str, Any]]:
    """Open jobs that match the query best."""
    return _search("jobs", query, limit)


@tracer.skill("post_lookup")
def post_lookup(author: str) -> dict[str, Any]:
    """The latest post of a person (made up from their profile)."""
    person = _search("people", author, 1)[0]
    skills = ", ".join(person["skills"])
    return {
        "author": person["name"],
        "text": f"{person['name']} on {skills}: lessons from {person['years']} years as a "
        f"{person['title']} in {person['city']}.",
    }


def configure_web_search(url: str) -> None:
    _web["url"] = url
    _web["client"] = httpx.Client(timeout=2.0)


@tracer.skill("web_search")
def web_search(query: str) -> list[dict[str, Any]]:
    """Results from the web-search API; raises when it fails or takes over 2 s."""
    client: httpx.Client = _web["client"]
    response = client.get(f"{_web['url']}/search", params={"q": query})
    response.raise_for_status()
    results: list[dict[str, Any]] = response.json()["results"]
    return results
