"""Running a capacity search in the Locust worker: measure a level, decide it, pick the next.

Each level is measured on its own: it is applied (:class:`~loadtest.shapes.LevelShape`),
held for ``--level-duration`` (longer, once, when its confidence interval straddles an
objective and a few more requests are likely to decide it; shorter when the requests so far
already miss an objective beyond doubt), then no new request is started
and the level's last requests are waited for (at most ``--timeout`` plus a grace) before it
is decided and the next level begins, so the load of one level never leaks into the next
one's figures.
Concurrency levels are closed loops of that many users; rate levels are Poisson arrivals at
that rate (seeded by the run id, so a run can be repeated), sent by a pool of users sized
for every request in flight to time out.
"""

from __future__ import annotations

import math
import random
import time
from typing import TYPE_CHECKING, Any

import gevent

from loadtest._levels import decide_level
from loadtest._search import Search
from loadtest._stats import StageStats
from loadtest._trace import Arrival
from loadtest.shapes import LevelShape

if TYPE_CHECKING:
    from loadtest._worker import _Run

__all__ = ["MAX_RATE_USERS", "control_search", "poisson_offsets"]

TICK_S = 0.1
PROGRESS_EVERY_S = 0.5
DRAIN_GRACE_S = 2.0
MAX_RATE_USERS = 1000
MAX_EXTENSION = 3.0
"""An undecided level is measured on for at most this many more level durations."""
MIN_LEVEL_S = 1.0
"""A level that already failed beyond doubt ends early, but not before this."""


def poisson_offsets(rate: float, seconds: float, rng: random.Random) -> list[float]:
    """Arrival times of a Poisson process of ``rate`` per second over ``seconds``."""
    offsets: list[float] = []
    moment = rng.expovariate(rate)
    while moment < seconds:
        offsets.append(moment)
        moment += rng.expovariate(rate)
    return offsets


def _wait(state: _Run, shape: LevelShape, index: int, until: float, *, drain: bool = False) -> None:
    """Tick until ``until`` (or, with ``drain``, until no request of the level is in flight
    and a concurrency level's users have stopped), keeping the CPU marks, the peak in flight
    and the progress line."""
    runner = state.env.runner
    assert runner is not None
    stage = state.stats[index]
    last_progress = 0.0
    while True:
        now = time.time()
        state.cpu_marks.append((now, time.process_time()))
        inflight = state.inflight(runner)
        if not drain:
            stage.peak_inflight = max(stage.peak_inflight, sum(inflight.values()))
        drained = not inflight.get(index) and runner.user_count <= shape.users
        if now >= until or (drain and drained):
            return
        if now - last_progress >= PROGRESS_EVERY_S:
            last_progress = now
            state.progress(index, runner, sum(inflight.values()), now)
            if not drain and _failed_already(state, stage, now):
                return
        gevent.sleep(TICK_S)


def _failed_already(state: _Run, stage: StageStats, now: float) -> bool:
    """A level whose requests so far already miss an objective beyond doubt (after
    :data:`MIN_LEVEL_S`) ends early: more of them would not change its verdict."""
    spec = state.plan.search
    assert spec is not None and stage.started_at is not None
    if now - stage.started_at < MIN_LEVEL_S:
        return False
    return decide_level(state.plan.objectives, stage, spec.attainment).verdict == "failed"


def _extension(state: _Run, stage: StageStats) -> float:
    """How much longer to measure a level whose interval straddles an objective: the time
    the requests that would decide it take at the rate measured so far, at most
    :data:`MAX_EXTENSION` level durations; 0 when the level is decided or hopeless."""
    spec = state.plan.search
    assert spec is not None and stage.started_at is not None
    result = decide_level(state.plan.objectives, stage, spec.attainment)
    needed = result.needed_requests
    if result.verdict != "inconclusive" or not needed or not stage.requests:
        return 0.0
    elapsed = max(time.time() - stage.started_at, 1e-3)
    extra_s = (needed - stage.requests) * elapsed / stage.requests
    return extra_s if 0 < extra_s <= MAX_EXTENSION * spec.level_s else 0.0


def control_search(state: _Run, shape: LevelShape, search: Search) -> None:
    """Measure levels until the search is over; each level's report is a stage."""
    plan = state.plan
    spec = search.spec
    options = plan.options
    while (level := search.next_level()) is not None:
        index = len(state.stats)
        offsets = None
        template = None
        if spec.metric == "concurrency":
            users = int(level)
        else:
            rng = random.Random(f"{options.run_id}:{index}:{level}")
            offsets = poisson_offsets(level, spec.level_s, rng)
            users = min(MAX_RATE_USERS, math.ceil(level * plan.timeout_s) + 1)
            template = Arrival(
                index=0,
                due_s=0.0,
                stage=index,
                prompt_tokens=options.prompt_tokens,
                output_tokens=options.max_tokens or 0,
            )
        stage = StageStats(index, users if offsets is None else 0, spec.level_s)
        state.stats[index] = stage
        shape.start_level(index, users, offsets, template)
        while shape.applied_at is None:
            gevent.sleep(TICK_S / 2)
        stage.started_at = shape.applied_at
        _wait(state, shape, index, stage.started_at + spec.level_s)
        extra_s = _extension(state, stage)
        if extra_s:
            stage.planned_s += extra_s
            _wait(state, shape, index, time.time() + extra_s)
        shape.pause()
        stage.ended_at = time.time()
        _wait(state, shape, index, stage.ended_at + plan.timeout_s + DRAIN_GRACE_S, drain=True)
        result = decide_level(plan.objectives, stage, spec.attainment)
        details: dict[str, Any] = {
            "level": level,
            "verdict": result.verdict,
            "level_checks": [check.to_json() for check in result.checks],
            "needed_requests": result.needed_requests,
        }
        if offsets is not None:
            details["rate"] = level
            details["planned_requests"] = len(offsets)
        report = state.evaluate(index, extra=details)
        report["passed"] = result.verdict == "passed"
        search.record(
            level,
            result.verdict,
            {
                "stage": report["stage"],
                "requests": report["requests"],
                "requests_per_s": report["requests_per_s"],
                "attainment": report["attainment"],
                "goodput_per_s": report["goodput_per_s"],
                "needed_requests": result.needed_requests,
                "checks": details["level_checks"],
            },
        )
    shape.finish()
