"""Running the simulator: bind first (port 0 works), say where, then serve with uvicorn,
in the foreground (the command) or on a background thread (tests, demos)."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from loadtest._profiles import SimulatorProfile
from loadtest._timeline import SimulatedDrop

__all__ = ["raise_open_file_limit", "running_simulator", "serve"]


class _HideSimulatedDrops(logging.Filter):
    """uvicorn logs an app error with a traceback when the app aborts a connection: that is
    the point of drop injection, so keep it out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, SimulatedDrop):
                return False
            if isinstance(exc, BaseExceptionGroup) and any(
                isinstance(e, SimulatedDrop) for e in exc.exceptions
            ):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def raise_open_file_limit(wanted: int = 65536) -> None:
    """Lift the soft open-file limit towards ``wanted``: every open stream is a socket."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):  # else keep the soft limit we have
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _bind(host: str, port: int) -> tuple[socket.socket, str]:
    """A listening socket and the base URL it serves (``http://HOST:PORT/v1``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(4096)
    sock.setblocking(False)
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host
    return sock, f"http://{shown_host}:{sock.getsockname()[1]}/v1"


def _server(profile: SimulatorProfile | None, seed: int | None, log_level: str) -> Any:
    import uvicorn

    from loadtest._simulator import create_app

    logging.getLogger("uvicorn.error").addFilter(_HideSimulatedDrops())
    config = uvicorn.Config(
        create_app(profile, seed),
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        backlog=4096,
    )
    return uvicorn.Server(config)


def serve(
    profile: SimulatorProfile | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    seed: int | None = None,
    log_level: str = "warning",
    on_ready: Callable[[str], Any] | None = None,
) -> None:
    """Serve the simulator until interrupted (SIGINT/SIGTERM).

    ``on_ready`` receives the base URL (``http://HOST:PORT/v1``) once the socket listens;
    with ``port=0`` that is how callers learn the port. By default the URL is printed.
    """
    raise_open_file_limit()
    sock, url = _bind(host, port)
    server = _server(profile, seed, log_level)
    if on_ready is None:
        print(f"agentflight LLM simulator listening on {url}", flush=True)
    else:
        on_ready(url)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        sys.stdout.flush()


@contextmanager
def running_simulator(
    profile: SimulatorProfile | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int | None = None,
    log_level: str = "warning",
) -> Iterator[str]:
    """Run the simulator on a background thread (its own event loop) for the block; yields
    its base URL. For tests and demos that want a model server without a subprocess::

        with loadtest.running_simulator(seed=1) as url:
            client = openai.OpenAI(base_url=url, api_key="unused")
    """
    sock, url = _bind(host, port)
    server = _server(profile, seed, log_level)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="agentflight-simulator", daemon=True
    )
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the simulator stopped while starting; see its log")
            time.sleep(0.005)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
