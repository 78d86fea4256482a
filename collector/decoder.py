"""Where request bodies are decoded: threads of the collector, or worker processes.

Decoding and mapping spans is CPU work in Python. In threads (``decode_processes = 0``, the
default) it shares one core with everything else in the collector; with worker processes it
runs on several cores and only the Arrow table comes back. Either way at most ``slots``
requests are being read and decoded at once, which bounds the memory they use, and at most
``WAITING_PER_SLOT`` times as many wait for a slot: past that, a request is answered 503 with
``Retry-After`` at once (the collector is CPU-bound), rather than waiting for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from collector.mapping import TimeWindow
from collector.otlp import DecodedRequest, Encoding, OTLPError, decode_request

__all__ = ["GC_THRESHOLDS", "Decoder", "collect_cycles_less_often"]

log = logging.getLogger("agentflight.collector.decoder")

WAITING_PER_SLOT = 4
BUSY_RETRY_S = 1
GC_THRESHOLDS = (50_000, 20, 100)  # CPython's defaults: (700, 10, 10)


def collect_cycles_less_often() -> None:
    """Raise CPython's cyclic garbage collector thresholds to :data:`GC_THRESHOLDS`, for the
    processes that decode requests: ``agentflight serve`` and its decoding workers.

    One OTLP/JSON request of 1,000 spans is some 100,000 dicts and lists while it is decoded.
    With the default thresholds the collector went over them again and again: about a third
    of OTLP/JSON's CPU in ``bench_collector.py``. Reference counting frees them either way; only
    garbage in reference cycles waits longer for a collection.
    """
    gc.set_threshold(*GC_THRESHOLDS)


def _worker_init() -> None:
    # Ctrl-C reaches the whole process group: the collector decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    collect_cycles_less_often()


class Decoder:
    def __init__(
        self,
        processes: int,
        max_body_bytes: int,
        window: Callable[[int], TimeWindow] | None = None,
        server_side: bool = False,
    ) -> None:
        self.processes = processes
        self.server_side = server_side  # leave what ClickHouse can map to ClickHouse
        self.max_body_bytes = max_body_bytes
        self.slots = max(4, 2 * processes)
        self._window = window  # the accepted span times, given the time a request arrived
        self._executor = self._new_executor()
        self._lock = threading.Lock()
        self.restarts = 0  # how many times broken workers were replaced
        self._semaphore: asyncio.Semaphore | None = None
        self.waiting = 0  # requests waiting for a slot (only touched in the server's loop)

    def _new_executor(self) -> Executor:
        if self.processes > 0:
            # spawn: the collector has threads, and forking a threaded process is unsafe
            context = multiprocessing.get_context("spawn")
            return ProcessPoolExecutor(self.processes, mp_context=context, initializer=_worker_init)
        return ThreadPoolExecutor(self.slots, thread_name_prefix="otlp-decode")

    def start(self) -> None:
        """Start the worker processes now rather than on the first requests."""
        empty = (b"", Encoding.PROTOBUF, "identity", None, self.max_body_bytes)
        futures = [self._executor.submit(decode_request, *empty) for _ in range(self.processes)]
        for future in futures:
            future.result()

    @property
    def semaphore(self) -> asyncio.Semaphore:
        """Held while a request's body is read and decoded (created in the server's loop)."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.slots)
        return self._semaphore

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """A decoding slot; 503 + ``Retry-After`` when too many requests already wait."""
        semaphore = self.semaphore
        if semaphore.locked() and self.waiting >= WAITING_PER_SLOT * self.slots:
            raise OTLPError(503, "the collector is busy decoding; retry later", BUSY_RETRY_S)
        self.waiting += 1
        try:
            await semaphore.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            semaphore.release()

    async def decode(
        self, body: bytes, encoding: Encoding, coding: str, project: str | None
    ) -> DecodedRequest:
        loop = asyncio.get_running_loop()
        window = None if self._window is None else self._window(time.time_ns())
        executor = self._executor
        try:
            return await loop.run_in_executor(
                executor,
                decode_request,
                body,
                encoding,
                coding,
                project,
                self.max_body_bytes,
                window,
                self.server_side,
            )
        except BrokenProcessPool:
            self._replace(executor)
            raise OTLPError(503, "the collector is restarting a decoder", 1) from None

    def _replace(self, broken: Executor) -> None:
        """Start new workers once per breakage, however many requests saw it break."""
        with self._lock:
            if self._executor is not broken:
                return  # another request already replaced it
            log.error("a decoding process died; starting new ones")
            self._executor = self._new_executor()
            self.restarts += 1
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
