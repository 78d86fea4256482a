"""Start, inspect and stop the embedded ClickHouse server (a real server, in a child process).

The server is bound to 127.0.0.1 only and answers only requests that carry the data
directory's secret (generated at first start, kept in ``<data_dir>/.agentflight/secret``,
readable by its owner only); :attr:`ServerInfo.dsn` carries it to clients, :attr:`ServerInfo.url`
is the same address without it, for display. One server runs per data directory; its pid and
port are kept in ``<data_dir>/.agentflight/server.json`` while it runs.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from collector._access import USER
from collector.errors import EmbeddedServerError

__all__ = ["ServerInfo", "default_data_dir", "start", "status", "stop"]

DATA_DIR_ENV = "AGENTFLIGHT_DATA_DIR"
RUN_SUBDIR = ".agentflight"
LOG_FILE = "server.log"
STATE_FILE = "server.json"
SECRET_FILE = "secret"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ServerInfo:
    """A running embedded server."""

    pid: int
    port: int
    data_dir: Path
    secret: str = field(default="", repr=False)

    @property
    def url(self) -> str:
        """The server's address, without the secret: the one to print."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def dsn(self) -> str:
        """The URL clients connect with (``curl``, ``clickhouse_connect.get_client(dsn=...)``)."""
        return f"http://{USER}:{self.secret}@127.0.0.1:{self.port}"


def default_data_dir() -> Path:
    """``$AGENTFLIGHT_DATA_DIR``, else ``~/.agentflight/clickhouse``."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".agentflight" / "clickhouse"


def _run_dir(data_dir: Path) -> Path:
    return data_dir / RUN_SUBDIR


def _ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) and make it accessible to its owner only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def _read_secret(run_dir: Path) -> str:
    try:
        return (run_dir / SECRET_FILE).read_text().strip()
    except OSError:
        return ""


def _ensure_secret(run_dir: Path) -> str:
    """The data directory's secret, generated (0600) at first start."""
    path = run_dir / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        secret = _read_secret(run_dir)
        if len(secret) >= 32:
            return secret
        path.unlink()  # empty or damaged: a new one
        return _ensure_secret(run_dir)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32) + "\n")
    return _read_secret(run_dir)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ping(port: int, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def status(data_dir: Path | None = None) -> ServerInfo | None:
    """The server running on ``data_dir``, or None. Clears a stale state file."""
    data_dir = (data_dir or default_data_dir()).expanduser().resolve()
    state_path = _run_dir(data_dir) / STATE_FILE
    try:
        state = json.loads(state_path.read_text())
        info = ServerInfo(
            pid=int(state["pid"]),
            port=int(state["port"]),
            data_dir=data_dir,
            secret=_read_secret(_run_dir(data_dir)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if _pid_alive(info.pid) and _ping(info.port):
        return info
    if not _pid_alive(info.pid):
        state_path.unlink(missing_ok=True)
        return None
    return info if _ping(info.port, timeout=3.0) else None


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start(data_dir: Path | None = None, port: int = 8123) -> tuple[ServerInfo, bool]:
    """Start the server on ``data_dir`` unless one already runs there.

    Returns ``(info, started)``; ``started`` is False when a server was already running.
    Raises :class:`EmbeddedServerError` with the server's own words when it cannot start.
    """
    data_dir = (data_dir or default_data_dir()).expanduser().resolve()
    running = status(data_dir)
    if running is not None:
        return running, False
    if not 0 <= port <= 65535:
        raise EmbeddedServerError(f"port {port} is out of range 0-65535")
    if not data_dir.exists():
        _ensure_private_dir(data_dir)  # spans are content: not for other local users
    run_dir = _run_dir(data_dir)
    _ensure_private_dir(run_dir)
    _ensure_secret(run_dir)
    (run_dir / STATE_FILE).unlink(missing_ok=True)
    log_path = run_dir / LOG_FILE
    with open(log_path, "ab") as log:
        launcher = subprocess.run(
            [
                sys.executable,
                "-m",
                "collector._server_main",
                "--data-dir",
                str(data_dir),
                "--run-dir",
                str(run_dir),
                "--port",
                str(port),
                "--state-file",
                STATE_FILE,
                "--secret-file",
                SECRET_FILE,
                "--timeout",
                str(START_TIMEOUT_S),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    tail = _log_tail(log_path)
    if launcher.returncode != 0:
        if "Cannot lock file" in tail:
            raise EmbeddedServerError(
                f"another ClickHouse process holds {data_dir}; stop it first "
                f"(`agentflight db stop --data-dir {data_dir}`)"
            )
        if "Address already in use" in tail:
            raise EmbeddedServerError(
                f"port {port} is already in use on 127.0.0.1; pick another with --port "
                "(0 picks a free one)"
            )
        raise EmbeddedServerError(
            f"embedded ClickHouse failed to start (exit {launcher.returncode}); "
            f"log {log_path}:\n{tail}"
        )
    info = status(data_dir)
    if info is None:
        raise EmbeddedServerError(
            f"embedded ClickHouse started but does not answer /ping; log {log_path}:\n{tail}"
        )
    return info, True


def stop(data_dir: Path | None = None, timeout: float = STOP_TIMEOUT_S) -> ServerInfo | None:
    """Stop the server on ``data_dir``; return what was stopped, or None if none ran."""
    data_dir = (data_dir or default_data_dir()).expanduser().resolve()
    info = status(data_dir)
    if info is None:
        return None
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(info.pid):
            break
        time.sleep(0.05)
    else:
        os.kill(info.pid, signal.SIGKILL)
    (_run_dir(data_dir) / STATE_FILE).unlink(missing_ok=True)
    return info
