"""Serving the dashboard: blocking (``agentflight dashboard``) or in a background thread."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

import analytics
from collector import Store
from dashboards._app import DEFAULT_COLLECTOR_URL, DEFAULT_REFRESH_S, create_app
from dashboards._stores import Stores

__all__ = ["RunningDashboard", "running_dashboard", "serve"]


@dataclass(frozen=True)
class RunningDashboard:
    url: str
    """``http://host:port`` with the real port (``port=0`` picks a free one)."""
    host: str
    port: int


def _server(
    host: str,
    port: int,
    store_factory: Callable[[], Store] | None,
    options: dict[str, Any],
) -> tuple[BaseWSGIServer, Stores]:
    app = create_app(store_factory, host=host, **options)
    stores: Stores = app.server.extensions["agentflight"].stores
    # One request per thread: a slow figure never holds up the others.
    return make_server(host, port, app.server, threaded=True), stores


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def serve(
    host: str = "127.0.0.1",
    port: int = 8050,
    *,
    store_factory: Callable[[], Store] | None = None,
    slo: analytics.SLO | str | None = None,
    api_keys: Mapping[str, str] | None = None,
    collector_url: str = DEFAULT_COLLECTOR_URL,
    refresh_s: float = DEFAULT_REFRESH_S,
    replay_target: str = "",
    announce: Callable[[str], None] | None = print,
    stop: threading.Event | None = None,
) -> None:
    """Serve the dashboard until SIGTERM/SIGINT (when called from the main thread) or until
    ``stop`` is set. ``announce`` gets one line with the URL once it listens.

    Raises ValueError for a bad setting (a non-loopback ``host`` without API keys, a bad
    ``slo``) and OSError when the port cannot be bound.
    """
    options: dict[str, Any] = {"slo": slo, "api_keys": api_keys, "collector_url": collector_url}
    options |= {"refresh_s": refresh_s, "replay_target": replay_target}
    server, stores = _server(host, port, store_factory, options)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    down = stores.down()
    done = stop or threading.Event()

    def stop_serving(signum: int, frame: FrameType | None) -> None:
        done.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop_serving)
        signal.signal(signal.SIGINT, stop_serving)

    def stop_when_done() -> None:
        done.wait()
        server.shutdown()

    watcher = threading.Thread(target=stop_when_done, name="dashboard-stop", daemon=True)
    watcher.start()
    if announce is not None:
        announce(f"Dashboard   {_url(host, server.server_port)}/")
        if down is not None:
            announce(f"            the database does not answer yet ({down}); the pages say so")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        done.set()
        server.server_close()
        stores.close()


@contextmanager
def running_dashboard(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    store_factory: Callable[[], Store] | None = None,
    slo: analytics.SLO | str | None = None,
    api_keys: Mapping[str, str] | None = None,
    collector_url: str = DEFAULT_COLLECTOR_URL,
    refresh_s: float = DEFAULT_REFRESH_S,
    replay_target: str = "",
) -> Iterator[RunningDashboard]:
    """The dashboard served from a background thread while the block runs."""
    options: dict[str, Any] = {"slo": slo, "api_keys": api_keys, "collector_url": collector_url}
    options |= {"refresh_s": refresh_s, "replay_target": replay_target}
    server, stores = _server(host, port, store_factory, options)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="dashboard", daemon=True
    )
    thread.start()
    try:
        yield RunningDashboard(_url(host, server.server_port), host, server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        stores.close()
