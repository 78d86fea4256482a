"""The collector's HTTP application: ``POST /v1/traces``, health, metrics and the read API.

``POST /v1/traces`` follows OTLP/HTTP: protobuf or JSON in, the same encoding out; 200 with
an ``ExportTraceServiceResponse`` (``partial_success`` when spans were refused) once the
request is durable in the spool; otherwise a ``google.rpc.Status`` with 400 (bad body), 401
(key), 408 (body too slow), 413 (too large), 415 (content type or encoding) or 503 (queue or
spool full, shutting down; with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from collector import settings as storage_settings
from collector.auth import Authenticator, AuthError
from collector.config import CollectorSettings
from collector.decoder import Decoder
from collector.metrics import CONTENT_TYPE_LATEST, Metrics
from collector.otlp import (
    Encoding,
    OTLPError,
    content_coding,
    encode_response,
    encode_status,
    request_encoding,
)
from collector.pipeline import Pipeline
from collector.read_api import read_router
from collector.spool import Spool, SpoolError
from collector.store import Store, read_limits

__all__ = ["Collector", "create_app"]

log = logging.getLogger("agentflight.collector")

BODY_TIMEOUT_S = 60.0
CLICKHOUSE_TIMEOUT_S = 60.0  # per request; connecting gives up after 10 s


@dataclass
class Collector:
    """The parts of a running collector (``app.state.collector``)."""

    settings: CollectorSettings
    metrics: Metrics
    pipeline: Pipeline
    decoder: Decoder
    auth: Authenticator
    clickhouse_url: str
    database: str


def _reply_encoding(content_type: str | None) -> Encoding:
    try:
        return request_encoding(content_type)
    except OTLPError:
        return Encoding.JSON  # a client we cannot understand gets readable errors


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise OTLPError(413, f"request body is over the {limit}-byte limit")
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise OTLPError(413, f"request body is over the {limit}-byte limit")
                parts.append(chunk)
    except TimeoutError:
        raise OTLPError(408, f"request body not received within {BODY_TIMEOUT_S:.0f} s") from None
    except ClientDisconnect:
        raise OTLPError(400, "the client went away before sending the whole body") from None
    return b"".join(parts)


def _error(collector: Collector, encoding: Encoding, exc: OTLPError) -> Response:
    collector.metrics.requests.labels(str(exc.status)).inc()
    headers = {}
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(exc.retry_after_s)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return Response(
        encode_status(encoding, exc.status, exc.message),
        status_code=exc.status,
        media_type=encoding.value,
        headers=headers,
    )


async def export_traces(request: Request) -> Response:
    collector: Collector = request.app.state.collector
    encoding = _reply_encoding(request.headers.get("content-type"))
    try:
        try:
            project = collector.auth.project(request.headers)
        except AuthError as exc:
            raise OTLPError(401, str(exc)) from None
        encoding = request_encoding(request.headers.get("content-type"))
        coding = content_coding(request.headers.get("content-encoding"))
        collector.pipeline.check_accepting()
        async with collector.decoder.slot():
            body = await _read_body(request, collector.settings.max_body_bytes)
            decoded = await collector.decoder.decode(body, encoding, coding, project)
            durable = collector.pipeline.submit(decoded, body, project)
        try:
            await asyncio.wrap_future(durable)
        except SpoolError as exc:
            raise OTLPError(503, str(exc), 5) from None
    except OTLPError as exc:
        return _error(collector, encoding, exc)
    spans = decoded.spans
    collector.metrics.requests.labels("200").inc()
    collector.metrics.received.inc(spans.rows + spans.rejected)
    if spans.rejected:
        collector.metrics.rejected.inc(spans.rejected)
    return Response(
        encode_response(encoding, spans.rejected, spans.error_message),
        media_type=encoding.value,
    )


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    collector: Collector = request.app.state.collector
    problem = await run_in_threadpool(collector.pipeline.readiness)
    if problem is None:
        return JSONResponse({"status": "ready", "clickhouse": "reachable"})
    return JSONResponse({"status": "not ready", "reason": problem}, status_code=503)


async def metrics(request: Request) -> Response:
    collector: Collector = request.app.state.collector
    return Response(collector.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug: logged with an id the answer repeats, never a bare traceback to the client."""
    request_id = uuid.uuid4().hex[:16]
    log.error("internal error (request id %s) on %s", request_id, request.url.path, exc_info=exc)
    return JSONResponse(
        {"detail": f"internal error; request id {request_id} is in the collector's log"},
        status_code=500,
    )


def create_app(
    settings: CollectorSettings,
    clickhouse_url: str | None = None,
    database: str | None = None,
) -> FastAPI:
    """The collector as an ASGI app; the spool opens and the inserter starts with its lifespan.

    ``clickhouse_url``/``database`` default to ``AGENTFLIGHT_CLICKHOUSE_URL`` (else the
    embedded server) and ``AGENTFLIGHT_DATABASE``.
    """
    url = storage_settings.resolve_clickhouse_url(clickhouse_url)
    database = storage_settings.database_name(database)
    metrics_ = Metrics()
    connect = partial(Store.connect, url, database=database, timeout_s=CLICKHOUSE_TIMEOUT_S)
    spool = Spool(settings.spool_dir, settings.spool_max_bytes)
    collector = Collector(
        settings=settings,
        metrics=metrics_,
        pipeline=Pipeline(settings, spool, connect, metrics_),
        decoder=Decoder(
            settings.decode_processes,
            settings.max_body_bytes,
            settings.time_window,
            server_side=bool(settings.server_side_mapping),
        ),
        auth=Authenticator(settings.api_keys),
        clickhouse_url=url,
        database=database,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(collector.decoder.start)
        recovered = await run_in_threadpool(collector.pipeline.start)
        if recovered:
            log.warning("replaying %d spans left in the spool by an earlier run", recovered)
        yield
        collector.decoder.close()
        queued = collector.pipeline.queued_rows
        if queued:
            log.info("inserting the %d spans still queued before exiting", queued)
        drained = await run_in_threadpool(collector.pipeline.close, settings.shutdown_timeout_s)
        if not drained:
            log.warning(
                "ClickHouse did not take everything within %.0f s; %d spans stay in the spool "
                "%s and are inserted at the next start",
                settings.shutdown_timeout_s,
                collector.pipeline.queued_rows,
                settings.spool_dir,
            )

    app = FastAPI(
        title="agentflight collector",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.collector = collector
    app.add_api_route("/v1/traces", export_traces, methods=["POST"])
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/readyz", readyz, methods=["GET"])
    app.add_api_route("/metrics", metrics, methods=["GET"])
    limits = read_limits(settings.read_max_rows, settings.read_timeout_s)
    app.include_router(read_router(lambda: collector.pipeline.store(), collector.auth, limits))
    app.add_exception_handler(Exception, _internal_error)
    return app
