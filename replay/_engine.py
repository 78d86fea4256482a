"""Replaying one trace: agent replay (the agent's code, recorded skills standing in) or
LLM-call replay (each recorded request re-issued), with the overrides, then the diff."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import openai
from opentelemetry import trace

import tracer
from analytics import PriceTable, load_prices
from collector import Store
from tracer import ReplayOverrides
from tracer._replay import replaying

from ._diff import TraceResult, compare
from ._entry import EntryPoint, LoopPool, call, recorded_arguments, resolve_entrypoint
from ._errors import ReplayDivergence, ReplayInputError
from ._links import ReplayLinks
from ._load import load_trace
from ._model import LLM, SKILL, Step, TraceTree, tree_from_spans
from ._requests import apply_overrides, recorded_request
from ._stubs import FAIL_POLICY, POLICIES, SkillBook
from ._target import Target

__all__ = ["AGENT_MODE", "LLM_MODE", "ReplayOptions", "Replayer"]

AGENT_MODE: Final = "agent"
LLM_MODE: Final = "llm"
_SPANS_TIMEOUT_S: Final = 30.0
_SERVICE: Final = "agentflight-replay"


@dataclass(frozen=True)
class ReplayOptions:
    """What ``agentflight replay`` was asked to do (the CLI flags)."""

    base_url: str
    mode: str | None = None
    entrypoint: str | None = None
    api_key: str | None = field(default=None, repr=False)
    model: str | None = None
    system_prompt: str | None = None
    step: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    policy: str = FAIL_POLICY
    cassette: Path | None = None
    concurrency: int = 16
    project: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in (None, AGENT_MODE, LLM_MODE):
            raise ReplayInputError(f"--mode must be agent or llm, got {self.mode!r}")
        if self.policy not in POLICIES:
            raise ReplayInputError(
                f"--policy must be one of {', '.join(POLICIES)}, got {self.policy!r}"
            )
        if self.step is not None and self.system_prompt is None:
            raise ReplayInputError(
                "--step names the step whose system prompt --system-prompt replaces: "
                "pass --system-prompt too"
            )
        if self.concurrency < 1:
            raise ReplayInputError(f"--concurrency must be at least 1, got {self.concurrency}")


class _AgentHooks:
    """The replay context the tracer consults inside an agent replay."""

    def __init__(self, overrides: ReplayOverrides, book: SkillBook, target: Target) -> None:
        self.overrides = overrides
        self.book = book
        self.target = target

    def skill(self, name: str, arguments: dict[str, Any]) -> Any:
        return self.book.resolve(name, arguments)

    def openai_request(
        self, resource: Any, kwargs: dict[str, Any], step: str
    ) -> tuple[Any, dict[str, Any]]:
        return self.target.resource(resource), apply_overrides(kwargs, self.overrides, step)


_SET_UP: list[tuple[ReplayLinks, tracer.Settings]] = []


def _set_up() -> tuple[ReplayLinks, tracer.Settings]:
    """The tracer set up for replay (once per process), with the link processor."""
    if not _SET_UP:
        settings = tracer.configure(
            service_name=os.environ.get("OTEL_SERVICE_NAME") or _SERVICE,
            capture_content=True,  # the diff reads the new outputs
            max_queue_size=1 << 16,
        )
        links = ReplayLinks()
        trace.get_tracer_provider().add_span_processor(links)  # type: ignore[attr-defined]
        tracer.instrument_openai()
        _SET_UP.append((links, settings))
    return _SET_UP[0]


class Replayer:
    """Replays traces of one run (shared target clients, prices, entry points)."""

    def __init__(self, store: Store, options: ReplayOptions, run_id: str | None = None) -> None:
        self.store = store
        self.options = options
        self.run_id = run_id or uuid.uuid4().hex
        self.links, self.tracer_settings = _set_up()
        self.target = Target(options.base_url, options.api_key, max_connections=options.concurrency)
        self.prices: PriceTable | None = load_prices()
        self.loops = LoopPool()
        self._entrypoints: dict[str, EntryPoint] = {}
        self._otel = trace.get_tracer("agentflight.replay")

    def close(self) -> None:
        self.loops.close()
        self.target.close()

    def overrides(self, trace_id: str) -> ReplayOverrides:
        o = self.options
        return ReplayOverrides(
            run_id=self.run_id, replay_of=trace_id, model=o.model, base_url=o.base_url,
            api_key=o.api_key, system_prompt=o.system_prompt, step=o.step, params=dict(o.params),
        )  # fmt: skip

    def entrypoint(self, spec: str) -> EntryPoint:
        if spec not in self._entrypoints:
            self._entrypoints[spec] = resolve_entrypoint(spec)
        return self._entrypoints[spec]

    def load(self, trace_id: str) -> TraceTree:
        """The recorded trace (``ReplayInputError`` if unknown)."""
        return load_trace(self.store, trace_id, self.options.project)

    def replay(self, trace: str | TraceTree) -> TraceResult:
        """Replay one recorded trace (an id, or one loaded already); ``ReplayInputError``
        when it cannot be replayed at all."""
        recorded = self.load(trace) if isinstance(trace, str) else trace
        trace_id = recorded.trace_id
        agent = recorded.agent
        mode = self.options.mode or (AGENT_MODE if agent and agent.entrypoint else LLM_MODE)
        if mode == AGENT_MODE:
            if agent is None:
                raise ReplayInputError(
                    f"trace {trace_id} has no agent run (no @tracer.agent span); "
                    "replay its LLM calls with --mode llm"
                )
            modules = self._modules(agent.entrypoint)
            spec = self.options.entrypoint or agent.entrypoint
            fn = self.entrypoint(spec) if spec else None  # imported before decoding: its types
            arguments, why = recorded_arguments(agent, modules)
            if fn is None:
                why = "no entry point recorded; pass --entrypoint module:function"
            elif arguments is not None:
                return self._agent(recorded, agent, fn, arguments, modules)
            if self.options.mode == AGENT_MODE:
                raise ReplayInputError(_no_content(recorded, f"agent {agent.name}: {why}"))
            result = TraceResult(recorded.trace_id, LLM_MODE)
            result.not_replayed.append({"step": f"agent {agent.name}", "reason": why})
            return self._llm(recorded, result)
        return self._llm(recorded, TraceResult(recorded.trace_id, LLM_MODE))

    def _modules(self, recorded_entrypoint: str) -> dict[str, str]:
        """Recorded module -> module replayed, when ``--entrypoint`` names another module
        (a script's ``__main__``): the classes recorded in it are looked up in the other."""
        given = self.options.entrypoint
        if not given or not recorded_entrypoint:
            return {}
        before, after = recorded_entrypoint.partition(":")[0], given.partition(":")[0]
        return {before: after} if before != after else {}

    def _agent(
        self,
        recorded: TraceTree,
        agent: Step,
        fn: EntryPoint,
        arguments: dict[str, Any],
        modules: dict[str, str],
    ) -> TraceResult:
        result = TraceResult(recorded.trace_id, AGENT_MODE)
        book = SkillBook.from_steps(recorded.of_kind(SKILL), self.options.policy, modules)
        for entries in book.recorded.values():
            for entry in entries:
                if entry.unusable:
                    step = f"skill {entry.step.name} ({entry.step.span_id})"
                    result.not_replayed.append({"step": step, "reason": entry.unusable})
        hooks = _AgentHooks(self.overrides(recorded.trace_id), book, self.target)
        with self.links.collecting(recorded.trace_id, self.run_id) as bucket, replaying(hooks):
            try:
                call(fn, arguments, self.loops)
            except ReplayDivergence:
                result.status = "stopped"
            except Exception as exc:
                result.status = "error"
                result.errors.append(f"agent {agent.name} raised {_describe(exc)}")
        bucket.wait_closed(_SPANS_TIMEOUT_S)
        replayed = tree_from_spans(bucket.trace_id_hex, bucket.spans)
        compare(result, recorded, replayed, self.prices, book)
        if result.status == "ok" and result.divergences:
            result.status = "diverged"
        return result

    def _llm(self, recorded: TraceTree, result: TraceResult) -> TraceResult:
        calls: list[tuple[Step, dict[str, Any]]] = []
        for step in recorded.of_kind(LLM):
            request, why = recorded_request(step)
            if request is None:
                result.not_replayed.append({"step": f"llm {step.name}", "reason": why})
            else:
                calls.append((step, request))
        if not calls:
            reasons = "; ".join(f"{n['step']}: {n['reason']}" for n in result.not_replayed)
            raise ReplayInputError(_no_content(recorded, reasons or "it has no LLM calls"))
        root = recorded.root
        name = f"replay {root.name if root else recorded.trace_id}"
        with (
            self.links.collecting(recorded.trace_id, self.run_id) as bucket,
            self._otel.start_as_current_span(name),
        ):
            for step, request in calls:
                self._issue(step, request, result)
        bucket.wait_closed(_SPANS_TIMEOUT_S)
        replayed = tree_from_spans(bucket.trace_id_hex, bucket.spans)
        compare(result, recorded, replayed, self.prices, recorded_llm=[s for s, _ in calls])
        if result.errors and result.status == "ok":
            result.status = "error"
        return result

    def _issue(self, step: Step, request: dict[str, Any], result: TraceResult) -> None:
        body = apply_overrides(request, self.overrides(result.trace_id), step.name)
        if body.get("stream") is True:
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        try:
            response = self.target.sync.chat.completions.create(**body)
            if body.get("stream") is True:
                for _ in response:
                    pass
        except (openai.OpenAIError, ValueError, TypeError) as exc:
            result.errors.append(f"llm {step.name}: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    if cause is not None and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    return text


def _no_content(recorded: TraceTree, first: str) -> str:
    """The one-line message for a trace that cannot be replayed, step by step."""
    reasons = [first]
    for step in recorded.steps:
        if step.kind == SKILL and not step.has_content:
            reasons.append(f"skill {step.name}: no recorded arguments or result")
    return (
        f"trace {recorded.trace_id} cannot be replayed: "
        + "; ".join(dict.fromkeys(reasons))
        + ". Record it with content capture on (the default; AGENTFLIGHT_CAPTURE_CONTENT)"
    )
