"""Running the collector: bind, say where it listens, serve under uvicorn, drain on a signal.

SIGTERM or Ctrl-C stops accepting connections, lets in-flight requests finish, inserts what is
queued (up to ``shutdown_timeout_s``; the rest stays in the spool for the next start), and
returns. A second Ctrl-C skips the drain; the spool still has everything.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator

import uvicorn

from collector.app import Collector, create_app
from collector.config import CollectorSettings
from collector.decoder import collect_cycles_less_often

__all__ = ["bind", "run", "serve"]

MAX_CONNECTIONS = 512  # beyond this uvicorn answers 503 (part of the memory bound)


class _Server(uvicorn.Server):
    """uvicorn's server without re-raising the stopping signal: the caller decides what next."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host.strip("[]"), port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock


def _configure_logging() -> None:
    logger = logging.getLogger("agentflight")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)-8s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def run(
    settings: CollectorSettings,
    sock: socket.socket,
    clickhouse_url: str | None = None,
    database: str | None = None,
    started: Callable[[uvicorn.Server], None] | None = None,
) -> None:
    """Serve on ``sock`` until SIGTERM/SIGINT (or ``server.should_exit``)."""
    app = create_app(settings, clickhouse_url, database)
    collector: Collector = app.state.collector
    recovered = collector.pipeline.start()  # spool errors surface here, not inside uvicorn
    if recovered:
        logging.getLogger("agentflight.collector").warning(
            "replaying %d spans left in the spool by an earlier run", recovered
        )
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        limit_concurrency=MAX_CONNECTIONS,
        timeout_graceful_shutdown=max(1, int(settings.shutdown_timeout_s)),
    )
    server = _Server(config)
    if started is not None:
        started(server)
    server.run(sockets=[sock])


def serve(
    settings: CollectorSettings,
    clickhouse_url: str | None = None,
    database: str | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Check the settings, bind, say what runs where, and serve until a signal stops it."""
    settings.check_exposure()
    _configure_logging()
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    app_url = f"http://{shown}:{port}"
    from collector import settings as storage_settings

    url = storage_settings.resolve_clickhouse_url(clickhouse_url)
    db = storage_settings.database_name(database)
    announce(f"agentflight collector listening on {app_url}  (OTLP/HTTP: POST {app_url}/v1/traces)")
    announce(f"  send spans with OTEL_EXPORTER_OTLP_ENDPOINT={app_url}")
    announce(f"  writing to ClickHouse at {_redact(url)}, database '{db}'")
    announce(f"  spool: {settings.spool_dir} (up to {settings.spool_max_bytes // 2**20} MiB)")
    if settings.auth_required:
        projects = sorted(set(settings.api_keys.values()))
        announce(f"  auth: {len(settings.api_keys)} API key(s) for {', '.join(projects)}")
    else:
        announce(
            "  auth: no API keys configured: accepting unauthenticated writes, "
            "on this loopback address only"
        )
    collect_cycles_less_often()  # this process is the collector's own
    run(settings, sock, url, db)
    announce("agentflight collector stopped")


def _redact(url: str) -> str:
    from collector.store import _redact as redact

    return redact(url)
