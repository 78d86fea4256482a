"""``agentflight up``: every part of agentflight on one machine, started and stopped together.

The embedded ClickHouse runs as its own background server (as with ``agentflight db start``);
the collector, the dashboard and, for the demo, the LLM simulator and the demo assistant run
as child processes of ``up``. Each child's output goes to a log file; ``up`` reads its first
lines for the URL it listens on (port 0 picks a free one, and the URL printed is the real
one). SIGTERM or Ctrl-C stops the children in reverse order (the assistant first, so its last
spans reach the collector; the collector last, so it drains its queue), then the database if
``up`` started it. Children also get SIGTERM if ``up`` itself dies.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from collector import embedded, settings

__all__ = ["Child", "StackError", "StackOptions", "run"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_PROFILE = EXAMPLES / "assistant" / "simulator.toml"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 40.0
_URL = re.compile(r"https?://[^\s)]+")
_PR_SET_PDEATHSIG = 1
_prctl: Callable[..., int] | None
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: children do not learn that up died
    _prctl = None


class StackError(RuntimeError):
    """A part could not start, or died; the message says which and quotes its log."""


@dataclass(frozen=True)
class StackOptions:
    data_dir: Path | None = None
    clickhouse_port: int = 8123
    collector_host: str = "127.0.0.1"
    collector_port: int = 4318
    dashboard_port: int = 8050
    simulator_port: int = 8000
    spool_dir: Path | None = None
    demo: bool = False
    duration_s: float | None = None
    log_dir: Path | None = None


@dataclass
class Child:
    """A child process, its log, and the URL it said it listens on."""

    name: str
    process: subprocess.Popen[str]
    log_path: Path
    url: str = ""
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    ready: threading.Event = field(default_factory=threading.Event)
    pump: threading.Thread | None = None

    def alive(self) -> bool:
        return self.process.poll() is None

    def last_lines(self) -> str:
        return "".join(self.tail).rstrip() or "(no output)"


def _die_with_parent() -> None:
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    name: str,
    argv: list[str],
    log_dir: Path,
    marker: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Child:
    """Start ``argv``; wait until a line of its output contains ``marker`` (and a URL)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # up decides the order in which its parts stop
        preexec_fn=_die_with_parent,
    )
    child = Child(name, process, log_path)

    def pump() -> None:
        assert process.stdout is not None
        with open(log_path, "a", encoding="utf-8") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()
                child.tail.append(line)
                if not child.ready.is_set() and marker in line:
                    found = _URL.search(line)
                    child.url = found.group(0).rstrip(".,") if found else ""
                    child.ready.set()
        child.ready.set()

    child.pump = threading.Thread(target=pump, name=f"log-{name}", daemon=True)
    child.pump.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not child.ready.wait(0.1):
        if time.monotonic() > deadline:
            stop_child(child)
            raise StackError(f"{name} did not start within {START_TIMEOUT_S:.0f} s; log {log_path}")
    if not child.alive() and not child.url:
        child.pump.join(5)
        raise StackError(f"{name} did not start; log {log_path}:\n{child.last_lines()}")
    return child


def stop_child(child: Child, timeout: float = STOP_TIMEOUT_S) -> int | None:
    """SIGTERM, wait, SIGKILL if need be; return the exit code."""
    if child.alive():
        child.process.send_signal(signal.SIGTERM)
        try:
            child.process.wait(timeout)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait(10)
    if child.pump is not None:
        child.pump.join(5)
    return child.process.returncode


AGENTFLIGHT = [sys.executable, "-m", "agentflight"]
DEFAULT_COLLECTOR = "http://127.0.0.1:4318"
# A recent agent run that called a skill and a model: one worth replaying.
_A_TRACE = """
SELECT trace_id FROM {db:Identifier}.genai_spans
WHERE timestamp > now() - INTERVAL 1 HOUR
GROUP BY trace_id
HAVING countIf(operation = 'invoke_agent' AND parent_span_id = '') = 1
   AND countIf(operation = 'execute_tool') > 0 AND countIf(operation = 'chat') > 1
ORDER BY max(timestamp) DESC
LIMIT 1
"""


class Stack:
    """The parts, in start order."""

    def __init__(self, options: StackOptions, say: Callable[[str], None]) -> None:
        self.options = options
        self.say = say
        self.children: list[Child] = []
        self.database: embedded.ServerInfo | None = None
        self.started_database = False
        self.clickhouse_url = ""
        self.env: dict[str, str] = {}
        self.log_dir = options.log_dir or (
            (options.data_dir or embedded.default_data_dir()).expanduser().resolve().parent / "logs"
        )

    def _child(self, name: str, argv: list[str], marker: str, cwd: Path | None = None) -> Child:
        child = spawn(name, argv, self.log_dir, marker, cwd, self.env)
        self.children.append(child)
        return child

    def start(self) -> None:
        o = self.options
        external = os.environ.get(settings.CLICKHOUSE_URL_ENV, "").strip()
        if external:
            self.clickhouse_url = external
        else:
            before = embedded.status(o.data_dir)
            self.database, self.started_database = embedded.start(o.data_dir, o.clickhouse_port)
            self.started_database = before is None
            self.clickhouse_url = self.database.dsn
        self.env = {settings.CLICKHOUSE_URL_ENV: self.clickhouse_url}  # every child uses it
        from collector.store import Store

        with Store.connect(self.clickhouse_url) as store:  # migrate once, before the others
            store.migrate()
        spool = ["--spool-dir", str(o.spool_dir)] if o.spool_dir else []
        self._child("collector", [*AGENTFLIGHT, "serve", "--host", o.collector_host,
                                  "--port", str(o.collector_port), *spool],
                    "listening on")  # fmt: skip
        simulator = None
        if o.demo:
            if not DEMO_PROFILE.exists():
                raise StackError(
                    f"the demo needs the repository's examples/ folder ({EXAMPLES}); run it "
                    "from a checkout of agentflight"
                )
            simulator = self._child(
                "simulator",
                [*AGENTFLIGHT, "simulate-llm", "--port", str(o.simulator_port),
                 "--profile", str(DEMO_PROFILE), "--seed", "1"],
                "listening on",
            )  # fmt: skip
        replay_target = ["--replay-target", simulator.url] if simulator else []
        self.env["AGENTFLIGHT_ENDPOINT"] = self.collector.url  # replays started from the UI
        self._child("dashboard", [*AGENTFLIGHT, "dashboard", "--port", str(o.dashboard_port),
                                  "--collector-url", self.collector.url, *replay_target],
                    "Dashboard")  # fmt: skip
        if simulator is not None:
            duration = [] if o.duration_s is None else ["--duration", str(o.duration_s)]
            self._child(
                "assistant",
                [sys.executable, "-m", "examples.assistant", "--collector", self.collector.url,
                 "--llm", simulator.url, *duration],
                "traffic:",
                cwd=EXAMPLES.parent,
            )  # fmt: skip

    def child(self, name: str) -> Child | None:
        return next((c for c in self.children if c.name == name), None)

    @property
    def collector(self) -> Child:
        child = self.child("collector")
        assert child is not None
        return child

    def summary(self) -> str:
        lines = ["agentflight is up:"]
        if self.database is not None:
            lines.append(
                f"  ClickHouse  {self.database.url}  (data in {self.database.data_dir}; "
                "`agentflight db url` prints its URL with the secret)"
            )
        else:
            lines.append(f"  ClickHouse  {_redact(self.clickhouse_url)}")
        labels = {"collector": "Collector ", "dashboard": "Dashboard ", "simulator": "Simulator "}
        for child in self.children:
            if child.name in labels:
                lines.append(f"  {labels[child.name]} {child.url}")
        lines.append(f"  send spans with OTEL_EXPORTER_OTLP_ENDPOINT={self.collector.url}")
        lines.append(f"  logs in {self.log_dir}; Ctrl-C stops everything")
        return "\n".join(lines)

    def next_steps(self, trace_id: str | None) -> str:
        simulator = self.child("simulator")
        llm = f"{simulator.url}" if simulator else "http://127.0.0.1:8000/v1"
        dashboard = self.child("dashboard")
        lines = ["", "Try next (in another terminal, from this folder):"]
        if self.options.data_dir is not None:
            lines.append(f"  export {embedded.DATA_DIR_ENV}={self.options.data_dir}")
        if self.collector.url != DEFAULT_COLLECTOR:
            lines.append(f"  export AGENTFLIGHT_ENDPOINT={self.collector.url}")
        if dashboard is not None:
            lines.append(f"  open {dashboard.url}  (latency, load, waste, risk, traces)")
        lines.append("  agentflight report --since 15m")
        replay = trace_id or "<a trace id from the dashboard's /traces page>"
        lines.append(
            f"  agentflight replay {replay} --base-url {llm} --model gpt-4.1 --policy nearest"
        )
        lines.append(
            f"  agentflight loadtest --target {llm} --model gpt-4o "
            '--shape ramp --stages 4:20,16:20 --slo "ttft_p95<800ms,tbt_p99<80ms"'
        )
        return "\n".join(lines)

    def a_trace(self) -> str | None:
        """A recent demo trace, to replay."""
        from collector.store import Store

        try:
            with Store.connect(self.clickhouse_url, apply_migrations=False, timeout_s=10) as s:
                rows = s.query(_A_TRACE).result_rows
        except Exception:  # only a hint: without it the generic one is printed
            return None
        return str(rows[0][0]) if rows else None

    def stop(self) -> None:
        for child in reversed(self.children):
            code = stop_child(child)
            if code not in (0, None, -signal.SIGTERM):
                self.say(f"{child.name} exited with {code}; its log: {child.log_path}")
        if self.started_database and self.database is not None:
            embedded.stop(self.database.data_dir)
            self.say(f"ClickHouse stopped (data kept in {self.database.data_dir}).")


def run(options: StackOptions, say: Callable[[str], None] = print) -> int:
    """Start everything, wait for SIGTERM/Ctrl-C (or a part dying), stop everything."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    stack = Stack(options, say)
    code = 0
    try:
        stack.start()
        say(stack.summary())
        hinted = not options.demo
        if not options.demo:
            say(stack.next_steps(None))
        started = time.monotonic()
        finished: set[str] = set()
        while not stop.wait(0.5):
            for child in stack.children:
                if child.alive() or child.name in finished:
                    continue
                if child.name == "assistant" and child.process.returncode == 0:
                    finished.add(child.name)
                    say("The demo traffic has finished; everything stays up until Ctrl-C.")
                    continue
                raise StackError(
                    f"{child.name} stopped; log {child.log_path}:\n{child.last_lines()}"
                )
            if not hinted and time.monotonic() - started > 10:
                trace = stack.a_trace()
                if trace is not None or time.monotonic() - started > 60:
                    say(stack.next_steps(trace))
                    hinted = True
    except StackError as exc:
        say(f"error: {exc}")
        code = 1
    finally:
        say("stopping ...")
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def _redact(url: str) -> str:
    from collector.store import _redact as redact

    return redact(url)
