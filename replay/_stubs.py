"""Recorded skill calls standing in for live ones: matching, the three policies, bookkeeping.

Matching: a live call takes the first unused recorded call of the same skill whose canonical
arguments are equal (canonical: the exact typed JSON as the tracer would record the live
arguments now, redaction included, with keys sorted). A call with no match is a divergence,
resolved by the policy:

- ``live``: the skill runs;
- ``fail``: ``ReplayDivergence`` is raised through the agent and the trace's replay stops;
- ``nearest``: the unused recorded call of that skill with the closest arguments stands in
  (any recorded call of it when all are used); closeness is the ``difflib`` ratio of the
  canonical argument texts. A skill the recording never called cannot be stood in for: the
  replay stops as with ``fail``.
"""

from __future__ import annotations

import builtins
import difflib
import json
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from tracer import exact, semconv

from ._errors import RecordedSkillError, ReplayDivergence
from ._model import Step

__all__ = ["POLICIES", "Call", "SkillBook", "canonical", "rename_modules"]

LIVE_POLICY: Final = "live"
FAIL_POLICY: Final = "fail"
NEAREST_POLICY: Final = "nearest"
POLICIES: Final = (LIVE_POLICY, FAIL_POLICY, NEAREST_POLICY)


def rename_modules(text: str, modules: Mapping[str, str]) -> str:
    """Typed JSON with the classes of module ``a`` renamed to module ``b`` for each a -> b."""
    for before, after in modules.items():
        text = text.replace(f'"class":"{before}:', f'"class":"{after}:')
    return text


def canonical(text: str) -> str | None:
    """Typed JSON text with sorted keys, or ``None`` if it is not JSON or the size marker."""
    try:
        tree = json.loads(text)
    except ValueError:
        return None
    if exact.is_omitted(tree):
        return None
    return json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Recorded:
    """One recorded skill call."""

    index: int
    step: Step
    arguments: str | None  # canonical, or None when not recorded
    result: str | None  # exact (or plain display) JSON text of the result
    unusable: str = ""  # why it cannot stand in
    used: bool = False


@dataclass
class Call:
    """One live skill call during the replay and how it was resolved."""

    skill: str
    arguments: str | None
    resolution: str  # stubbed | nearest | live | stopped
    recorded: Recorded | None = None


def _result_text(step: Step) -> tuple[str | None, str]:
    """The recorded result's JSON text (exact, else an uncut display form) or why not."""
    if step.failed:
        return None, ""
    if step.output:
        try:
            tree = json.loads(step.output)
        except ValueError:
            return None, "its recorded result is not valid JSON (changed by a redact hook?)"
        if exact.is_omitted(tree):
            return None, f"its result ({tree['chars']} chars) was over the exact-capture bound"
        return step.output, ""
    if step.display_output and semconv.GEN_AI_TOOL_CALL_RESULT not in step.truncated:
        return step.display_output, ""
    return None, "no result recorded (content capture was off)"


def _arguments_text(step: Step) -> str | None:
    if step.input:
        return canonical(step.input)
    if step.display_input and semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in step.truncated:
        return canonical(step.display_input)
    return None


def _rebuild_error(step: Step) -> BaseException:
    """The exception a recorded call raised: its class if it can be found, else a stand-in."""
    error_type = step.error_type or "Exception"
    message = step.error_message
    short = error_type.rsplit(".", 1)[-1]
    if message.startswith(f"{short}: "):
        message = message[len(short) + 2 :]
    module, _, name = error_type.rpartition(".")
    cls = getattr(sys.modules.get(module) if module else builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except Exception:
            pass
    return RecordedSkillError(error_type, message)


@dataclass
class SkillBook:
    """The recorded skill calls of one trace and the live calls matched against them."""

    policy: str
    recorded: dict[str, list[Recorded]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_steps(
        cls, steps: Iterable[Step], policy: str, modules: Mapping[str, str] | None = None
    ) -> SkillBook:
        """The recorded calls of ``steps``; ``modules`` renames the modules of recorded
        classes (``__main__`` when the agent was recorded from a script)."""
        book = cls(policy)
        for index, step in enumerate(steps):
            arguments = _arguments_text(step)
            result, why = _result_text(step)
            if modules:
                arguments = None if arguments is None else rename_modules(arguments, modules)
                result = None if result is None else rename_modules(result, modules)
            unusable = why or ("" if arguments is not None else "no arguments recorded")
            entry = Recorded(index, step, arguments, result, unusable)
            book.recorded.setdefault(step.name, []).append(entry)
        return book

    def resolve(self, name: str, arguments: dict[str, Any]) -> Any:
        """The stand-in result for a live call (``LIVE`` to run it); may raise."""
        from tracer._replay import LIVE  # the marker the skill wrapper checks

        live = canonical(exact.recorded(arguments))
        with self._lock:
            candidates = [r for r in self.recorded.get(name, []) if not r.used and not r.unusable]
            match = next((r for r in candidates if r.arguments == live), None)
            if match is not None:
                return self._stand_in(Call(name, live, "stubbed", match))
            if self.policy == LIVE_POLICY:
                self.calls.append(Call(name, live, "live"))
                return LIVE
            if self.policy == NEAREST_POLICY:
                pool = candidates or [r for r in self.recorded.get(name, []) if not r.unusable]
                if pool:
                    nearest = max(pool, key=lambda r: _closeness(live, r.arguments))
                    return self._stand_in(Call(name, live, "nearest", nearest))
            self.calls.append(Call(name, live, "stopped"))
        reason = "no recorded call of it" if not self.recorded.get(name) else "no recorded match"
        raise ReplayDivergence(f"skill {name!r} called with arguments that have {reason}")

    def _stand_in(self, call: Call) -> Any:
        recorded = call.recorded
        assert recorded is not None
        recorded.used = True
        self.calls.append(call)
        if recorded.step.failed:
            raise _rebuild_error(recorded.step)
        assert recorded.result is not None
        return exact.loads(recorded.result)  # a fresh value: the agent may mutate it

    def unused(self) -> list[Recorded]:
        """Recorded calls no live call consumed, in recorded order."""
        left = [r for calls in self.recorded.values() for r in calls if not r.used]
        return sorted(left, key=lambda r: r.index)


def _closeness(a: str | None, b: str | None) -> float:
    return difflib.SequenceMatcher(None, a or "", b or "", autojunk=False).ratio()
