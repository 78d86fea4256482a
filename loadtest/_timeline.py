"""The timing of one admitted request: prefill, hidden reasoning, then visible tokens.

Token times are scheduled against absolute deadlines (``t += tbt``), so event-loop lag does
not accumulate into the stream's rate. Deadlines are on ``time.monotonic()``: uvloop's
``loop.time()`` has millisecond resolution and is cached per loop iteration, which made
streams at a few milliseconds per token fall behind and send tokens in bursts. The
decode-step time is read from the scheduler's current batch size at every step, as a
continuous-batching engine would see it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from loadtest._capacity import Capacity
from loadtest._completions import Plan
from loadtest._scheduler import BatchScheduler, Lease

__all__ = ["PREFILL_DONE", "RequestRecord", "ServerTimeout", "SimulatedDrop", "Timeline"]

PREFILL_DONE = -1


class SimulatedDrop(Exception):
    """Raised to make the server abort the connection (failure injection)."""


class ServerTimeout(Exception):
    """The request outlived the simulator's ``server_timeout_s``."""


@dataclass(slots=True)
class RequestRecord:
    """The simulator's own account of one request; wall-clock times in seconds."""

    seq: int
    id: str
    model: str
    stream: bool
    received_at: float
    status: str = "pending"
    http_status: int = 200
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    admitted_at: float | None = None
    batch_size: int | None = None
    first_chunk_at: float | None = None
    """When the first content-bearing chunk was handed to the server for sending."""
    finished_at: float | None = None
    stalled: bool = False
    _done: bool = field(default=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["_done"]
        for key in ("admitted_at", "first_chunk_at", "finished_at"):
            data[key.replace("_at", "_ms")] = (
                None if data[key] is None else round((data[key] - self.received_at) * 1000, 3)
            )
        data["queue_ms"] = data.pop("admitted_ms")
        data["ttft_ms"] = data.pop("first_chunk_ms")
        data["e2e_ms"] = data.pop("finished_ms")
        return data


class Timeline:
    """Sleeps through one request's generation, yielding the visible-token indexes."""

    def __init__(
        self,
        plan: Plan,
        capacity: Capacity,
        scheduler: BatchScheduler,
        lease: Lease,
        record: RequestRecord,
        deadline: float | None,
    ) -> None:
        self.plan = plan
        self.capacity = capacity
        self.scheduler = scheduler
        self.lease = lease
        self.record = record
        self.deadline = deadline
        """``time.monotonic()`` after which the request fails with :class:`ServerTimeout`."""

    async def _sleep_until(self, when: float) -> None:
        if self.deadline is not None and when > self.deadline:
            await asyncio.sleep(max(self.deadline - time.monotonic(), 0.0))
            raise ServerTimeout
        delay = when - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def run(self) -> AsyncIterator[int]:
        """Yield :data:`PREFILL_DONE`, then each visible token's index when it is due.

        Raises :class:`SimulatedDrop` or :class:`ServerTimeout` as the plan and the clock
        dictate. The batch slot is released after the last token.
        """
        plan, capacity = self.plan, self.capacity
        reasoning = plan.reasoning_tokens
        due = time.monotonic() + capacity.prefill_ms(plan.prompt_tokens) / 1000.0
        await self._sleep_until(due)
        yield PREFILL_DONE
        for step in range(reasoning + len(plan.pieces)):
            if step:
                due += capacity.tbt_ms(self.scheduler.running) / 1000.0
            if step == plan.stall_at:
                due += capacity.stall_ms / 1000.0
                self.record.stalled = True
            await self._sleep_until(due)
            if step == plan.drop_at:
                raise SimulatedDrop
            if step >= reasoning:
                if step == reasoning:
                    self.record.first_chunk_at = time.time()
                yield step - reasoning
        self.lease.release()
