"""Locust load shapes: a ramp of user-count stages, and a replay of a request trace.

Importing this module imports Locust (gevent monkey-patching): use it in a locustfile or in
the Locust worker only. Both shapes expose ``stage_index``, the stage now applied, which the
user classes stamp on every request they start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from locust import LoadTestShape

from loadtest._stages import Stage
from loadtest._trace import ArrivalSchedule

__all__ = ["RampShape", "TraceShape"]


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
        self.stage_index = min(
            int(run_time // self.schedule.window_s), self.schedule.stage_count - 1
        )
        return self.users, float(self.users)
