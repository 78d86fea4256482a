"""The per-trace diff: recorded run against its replay.

Every figure is defined once here and in docs/replay.md ("The diff"):

- routes: the decisions of each router, in order; ``route_changed`` when any differs;
- skills: calls served from the recording (``stubbed``), run ``live``, and the recorded calls
  against the live ones: ``changed`` (same skill, other arguments), ``added``, ``removed``,
  and every recorded call left ``unused``;
- output similarity: ``difflib.SequenceMatcher`` ratio (Ratcliff/Obershelp, ``2*M/T``) over
  the whitespace-separated words of the two output texts, in [0, 1]; 1 when both are empty;
- tokens (input + output), cost (``analytics`` price table; null when a model has no price),
  LLM latency (the sum of LLM call durations), mean TTFT and mean TBT of streamed calls:
  replayed minus recorded.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from analytics import PriceTable
from tracer import exact

from ._model import AGENT, LLM, ROUTE, Step, TraceTree
from ._requests import output_text, recorded_output
from ._stubs import SkillBook

__all__ = ["TraceResult", "compare", "similarity"]

_DIFF_CHARS = 4000


def similarity(a: str, b: str) -> float:
    """Word-level ``SequenceMatcher`` ratio of two texts, in [0, 1] (1 when both are empty)."""
    words_a, words_b = a.split(), b.split()
    if not words_a and not words_b:
        return 1.0
    return difflib.SequenceMatcher(None, words_a, words_b, autojunk=False).ratio()


def _text(json_text: str) -> str | None:
    """A recorded value as text: strings as they are, anything else as indented JSON."""
    if not json_text:
        return None
    try:
        value = exact.plain(json.loads(json_text))
    except ValueError:
        return json_text
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _unified(a: str, b: str) -> str:
    lines = difflib.unified_diff(
        a.splitlines(), b.splitlines(), "recorded", "replayed", lineterm="", n=1
    )
    text = "\n".join(lines)
    return text if len(text) <= _DIFF_CHARS else text[:_DIFF_CHARS] + "\n[...]"


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _cost(steps: Sequence[Step], prices: PriceTable | None) -> float | None:
    if prices is None:
        return None
    total = 0.0
    for step in steps:
        if not step.total_tokens:
            continue
        cost = prices.cost(
            step.response_model or step.model,
            input_tokens=step.input_tokens,
            cached_tokens=step.cached_tokens,
            output_tokens=step.output_tokens,
            reasoning_tokens=step.reasoning_tokens,
        )
        if cost is None:
            return None  # unknown model: the cost is unknown, not 0
        total += cost
    return total


@dataclass
class Figures:
    """The measured side of one run (recorded or replayed)."""

    tokens: int = 0
    cost_usd: float | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    tbt_ms: float | None = None

    @classmethod
    def of(cls, steps: Sequence[Step], prices: PriceTable | None) -> Figures:
        return cls(
            tokens=sum(s.total_tokens for s in steps),
            cost_usd=_cost(steps, prices),
            latency_ms=sum(s.duration_ms for s in steps),
            ttft_ms=_mean([s.ttft_ms for s in steps if s.streamed]),
            tbt_ms=_mean([s.tbt_mean_ms for s in steps if s.streamed]),
        )


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _no_skills() -> dict[str, Any]:
    return {"stubbed": 0, "live": 0, "added": [], "removed": [], "changed": []}


@dataclass
class TraceResult:
    """One trace's replay: what happened and how it differs from the recording."""

    trace_id: str
    mode: str
    replay_trace_id: str = ""
    status: str = "ok"
    route_changed: bool = False
    routes: list[dict[str, Any]] = field(default_factory=list)
    skills: dict[str, Any] = field(default_factory=lambda: _no_skills())
    similarity: float | None = None
    output_diff: str = ""
    recorded: Figures = field(default_factory=Figures)
    replayed: Figures = field(default_factory=Figures)
    divergences: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    not_replayed: list[dict[str, str]] = field(default_factory=list)

    @property
    def tokens_delta(self) -> int:
        return self.replayed.tokens - self.recorded.tokens

    @property
    def cost_delta_usd(self) -> float | None:
        return _delta(self.recorded.cost_usd, self.replayed.cost_usd)

    @property
    def latency_delta_ms(self) -> float:
        return self.replayed.latency_ms - self.recorded.latency_ms

    @property
    def ttft_delta_ms(self) -> float | None:
        return _delta(self.recorded.ttft_ms, self.replayed.ttft_ms)

    @property
    def tbt_delta_ms(self) -> float | None:
        return _delta(self.recorded.tbt_ms, self.replayed.tbt_ms)

    def to_json(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "replay_trace_id": self.replay_trace_id,
            "status": self.status,
            "route_changed": self.route_changed,
            "skills": self.skills,
            "similarity": self.similarity,
            "tokens_delta": self.tokens_delta,
            "cost_delta_usd": self.cost_delta_usd,
            "latency_delta_ms": self.latency_delta_ms,
            "ttft_delta_ms": self.ttft_delta_ms,
            "divergences": self.divergences,
            "errors": self.errors,
            # Beyond the contract: the detail behind the figures.
            "mode": self.mode,
            "routes": self.routes,
            "tbt_delta_ms": self.tbt_delta_ms,
            "output_diff": self.output_diff,
            "recorded": vars(self.recorded),
            "replayed": vars(self.replayed),
            "not_replayed": self.not_replayed,
        }


def _routes(recorded: TraceTree, replayed: TraceTree) -> list[dict[str, Any]]:
    """Routing decisions that differ, router by router, in call order."""
    changes = []
    names = dict.fromkeys(s.name for s in [*recorded.of_kind(ROUTE), *replayed.of_kind(ROUTE)])
    for name in names:
        before = [s.route_target for s in recorded.of_kind(ROUTE) if s.name == name]
        after = [s.route_target for s in replayed.of_kind(ROUTE) if s.name == name]
        for index in range(max(len(before), len(after))):
            a = before[index] if index < len(before) else None
            b = after[index] if index < len(after) else None
            if a != b:
                changes.append({"route": name, "call": index + 1, "from": a, "to": b})
    return changes


def _arguments(canonical: str | None) -> Any:
    return None if canonical is None else exact.plain(json.loads(canonical))


def _skills(book: SkillBook) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The skills part of the diff and the divergence records."""
    changed: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    divergences: list[dict[str, Any]] = []
    unused = book.unused()
    spare = list(unused)
    for call in book.calls:
        if call.resolution == "stubbed":
            continue
        divergences.append(
            {
                "skill": call.skill,
                "arguments": _arguments(call.arguments),
                "policy": book.policy,
                "resolution": call.resolution,
                "recorded_span_id": call.recorded.step.span_id if call.recorded else None,
            }
        )
        counterpart = call.recorded
        if counterpart is None:  # live or stopped: pair with an unused call of the same skill
            counterpart = next((r for r in spare if r.step.name == call.skill), None)
            if counterpart is not None:
                spare.remove(counterpart)
        if counterpart is None:
            added.append({"skill": call.skill, "arguments": _arguments(call.arguments)})
        else:
            changed.append(
                {
                    "skill": call.skill,
                    "from": _arguments(counterpart.arguments),
                    "to": _arguments(call.arguments),
                }
            )
    skills = {
        "stubbed": sum(c.resolution in ("stubbed", "nearest") for c in book.calls),
        "live": sum(c.resolution == "live" for c in book.calls),
        "added": added,
        "removed": [{"skill": r.step.name, "arguments": _arguments(r.arguments)} for r in spare],
        "changed": changed,
        "unused": [{"skill": r.step.name, "span_id": r.step.span_id} for r in unused],
    }
    return skills, divergences


def compare(
    result: TraceResult,
    recorded: TraceTree,
    replayed: TraceTree,
    prices: PriceTable | None,
    book: SkillBook | None = None,
    recorded_llm: Sequence[Step] | None = None,
) -> TraceResult:
    """Fill ``result`` with the diff of ``replayed`` against ``recorded``.

    ``book`` is the agent replay's skill bookkeeping; ``recorded_llm`` the recorded LLM calls
    an LLM-level replay re-issued (in order), compared call by call with the replayed ones.
    """
    result.replay_trace_id = replayed.trace_id
    result.routes = _routes(recorded, replayed)
    result.route_changed = bool(result.routes)
    if book is not None:
        result.skills, divergences = _skills(book)
        result.divergences.extend(divergences)
    else:
        result.skills = _no_skills()
    replayed_llm = replayed.of_kind(LLM)
    if recorded_llm is None:
        recorded_llm = recorded.of_kind(LLM)
        before_agent, after_agent = recorded.agent, replayed.agent
        a = _text(before_agent.output or before_agent.display_output) if before_agent else None
        b = _text(after_agent.output or after_agent.display_output) if after_agent else None
        if a is not None and b is not None:
            result.similarity = similarity(a, b)
            result.output_diff = _unified(a, b)
    else:
        pairs = list(zip(recorded_llm, replayed_llm, strict=False))
        texts = [(recorded_output(x), output_text(y.output_messages)) for x, y in pairs]
        if texts:
            result.similarity = sum(similarity(a, b) for a, b in texts) / len(texts)
            result.output_diff = _unified(
                "\n".join(a for a, _ in texts), "\n".join(b for _, b in texts)
            )
    result.recorded = Figures.of(recorded_llm, prices)
    result.replayed = Figures.of(replayed_llm, prices)
    for step in replayed.steps:
        if step.failed and step.kind in (AGENT, LLM) and step.error_type:
            message = f"{step.kind} {step.name}: {step.error_message or step.error_type}"
            if message not in result.errors:
                result.errors.append(message)
    return result
