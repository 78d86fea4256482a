"""The OpenAI-compatible LLM simulator: a FastAPI app on uvicorn, all asyncio.

Routes:

- ``POST /v1/chat/completions``, streamed (SSE) or not, timed by the capacity model;
- ``GET /v1/models`` and ``GET /v1/models/{id}``;
- ``GET /simulator/requests?since=SEQ&limit=N``: the simulator's own record of each request
  (arrival, admission, when the first content chunk was sent, end, outcome);
- ``GET /simulator/state``: batch occupancy and queue length per model;
- ``GET /health``.

Every response carries ``x-request-id``, the key into ``/simulator/requests``.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from loadtest._completions import Plan, RequestError, plan_request
from loadtest._profiles import SimulatorProfile
from loadtest._scheduler import BatchScheduler, Lease
from loadtest._timeline import (
    PREFILL_DONE,
    RequestRecord,
    ServerTimeout,
    SimulatedDrop,
    Timeline,
)
from loadtest._wire import DONE, ChunkWriter, completion_body, error_body, sse

__all__ = ["SimulatorState", "create_app"]

RECORDS_KEPT = 100_000


class SimulatorState:
    """Schedulers per model, the request counter and the ring of request records."""

    def __init__(self, profile: SimulatorProfile, seed: int | None) -> None:
        self.profile = profile
        self.seed = seed
        self.schedulers: dict[str, BatchScheduler] = {}
        self.seq = 0
        self.records: deque[RequestRecord] = deque(maxlen=RECORDS_KEPT)
        self.started = int(time.time())

    def scheduler(self, model: str) -> BatchScheduler:
        scheduler = self.schedulers.get(model)
        if scheduler is None:
            scheduler = BatchScheduler(self.profile.for_model(model).max_batch)
            self.schedulers[model] = scheduler
        return scheduler

    def rng(self, seq: int, body: dict[str, Any]) -> random.Random:
        """Per-request randomness: from the server seed and the arrival number, or from the
        request's own ``seed`` and messages (then independent of arrival order)."""
        own = body.get("seed")
        if isinstance(own, int) and not isinstance(own, bool):
            digest = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode())
            return random.Random(f"{self.seed}:{own}:{digest.hexdigest()}")
        if self.seed is None:
            return random.Random()
        return random.Random(f"{self.seed}:{seq}")

    def finish(self, record: RequestRecord, status: str, http_status: int = 200) -> None:
        if record._done:
            return
        record._done = True
        record.status = status
        record.http_status = http_status
        record.finished_at = time.time()
        self.records.append(record)


class _LeasedStream(StreamingResponse):
    """A stream that gives its batch slot back however the response ends."""

    def __init__(
        self, body: AsyncIterator[bytes], lease: Lease, state: SimulatorState, record: RequestRecord
    ) -> None:
        super().__init__(body, media_type="text/event-stream", headers={"x-request-id": record.id})
        self._lease = lease
        self._state = state
        self._record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._lease.release()
            self._state.finish(self._record, "disconnected")


def _error(
    status: int, message: str, kind: str, record_id: str, code: str | None = None
) -> Response:
    return JSONResponse(
        error_body(message, kind, code), status_code=status, headers={"x-request-id": record_id}
    )


async def _stream(
    timeline: Timeline, plan: Plan, writer: ChunkWriter, state: SimulatorState
) -> AsyncIterator[bytes]:
    record = timeline.record
    try:
        async for index in timeline.run():
            yield writer.role() if index == PREFILL_DONE else writer.piece(index)
        yield writer.finish()
        if plan.include_usage:
            yield writer.usage()
        yield DONE
        state.finish(record, "ok")
    except ServerTimeout:
        state.finish(record, "timeout", 504)
        yield sse(error_body("the simulator's server timeout passed", "server_error", "timeout"))
    except SimulatedDrop:
        state.finish(record, "dropped")
        raise
    finally:
        timeline.lease.release()


def create_app(profile: SimulatorProfile | None = None, seed: int | None = None) -> FastAPI:
    """The simulator as an ASGI app (serve it with uvicorn, or see :func:`loadtest.serve`)."""
    state = SimulatorState(profile or SimulatorProfile(), seed)
    app = FastAPI(title="agentflight LLM simulator", docs_url=None, redoc_url=None)
    app.state.simulator = state

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        received = time.time()
        start = time.monotonic()
        state.seq += 1
        seq = state.seq
        request_id = f"chatcmpl-sim{seq:012d}"
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(
                400, "the request body is not valid JSON", "invalid_request_error", request_id
            )
        model = body.get("model") if isinstance(body, dict) else None
        capacity = state.profile.for_model(model if isinstance(model, str) else "")
        try:
            plan = plan_request(
                body, capacity, state.rng(seq, body), request_id=request_id, seed=state.seed
            )
        except RequestError as exc:
            return _error(400, str(exc), "invalid_request_error", request_id)
        record = RequestRecord(
            seq=seq,
            id=request_id,
            model=plan.model,
            stream=plan.stream,
            received_at=received,
            prompt_tokens=plan.prompt_tokens,
            completion_tokens=plan.completion_tokens,
            reasoning_tokens=plan.reasoning_tokens,
        )
        if plan.fail_status is not None:
            state.finish(record, "error", plan.fail_status)
            return _error(plan.fail_status, "simulated server error", "server_error", request_id)

        deadline = start + capacity.server_timeout_s if capacity.server_timeout_s > 0 else None
        scheduler = state.scheduler(plan.model)
        lease = await scheduler.acquire(None if deadline is None else deadline - time.monotonic())
        if lease is None:
            state.finish(record, "timeout", 504)
            return _error(
                504, "timed out waiting for a batch slot", "server_error", request_id, "timeout"
            )
        record.admitted_at = time.time()
        record.batch_size = scheduler.running
        timeline = Timeline(plan, capacity, scheduler, lease, record, deadline)
        if plan.stream:
            writer = ChunkWriter(plan, request_id, int(received))
            return _LeasedStream(_stream(timeline, plan, writer, state), lease, state, record)
        try:
            async for _ in timeline.run():
                pass
        except ServerTimeout:
            state.finish(record, "timeout", 504)
            return _error(
                504, "the simulator's server timeout passed", "server_error", request_id, "timeout"
            )
        except SimulatedDrop:
            state.finish(record, "dropped")
            return _DroppedResponse()
        finally:
            lease.release()
        state.finish(record, "ok")
        return JSONResponse(
            completion_body(plan, request_id, int(received)), headers={"x-request-id": request_id}
        )

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        names = sorted(set(state.profile.model_names()) | set(state.schedulers))
        return {"object": "list", "data": [_model(name, state.started) for name in names]}

    @app.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str) -> dict[str, Any]:
        return _model(model_id, state.started)

    @app.get("/simulator/requests")
    async def requests(since: int = 0, limit: int = RECORDS_KEPT) -> dict[str, Any]:
        rows = [r.to_json() for r in state.records if r.seq > since]
        rows.sort(key=lambda row: row["seq"])
        return {"requests": rows[:limit]}

    @app.get("/simulator/state")
    async def simulator_state() -> dict[str, Any]:
        return {
            "requests": state.seq,
            "seed": state.seed,
            "models": {
                name: {"running": s.running, "queued": s.queued, "max_batch": s.max_batch}
                for name, s in sorted(state.schedulers.items())
            },
        }

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


class _DroppedResponse(Response):
    """Promises a body, then aborts the connection without sending it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"512")]}
        )
        raise SimulatedDrop


def _model(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "agentflight-simulator"}
