"""Locust load shapes: a ramp of user-count stages, a replay of a request trace, and the
levels of a capacity search.

Importing this module imports Locust (gevent monkey-patching): use it in a locustfile or in
the Locust worker only. The shapes expose ``stage_index``, the stage now applied, which the
user classes stamp on every request they start.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from locust import LoadTestShape

from loadtest._stages import Stage
from loadtest._trace import Arrival, ArrivalSchedule

__all__ = ["LevelArrivals", "LevelShape", "RampShape", "TraceShape"]


class RampShape(LoadTestShape):
    """``stages`` in order: hold ``users`` users for ``seconds``, then stop.

    Locust calls ``tick`` about once a second, so a stage lasts its length rounded up to the
    next tick; users are started (or stopped) within about a second of a stage's start. In a
    locustfile, subclass it and set ``stages = parse_stages("10:60,25:60")``.
    """

    stages: ClassVar[Sequence[Stage]] = ()

    def __init__(self, stages: Sequence[Stage] | None = None) -> None:
        super().__init__()
        self.plan: list[Stage] = list(stages if stages is not None else type(self).stages)
        if not self.plan:
            raise ValueError("RampShape needs at least one stage")
        self.stage_index: int | None = None
        self._began = 0.0

    def tick(self) -> tuple[int, float] | None:
        # Stages advance one at a time from when each actually began, so none is skipped
        # between two ticks and each lasts at least its length.
        run_time = self.get_run_time()
        if self.stage_index is None:
            self.stage_index, self._began = 0, run_time
        elif run_time - self._began >= self.plan[self.stage_index].seconds:
            if self.stage_index + 1 == len(self.plan):
                return None
            self.stage_index, self._began = self.stage_index + 1, run_time
        users = self.plan[self.stage_index].users
        previous = self.plan[self.stage_index - 1].users if self.stage_index else 0
        # Reach the stage's user count within about a second.
        return users, float(max(abs(users - previous), 1))


class TraceShape(LoadTestShape):
    """Keeps a pool of ``users`` users (``TraceChatUser``) that claim the ``schedule``'s
    arrivals in order and send each when it is due; stops after the last arrival.

    ``stage_index`` is the trace window now being replayed. Size the pool for the peak
    number of requests in flight: an arrival that finds every user busy goes out late.
    """

    def __init__(self, schedule: ArrivalSchedule, users: int) -> None:
        super().__init__()
        self.schedule = schedule
        self.users = max(users, 1)
        self.stage_index: int | None = None

    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        if self.schedule.remaining == 0 and run_time > self.schedule.duration_s:
            return None
        self.stage_index = min(self.schedule.stage_at(run_time), self.schedule.stage_count - 1)
        return self.users, float(self.users)


class LevelArrivals:
    """The arrivals of one request-rate level, due at run times of the shape's clock."""

    def __init__(self, arrivals: Sequence[Arrival]) -> None:
        self.arrivals = list(arrivals)
        self._next = 0

    def claim(self) -> Arrival | None:
        if self._next >= len(self.arrivals):
            return None
        arrival = self.arrivals[self._next]
        self._next += 1
        return arrival


class LevelShape(LoadTestShape):
    """A capacity search's levels, set by the controller while the test runs.

    :meth:`start_level` asks for ``users`` users (a concurrency level, each user sending
    back to back) or a pool of ``users`` users sending ``arrivals`` when due (a rate level,
    with ``TraceChatUser``); Locust applies it at its next tick (within a second), and
    ``applied_at`` says when. :meth:`pause` stops sending; :meth:`finish` ends the run.
    """

    pausable = True
    """Users waiting to send an arrival drop it when :meth:`pause` swaps the schedule."""

    def __init__(self) -> None:
        super().__init__()
        self.stage_index: int | None = None
        self.schedule: LevelArrivals | None = None
        self.users = 0
        self.applied_at: float | None = None
        self._pending: tuple[int, int, list[float] | None, Arrival | None] | None = None
        self._most_users = 0
        self._done = False

    def start_level(
        self,
        index: int,
        users: int,
        offsets_s: list[float] | None = None,
        template: Arrival | None = None,
    ) -> None:
        """Apply a level at the next tick; ``offsets_s`` (seconds after it is applied) and
        ``template`` (the request) make it a rate level."""
        self.applied_at = None
        self._pending = (index, users, offsets_s, template)

    def pause(self) -> None:
        """No new requests: a rate level's arrivals not sent yet are dropped, and the users
        stopped at the next tick (their requests in flight finish). Requests started from
        now on belong to no level."""
        self._pending = None
        self.schedule = None
        self.stage_index = None
        self.users = 0

    def finish(self) -> None:
        self._done = True

    def tick(self) -> tuple[int, float] | None:
        if self._done:
            return None
        if self._pending is not None:
            index, users, offsets, template = self._pending
            self._pending = None
            now = self.get_run_time()
            if offsets is not None and template is not None:
                self.schedule = LevelArrivals(
                    [
                        Arrival(
                            index=i,
                            due_s=now + offset,
                            stage=index,
                            prompt_tokens=template.prompt_tokens,
                            output_tokens=template.output_tokens,
                            model=template.model,
                        )
                        for i, offset in enumerate(offsets)
                    ]
                )
            self.stage_index, self.users = index, users
            self.applied_at = time.time()
            self._most_users = max(self._most_users, users)
        # Start (or stop) a level's users within a tenth of a second.
        return self.users, float(max(self._most_users, 1) * 10)
