"""Child process that runs the embedded ClickHouse server from the ``chdb-core`` wheel.

Started by :func:`collector.embedded.start` as ``python -m collector._server_main``; never
imported by the collector itself. The technique (see the design notes in ``docs/storage.md``):

* chdb's module-level ``_chdb.query`` runs the real clickhouse-local ``LocalServer``, which
  reads ``./config.xml`` from the current directory and supports ``SYSTEM START LISTEN HTTP``;
* the listeners live as long as that query runs, so a never-ending ``sleepEachRow`` query
  keeps them up in a daemon thread;
* a thread blocked in ``_chdb.query`` keeps Python signal handlers from running in it, so the
  main thread waits on an event that SIGTERM/SIGINT set, then leaves with ``os._exit``
  (ClickHouse's static destructors must not run while the query thread is still inside it).

Access (see "Access" in ``docs/storage.md``): the server honours ``<http_handlers>`` and a
``users_config`` file, not a password on ``default`` (its own start-up session logs in as
``default``). So ``default`` keeps no password but cannot be reached over HTTP: the only query
handler requires the exact ``Authorization`` header of the user ``agentflight`` with the
data directory's secret, and that user's grants leave out every source table function
(``file``, ``url``, ``s3``, ...). Anything else, a cross-site ``text/plain`` POST included,
gets a 404 and runs nothing; only ``/ping`` answers without the secret.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from collector._access import USER, basic_authorization

CONFIG_XML = """<clickhouse>
  <http_port>{port}</http_port>
  <tcp_port>0</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <users_config>users.xml</users_config>
  <http_handlers>
    <rule>
      <url>/ping</url>
      <methods>GET,HEAD</methods>
      <handler>
        <type>static</type>
        <status>200</status>
        <content_type>text/plain; charset=UTF-8</content_type>
        <response_content>Ok.
</response_content>
      </handler>
    </rule>
    <rule>
      <headers><Authorization>{authorization}</Authorization></headers>
      <handler>
        <type>dynamic_query_handler</type>
        <query_param_name>query</query_param_name>
      </handler>
    </rule>
  </http_handlers>
</clickhouse>
"""
# ``default`` is what the server's own start-up session uses; it has no password and, with the
# handlers above, no way in over HTTP. ``agentflight`` is every client's user.
USERS_XML = """<clickhouse>
  <profiles><default/></profiles>
  <quotas><default/></quotas>
  <users>
    <default>
      <password/>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <{user}>
      <password_sha256_hex>{password_sha256}</password_sha256_hex>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
      <grants>
        <query>GRANT ALL ON *.*</query>
        <query>REVOKE SOURCES ON *.*</query>
      </grants>
    </{user}>
  </users>
</clickhouse>
"""

# The format argument becomes the HTTP default format: it must be TabSeparated.
SERVE_SQL = (
    "SYSTEM START LISTEN HTTP; "
    "SELECT getServerPort('http_port') INTO OUTFILE '{port_file}' TRUNCATE FORMAT TabSeparated; "
    "SELECT sleepEachRow(1) FROM numbers(1000000000) "
    "SETTINGS max_block_size=1, function_sleep_max_microseconds_per_block=0 FORMAT Null"
)

PORT_FILE = "port.txt"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by this user only (it holds the secret)."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def write_config(run_dir: Path, port: int, secret: str) -> None:
    """``config.xml`` and ``users.xml`` for a server that requires ``secret``."""
    _write_private(
        run_dir / "config.xml",
        CONFIG_XML.format(port=port, authorization=basic_authorization(secret)),
    )
    digest = hashlib.sha256(secret.encode()).hexdigest()
    _write_private(run_dir / "users.xml", USERS_XML.format(user=USER, password_sha256=digest))


def _write_json_atomic(path: Path, payload: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, path)


def serve(data_dir: Path, run_dir: Path, port: int, state_file: str, secret_file: str) -> int:
    """Run the server until SIGTERM/SIGINT; return the process exit code."""
    import chdb._chdb as _chdb  # the config.xml in the cwd is read at query time

    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = (run_dir / secret_file).read_text().strip()
    if len(secret) < 32:
        print(f"embedded ClickHouse did not start: {run_dir / secret_file} is not a secret")
        return 1
    write_config(run_dir, port, secret)
    port_file = run_dir / PORT_FILE
    port_file.unlink(missing_ok=True)
    os.chdir(run_dir)

    stop = threading.Event()
    failure: list[str] = []

    def run_query() -> None:
        try:
            _chdb.query(  # type: ignore[attr-defined]
                SERVE_SQL.format(port_file=PORT_FILE), "TabSeparated", path=str(data_dir)
            )
        except Exception as exc:  # reported to the parent through the log and exit code
            failure.append(f"{type(exc).__name__}: {exc}")
        stop.set()

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=run_query, name="clickhouse-listener", daemon=True).start()

    deadline = time.monotonic() + 60
    bound = 0
    while not stop.is_set() and time.monotonic() < deadline:
        text = port_file.read_text().strip() if port_file.exists() else ""
        if text.isdigit():
            bound = int(text)
            break
        stop.wait(0.02)
    if not bound:
        print(f"embedded ClickHouse did not start: {failure or 'no port reported'}", flush=True)
        return 1
    _write_json_atomic(
        run_dir / state_file,
        {"pid": os.getpid(), "port": bound, "data_dir": str(data_dir), "started_at": time.time()},
    )
    print(f"embedded ClickHouse listening on http://127.0.0.1:{bound}", flush=True)
    stop.wait()
    (run_dir / state_file).unlink(missing_ok=True)
    if failure:
        print(f"embedded ClickHouse stopped: {failure[0]}", flush=True)
    return 1 if failure else 0


def main(argv: list[str] | None = None) -> None:
    """Fork the server into its own session; exit 0 once it listens, non-zero if it failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--state-file", default="server.json")
    parser.add_argument("--secret-file", default="secret")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    run_dir: Path = args.run_dir.resolve()
    state_path = run_dir / args.state_file

    pid = os.fork()  # nothing of chdb is loaded yet, so forking here is safe
    if pid == 0:
        os.setsid()  # outlive the terminal and the process that asked for the server
        code = serve(args.data_dir.resolve(), run_dir, args.port, args.state_file, args.secret_file)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            sys.exit(os.waitstatus_to_exitcode(status) or 1)
        try:
            if json.loads(state_path.read_text())["pid"] == pid:
                sys.exit(0)
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    print(f"embedded ClickHouse did not start within {args.timeout:.0f} s", flush=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
