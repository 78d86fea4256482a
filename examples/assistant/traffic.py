"""Traffic for the demo: arrivals from a real trace, time-compressed, rising in steps.

The arrival gaps come from a shipped sample of Azure's production LLM trace (600 requests of
a conversational service, CC-BY 4.0, see data/README.md), rescaled so that stage ``k`` of the
ramp runs at ``base_rate x multiplier[k]`` assistant runs per second. Each arrival runs the
assistant in a worker thread (an open loop: arrivals do not wait for earlier answers, so
latency grows with load as it does in production); past ``max_inflight`` runs, arrivals are
shed and counted.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources

__all__ = ["Behaviour", "Ramp", "Tally", "arrival_offsets", "questions", "run_traffic"]

TOPICS = ("python", "kubernetes", "machine learning", "security", "databases", "observability",
          "llm serving", "data engineering", "frontend", "compilers")  # fmt: skip
CITIES = ("Berlin", "London", "Paris", "Lisbon", "Remote", "Zurich")
TEMPLATES = (
    "Which {topic} roles in {city} fit a senior engineer?",
    "Am I a good fit for a staff {topic} job in {city}?",
    "What are the key takeaways from {name}'s latest post?",
    "Summarise what {name} wrote about {topic}.",
    "What is new in {topic} this year?",
    "Explain {topic} to a hiring manager in two sentences.",
    "Who in {city} knows {topic} well?",
    "What's the weather like on Mars today?",
)
NAMES = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Barbara Liskov", "Ken Thompson",
         "Radia Perlman", "Margaret Hamilton", "Leslie Lamport")  # fmt: skip


@dataclass(frozen=True)
class Behaviour:
    """What this user does: stop reading after ``patience`` chunks, or regenerate."""

    patience: int | None = None
    regenerate: bool = False


@dataclass(frozen=True)
class Ramp:
    base_rate: float = 0.6  # assistant runs per second at multiplier 1
    multipliers: tuple[float, ...] = (1.0, 2.0, 4.0, 6.0)
    stage_seconds: float = 30.0


@dataclass
class Tally:
    started: int = 0
    finished: int = 0
    failed: int = 0
    shed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


def _trace_gaps() -> list[float]:
    text = resources.files("examples.assistant").joinpath("data", "arrivals.csv").read_text()
    times = [
        dt.datetime.fromisoformat(row["TIMESTAMP"][:26]).timestamp()
        for row in csv.DictReader(text.splitlines())
    ]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return [g for g in gaps if g >= 0]


def arrival_offsets(ramp: Ramp, duration_s: float | None) -> Iterator[tuple[float, int]]:
    """``(seconds from start, stage index)`` of each arrival; the ramp repeats until the end."""
    gaps = _trace_gaps()
    trace_rate = len(gaps) / sum(gaps)  # the sample's own mean arrival rate
    now, i = 0.0, 0
    while duration_s is None or now < duration_s:
        stage = int(now // ramp.stage_seconds) % len(ramp.multipliers)
        rate = ramp.base_rate * ramp.multipliers[stage]
        now += gaps[i % len(gaps)] * trace_rate / rate
        i += 1
        if duration_s is None or now < duration_s:
            yield now, stage


def questions(rng: random.Random) -> Iterator[tuple[str, Behaviour]]:
    """Questions with the user's behaviour: some abandon the answer, some regenerate it."""
    while True:
        template = rng.choice(TEMPLATES)
        question = template.format(
            topic=rng.choice(TOPICS), city=rng.choice(CITIES), name=rng.choice(NAMES)
        )
        roll = rng.random()
        if roll < 0.10:
            yield question, Behaviour(patience=rng.randint(4, 30))
        elif roll < 0.16:
            yield question, Behaviour(regenerate=True)
        else:
            yield question, Behaviour()


def run_traffic(
    run: Callable[[str, Behaviour], object],
    ramp: Ramp,
    duration_s: float | None,
    stop: threading.Event,
    *,
    seed: int = 1,
    max_inflight: int = 48,
    report: Callable[[str], None] = print,
    report_every_s: float = 10.0,
) -> Tally:
    """Run the assistant at the ramp's arrivals until ``duration_s`` or ``stop``."""
    rng = random.Random(seed)
    asked = questions(rng)
    tally = Tally()
    inflight = threading.Semaphore(max_inflight)
    started = time.monotonic()
    next_report = report_every_s

    def one(question: str, behaviour: Behaviour) -> None:
        try:
            run(question, behaviour)
            tally.add("finished")
        except Exception:  # recorded on the spans; the demo keeps going
            tally.add("failed")
        finally:
            inflight.release()

    with ThreadPoolExecutor(max_inflight, thread_name_prefix="assistant") as pool:
        for offset, stage in arrival_offsets(ramp, duration_s):
            if stop.wait(max(0.0, started + offset - time.monotonic())):
                break
            if offset >= next_report:
                report(
                    f"traffic: stage {stage + 1}/{len(ramp.multipliers)} "
                    f"({ramp.base_rate * ramp.multipliers[stage]:.1f} runs/s): "
                    f"{tally.started} started, {tally.finished} answered, "
                    f"{tally.failed} failed, {tally.shed} shed"
                )
                next_report += report_every_s
            if not inflight.acquire(blocking=False):
                tally.add("shed")
                continue
            tally.add("started")
            question, behaviour = next(asked)
            pool.submit(one, question, behaviour)
    return tally
