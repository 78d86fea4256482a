"""A FIFO admission queue in front of a batch of ``max_batch`` slots, on asyncio.

One :class:`BatchScheduler` per simulated model. A request holds a :class:`Lease` from
admission until its last token; the number of leases out is the batch size that sets the
decode-step time. Waiting requests are futures in a deque, never threads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

__all__ = ["BatchScheduler", "Lease"]


class Lease:
    """A batch slot. :meth:`release` is idempotent, so every exit path may call it."""

    __slots__ = ("_released", "_scheduler")

    def __init__(self, scheduler: BatchScheduler) -> None:
        self._scheduler = scheduler
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._scheduler._release()


class BatchScheduler:
    """Admits requests into the batch in arrival order."""

    def __init__(self, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch = max_batch
        self.running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    async def acquire(self, timeout: float | None = None) -> Lease | None:
        """A lease once a slot is free, or ``None`` if ``timeout`` seconds pass first."""
        if self.running < self.max_batch and not self._waiters:
            self.running += 1
            return Lease(self)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            if timeout is None:
                await waiter
            else:
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just as we gave up: pass it on.
                self._release()
            else:
                waiter.cancel()
                self._discard(waiter)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return None
        return Lease(self)

    def _discard(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    def _release(self) -> None:
        """Hand the slot to the oldest live waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.running -= 1
