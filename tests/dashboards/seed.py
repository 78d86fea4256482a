"""A realistic, fully known dataset for the dashboard tests, written to ``otel_traces`` (the
views fill ``genai_spans``). Every time is in the past: the newest span ends a minute ago.

- project ``p1``, service ``assistant``, the last 45 minutes: agent runs in bursts of ``c``
  simultaneous runs of one agent (``c`` rising 1..8, so each call's concurrency is ``c``),
  each a route, a skill and a streamed chat call whose TTFT and TBT grow with ``c``; agent
  ``general`` calls ``gpt-4o-mini``, agent ``job_fit`` (tight deadline) calls ``gpt-4o``
  with reasoning tokens; waste marks (retried, truncated, abandoned, parse_error) and errors
  on a fixed schedule. The hour before: lighter bursts (``c`` up to 3).
- project ``p2``, service ``billing``: a few ``claude-3-5-haiku`` calls, for scoping.
- load-test run ``lt-1``: bursts of 10..20 ``gpt-4o-mini`` calls.
- :data:`TRACE_ID`: one hand-made trace for the waterfall, with known TTFTs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from collector import Store
from loadtest import save_run
from tests.analytics.synth import (
    Span,
    agent_attrs,
    insert,
    llm_attrs,
    new_id,
    route_attrs,
    skill_attrs,
)
from tracer import semconv

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
LOADTEST_RUN = "lt-1"
DEADLINES = {"general": 8000.0, "job_fit": 2600.0}
MODELS = {"general": "gpt-4o-mini", "job_fit": "gpt-4o"}
# TTFT = a + b * concurrency, gap = g + h * concurrency (ms)
LAWS = {"gpt-4o-mini": (150.0, 40.0, 10.0, 2.0), "gpt-4o": (300.0, 80.0, 14.0, 3.0)}


@dataclass
class Known:
    """What the seeded data holds, for assertions."""

    now: datetime
    # Counted from the spans written, for production spans of the last hour:
    calls: dict[tuple[str, str], int] = field(default_factory=dict)  # (project, model) -> calls
    runs: dict[str, int] = field(default_factory=dict)  # agent -> runs
    timed_out: dict[str, int] = field(default_factory=dict)  # agent -> runs over the deadline
    waste: dict[str, int] = field(default_factory=dict)  # cause -> wasted tokens
    # The hour before the last one: lighter traffic, for "against the previous window".
    earlier_calls: dict[tuple[str, str], int] = field(default_factory=dict)
    # The waterfall trace: (span name, offset ms, duration ms, ttft ms or None), in start order.
    waterfall: list[tuple[str, float, float, float | None]] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)

    def production_calls(self, project: str | None = None, model: str | None = None) -> int:
        return sum(
            n
            for (p, m), n in self.calls.items()
            if (project is None or p == project) and (model is None or m == model)
        )


def _chat(
    trace: str,
    start: datetime,
    model: str,
    c: int,
    i: int,
    parent: str,
    *,
    project: str = "p1",
    service: str = "assistant",
    loadtest_run: str | None = None,
    rng: np.random.Generator,
) -> Span:
    a, b, g, h = LAWS.get(model, (200.0, 20.0, 12.0, 1.0))
    tokens = int(rng.integers(30, 60))
    ttft = a + b * c + float(rng.normal(0, 5))
    gaps = np.abs(rng.normal(g + h * c, 1.0, size=tokens - 1)) + 0.5
    waste = None
    if loadtest_run is None:
        waste = {0: "retried", 3: "truncated", 5: "abandoned", 8: "parse_error"}.get(i % 17)
    return Span(
        trace,
        start,
        ttft + float(gaps.sum()) + 2.0,
        f"chat {model}",
        llm_attrs(
            model,
            ttft_ms=ttft,
            gaps_ms=gaps,
            input_tokens=int(rng.integers(400, 900)),
            output_tokens=tokens + (40 if model == "gpt-4o" else 0),
            reasoning_tokens=40 if model == "gpt-4o" else 0,
            waste=waste,
            loadtest_run=loadtest_run,
            inflight=c,
        ),
        parent=parent,
        status="Error" if i % 13 == 6 else "Unset",
        service=service,
        project=project,
    )


def _runs(base: datetime, bursts: int, top: int, rng: np.random.Generator) -> list[Span]:
    """``bursts`` bursts 20 s apart, each of ``c`` runs of one agent starting together, ``c``
    rising from 1 to ``top``."""
    spans: list[Span] = []
    i = 0
    for burst in range(bursts):
        c = 1 + burst * top // bursts
        start0 = base + timedelta(seconds=20 * burst)
        agent = "job_fit" if burst % 3 == 0 else "general"
        model = MODELS[agent]
        for _ in range(c):
            trace = new_id(32)
            start = start0  # the burst's calls start at one instant: concurrency c each
            chat_start = start + timedelta(milliseconds=260)
            chat = _chat(trace, chat_start, model, c, i, "", rng=rng)
            run = Span(
                trace,
                start,
                260 + chat.duration_ms + 30,
                f"invoke_agent {agent}",
                agent_attrs(agent, timeout_ms=DEADLINES[agent]),
                service="assistant",
            )
            chat.parent = run.span_id
            route = Span(
                trace,
                start + timedelta(milliseconds=5),
                20,
                "route router",
                route_attrs("router", agent),
                parent=run.span_id,
                service="assistant",
            )
            skill_name = "web_search" if i % 4 == 0 else "people_search"
            skill = Span(
                trace,
                start + timedelta(milliseconds=30),
                200 + 10 * c,
                f"execute_tool {skill_name}",
                skill_attrs(skill_name),
                parent=run.span_id,
                service="assistant",
            )
            spans += [run, route, skill, chat]
            i += 1
    return spans


def _other_project(base: datetime, rng: np.random.Generator) -> list[Span]:
    spans = []
    for i in range(30):
        start = base + timedelta(seconds=60 * i)
        spans.append(
            _chat(
                new_id(32),
                start,
                "claude-3-5-haiku",
                1,
                i + 1,
                "",
                project="p2",
                service="billing",
                rng=rng,
            )
        )
    return spans


def _loadtest(base: datetime, rng: np.random.Generator) -> list[Span]:
    spans = []
    for burst in range(20):
        c = 10 + burst // 2
        start = base + timedelta(seconds=30 * burst)
        for _ in range(c):
            spans.append(
                _chat(
                    new_id(32), start, "gpt-4o-mini", c, 1, "", loadtest_run=LOADTEST_RUN, rng=rng
                )
            )
    return spans


def _waterfall(known: Known, start: datetime) -> list[Span]:
    """The hand-made trace: agent run > route, skill, two streamed chat calls."""
    known.messages = [
        {"role": "system", "content": "You match people to jobs."},
        {"role": "user", "content": "Who fits the data engineer role?"},
    ]
    run = Span(
        TRACE_ID,
        start,
        2000,
        "invoke_agent job_fit",
        agent_attrs("job_fit", timeout_ms=2600),
        span_id="a000000000000001",
    )
    run.attrs[semconv.AGENT_INPUT] = json.dumps({"question": "Who fits the data engineer role?"})
    route = Span(
        TRACE_ID,
        start + timedelta(milliseconds=10),
        30,
        "route router",
        route_attrs("router", "job_fit"),
        span_id="a000000000000002",
        parent=run.span_id,
    )
    skill = Span(
        TRACE_ID,
        start + timedelta(milliseconds=50),
        300,
        "execute_tool web_search",
        skill_attrs("web_search"),
        span_id="a000000000000003",
        parent=run.span_id,
    )
    gaps = np.full(40, 18.0)
    first = Span(
        TRACE_ID,
        start + timedelta(milliseconds=400),
        1000,
        "chat gpt-4o-mini",
        llm_attrs("gpt-4o-mini", ttft_ms=230.0, gaps_ms=gaps, input_tokens=812, output_tokens=41),
        span_id="a000000000000004",
        parent=run.span_id,
    )
    first.attrs[semconv.GEN_AI_INPUT_MESSAGES] = json.dumps(known.messages)
    first.attrs[semconv.GEN_AI_OUTPUT_MESSAGES] = json.dumps(
        [{"role": "assistant", "content": "Ada fits: she built the data platform."}]
    )
    second = Span(
        TRACE_ID,
        start + timedelta(milliseconds=1450),
        500,
        "chat gpt-4o",
        llm_attrs("gpt-4o", ttft_ms=180.0, gaps_ms=np.full(12, 25.0), output_tokens=13),
        span_id="a000000000000005",
        parent=run.span_id,
    )
    second.attrs[semconv.GEN_AI_INPUT_MESSAGES] = json.dumps(
        [*known.messages, {"role": "user", "content": "Summarise in one line."}]
    )
    spans = [run, route, skill, first, second]
    for s in spans:
        s.service = "assistant"
    known.waterfall = [
        (s.name, (s.start - start).total_seconds() * 1000, s.duration_ms, ttft)
        for s, ttft in zip(spans, (None, None, None, 230.0, 180.0), strict=True)
    ]
    return spans


def loadtest_report(start: datetime) -> dict[str, Any]:
    """The stored report of run ``lt-1``, as ``agentflight loadtest`` writes it."""
    stages = []
    for stage, users in enumerate((10, 14, 18), start=1):
        ttft = 150.0 + 40.0 * users
        stages.append(
            {
                "stage": stage,
                "users": users,
                "requests": 20 * users,
                "passed": ttft < 800,
                "ttft_ms": {"p50": ttft - 20, "p95": ttft, "p99": ttft + 10},
                "tbt_ms": {"p50": 10 + 2 * users, "p95": 12 + 2 * users, "p99": 14 + 2 * users},
                "e2e_ms": {"p50": 2000.0, "p95": 2400.0, "p99": 2600.0},
                "error_rate": 0.0,
                "timeout_rate": 0.0,
                "attainment": 1.0 if ttft < 800 else 0.4,
                "goodput_per_s": 3.0,
                "checks": [{"slo": "ttft_p95<800ms", "observed": ttft, "passed": ttft < 800}],
            }
        )
    return {
        "run_id": LOADTEST_RUN,
        "passed": False,
        "capacity_users": 14,
        "started_at": start.timestamp(),
        "duration_s": 600.0,
        "target": "http://127.0.0.1:8000/v1",
        "model": "gpt-4o-mini",
        "shape": "ramp",
        "slo": ["ttft_p95<800ms"],
        "verdict": "breached",
        "exit_code": 1,
        "warnings": [],
        "stages": stages,
    }


def seed(store: Store, now: datetime | None = None) -> Known:
    """Write the dataset; the newest span ends about a minute before ``now``."""
    now = now or datetime.now(UTC)
    known = Known(now=now)
    rng = np.random.default_rng(11)
    base = now - timedelta(minutes=45)
    spans = _runs(base, 120, 8, rng)
    spans += _runs(now - timedelta(minutes=110), 60, 3, rng)
    spans += _other_project(base, rng)
    spans += _loadtest(base + timedelta(minutes=5), rng)
    spans += _waterfall(known, now - timedelta(minutes=3))
    insert(store, spans)
    save_run(store, loadtest_report(base + timedelta(minutes=5)))
    _tally(known, spans)
    return known


def _add(counts: dict[Any, int], key: Any, n: int = 1) -> None:
    counts[key] = counts.get(key, 0) + n


def _tally(known: Known, spans: list[Span]) -> None:
    """What the figures of the last hour (and the hour before) must show, from the spans."""
    hour = timedelta(hours=1)
    for span in spans:
        a = span.attrs
        if a.get(semconv.LOADTEST_RUN_ID):
            continue
        age = known.now - span.start
        model = a.get(semconv.GEN_AI_REQUEST_MODEL)
        if model and age > hour:
            _add(known.earlier_calls, (span.project, model))
        if age > hour:
            continue
        if model:
            _add(known.calls, (span.project, model))
            cause = a.get(semconv.WASTE_CAUSE)
            if cause:
                _add(known.waste, cause, int(a[semconv.GEN_AI_USAGE_OUTPUT_TOKENS]))
            elif a.get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS):
                _add(known.waste, "reasoning", int(a[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS]))
        agent = a.get(semconv.GEN_AI_AGENT_NAME)
        if agent:
            _add(known.runs, agent)
            if span.duration_ms > float(a[semconv.AGENT_TIMEOUT_MS]):
                _add(known.timed_out, agent)
