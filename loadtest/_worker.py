"""The Locust side of the gate: ``python -m loadtest._worker``, options as JSON on stdin.

It runs Locust headless through its library API (``Environment``, ``LocalRunner``, a load
shape), attributes every request to the stage it started in, evaluates a stage once its
last request has come back, and stops the run at the first stage that breaches an
objective. It talks to the command as JSON lines on stdout (``start``, ``progress``,
``stage``, ``done``); anything else it prints goes to stderr.

It is a process of its own because importing Locust gevent-monkey-patches the interpreter.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
import time
from collections import Counter
from typing import IO, Any

import gevent
import locust  # noqa: F401  (monkey-patches; must precede the imports that open sockets)
from locust.env import Environment
from locust.html import get_html_report
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING, Runner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV, stats_history

from loadtest._attainment import conforms
from loadtest._options import GateOptions, GatePlan
from loadtest._report import build_report, stage_report
from loadtest._search import Search
from loadtest._search_run import control_search
from loadtest._serve import raise_open_file_limit
from loadtest._slo import evaluate
from loadtest._stats import RequestResult, StageStats
from loadtest._trace import TraceRow
from loadtest._tracing import tracing_session
from loadtest._units import InputError
from loadtest.shapes import LevelShape, RampShape, TraceShape
from loadtest.users import OpenAIChatUser, TraceChatUser

TICK_S = 0.1
PROGRESS_EVERY_S = 0.5
DRAIN_GRACE_S = 2.0
CPU_SATURATED = 0.9
_ENDING = (STATE_CLEANUP, STATE_STOPPING, STATE_STOPPED)


class _Quiet(logging.Filter):
    """Locust warns about spawn rates above 100/s; the shapes ask for that on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "spawn rate is very high" not in record.getMessage()


class _Channel:
    """JSON lines to the command on the original stdout; fd 1 then points at stderr."""

    def __init__(self) -> None:
        self._out: IO[str] = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)

    def emit(self, event: str, **data: Any) -> None:
        self._out.write(json.dumps({"event": event, **data}) + "\n")
        self._out.flush()


def _users_by_stage(runner: Runner, attribute: str) -> Counter[int]:
    """How many of the runner's users have ``attribute`` (a stage index) set, by stage."""
    counts: Counter[int] = Counter()
    for greenlet in list(runner.user_greenlets):
        user = greenlet.args[0] if greenlet.args else None
        stage = getattr(user, attribute, None)
        if stage is not None:
            counts[stage] += 1
    return counts


def _user_class(plan: GatePlan) -> type[OpenAIChatUser]:
    options = plan.options
    arrivals = plan.schedule is not None or (
        plan.search is not None and plan.search.metric == "rate"
    )
    base: type[OpenAIChatUser] = TraceChatUser if arrivals else OpenAIChatUser
    attrs = {
        "host": options.target.rstrip("/"),
        "model": options.model,
        "timeout": plan.timeout_s,
        "prompt_tokens": options.prompt_tokens,
        "max_tokens": options.max_tokens,
        "ignore_eos": options.ignore_eos,
        "run_id": options.run_id,
        "abstract": False,
        "__module__": __name__,
    }
    return type("LoadtestUser", (base,), attrs)


class _Run:
    """Stage bookkeeping, evaluation and the stop decision."""

    def __init__(self, plan: GatePlan, env: Environment, channel: _Channel) -> None:
        self.plan = plan
        self.env = env
        self.channel = channel
        self.stats: dict[int, StageStats] = {}
        if plan.schedule is None:
            for i, stage in enumerate(plan.stages):
                self.stats[i] = StageStats(i, stage.users, stage.seconds)
        else:
            schedule = plan.schedule
            for arrival in schedule:
                if arrival.stage not in self.stats:
                    length = schedule.stage_end(arrival.stage) - schedule.stage_start(arrival.stage)
                    self.stats[arrival.stage] = StageStats(arrival.stage, 0, length)
        self.reports: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.cpu_marks: list[tuple[float, float]] = []
        """(wall time, process CPU time) at every tick of the control loop."""
        self.shown_total = len(self.stats) if plan.schedule is None else plan.schedule.stage_count
        """Stages as numbered on screen (a trace's windows without arrivals are skipped)."""
        self.began = time.time()
        """Wall-clock start of the shape (trace windows count from here)."""
        env.events.request.add_listener(self._on_request)

    def _on_request(self, context: dict[str, Any] | None = None, **_: Any) -> None:
        result = (context or {}).get("agentflight")
        if isinstance(result, RequestResult) and result.stage in self.stats:
            conforming = conforms(result, self.plan.objectives)
            self.stats[result.stage].add(result, conforming=conforming)

    def inflight(self, runner: Runner) -> Counter[int]:
        """Requests in flight, by stage."""
        return _users_by_stage(runner, "inflight_stage")

    def claimed(self, runner: Runner) -> Counter[int]:
        """A trace's arrivals claimed by users and not yet over (waiting to be sent, or in
        flight), by stage. A stage ends at its last arrival's due time; a user woken late must
        still count in it."""
        return _users_by_stage(runner, "claimed_stage")

    def _closed(self, index: int) -> bool:
        if self.stats[index].ended_at is None:
            return False
        schedule = self.plan.schedule
        next_stage = None if schedule is None else schedule.next_stage
        return next_stage is None or next_stage > index

    def _stage_at(self, now: float, current: int | None) -> int | None:
        """The stage running at ``now``: the shape's for a ramp, the window for a trace."""
        schedule = self.plan.schedule
        if schedule is None:
            return current
        return schedule.stage_at(now - self.began)

    def _cpu_share(self, began: float | None, ended: float | None) -> float | None:
        """This process's CPU use between two wall times, as a share of one core."""
        if began is None or ended is None:
            return None
        marks = [mark for mark in self.cpu_marks if began <= mark[0] <= ended]
        if len(marks) < 2 or marks[-1][0] - marks[0][0] < 0.5:
            return None
        return (marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0])

    def evaluate(self, index: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Check a finished stage, add its report (with ``extra``) and show it."""
        stage = self.stats[index]
        checks = evaluate(self.plan.objectives, stage)
        users = stage.users or stage.peak_inflight
        report = stage_report(stage, checks, users=users)
        report.update(extra or {})
        cpu = self._cpu_share(stage.started_at, stage.ended_at)
        report["load_generator_cpu"] = None if cpu is None else round(cpu, 3)
        if cpu is not None and cpu >= CPU_SATURATED:
            self.warnings.append(
                f"stage {report['stage']}: the load generator's CPU was {cpu:.0%} busy, so its "
                "latencies include client-side delay; use fewer users per worker"
            )
        if extra is not None and "verdict" in extra:
            report["passed"] = extra["verdict"] == "passed"
        self.reports.append(report)
        self.channel.emit("stage", stage=report, planned=self.shown_total)
        return report

    def _clock(self, current: int | None, index: int | None, now: float, ending: bool) -> None:
        """Set stage start and end times: ramp stages from the shape's transitions, trace
        windows from the replay clock."""
        schedule = self.plan.schedule
        if schedule is not None:
            for k, stage in self.stats.items():
                begin = self.began + schedule.stage_start(k)
                end = self.began + schedule.stage_end(k)
                if stage.started_at is None and now >= begin:
                    stage.started_at = begin
                over = now >= end or ending
                if stage.ended_at is None and stage.started_at is not None and over:
                    stage.ended_at = min(end, now)
            return
        if index is not None and index != current:
            if current is not None:
                self.stats[current].ended_at = now
            self.stats[index].started_at = now
        if ending and index is not None and self.stats[index].ended_at is None:
            self.stats[index].ended_at = now

    def control(self) -> None:
        """Watch the run until every stage is evaluated or one breaches."""
        runner = self.env.runner
        assert runner is not None
        order = sorted(self.stats)
        position, current = 0, None
        last_progress = 0.0
        while position < len(order):
            gevent.sleep(TICK_S)
            now = time.time()
            self.cpu_marks.append((now, time.process_time()))
            index = getattr(self.env.shape_class, "stage_index", None)
            ending = runner.state in _ENDING
            self._clock(current, index, now, ending)
            current = index
            inflight = self.inflight(runner)
            now_stage = self._stage_at(now, current)
            if now_stage in self.stats:
                stage = self.stats[now_stage]
                stage.peak_inflight = max(stage.peak_inflight, sum(inflight.values()))
            while position < len(order) and self._closed(order[position]):
                done = order[position]
                ended = self.stats[done].ended_at or now
                owed = inflight.get(done) or self.claimed(runner).get(done)
                if owed and now < ended + self.plan.timeout_s + DRAIN_GRACE_S:
                    break
                position += 1
                if not self.evaluate(done)["passed"]:
                    return  # a breach: stop now
            if runner.state == STATE_STOPPED and not inflight:
                return  # stopped before every stage ran: the report says so
            if now - last_progress >= PROGRESS_EVERY_S:
                last_progress = now
                self.progress(current, runner, sum(inflight.values()), now)

    def progress(self, current: int | None, runner: Runner, inflight: int, now: float) -> None:
        stage = self.stats.get(current) if current is not None else None
        elapsed = now - stage.started_at if stage and stage.started_at else 0.0
        self.channel.emit(
            "progress",
            stage=None if current is None else current + 1,
            planned=self.shown_total,
            users=runner.user_count,
            inflight=inflight,
            elapsed_s=round(elapsed, 1),
            stage_s=stage.planned_s if stage else None,
            requests=stage.requests if stage else 0,
            errors=stage.errors if stage else 0,
            timeouts=stage.timeouts if stage else 0,
            ttft_mean_ms=None
            if not stage or stage.ttft.mean is None
            else round(stage.ttft.mean, 1),
        )


def _write_outputs(env: Environment, options: GateOptions) -> None:
    if options.html_out:
        with open(options.html_out, "w", encoding="utf-8") as handle:
            handle.write(get_html_report(env, show_download_link=False))
    if options.csv_out:
        writer = StatsCSV(env, PERCENTILES_TO_REPORT)
        for suffix, write in (
            ("stats", writer.requests_csv),
            ("failures", writer.failures_csv),
            ("exceptions", writer.exceptions_csv),
        ):
            with open(
                f"{options.csv_out}_{suffix}.csv", "w", newline="", encoding="utf-8"
            ) as handle:
                write(csv.writer(handle))


def _shape(plan: GatePlan) -> RampShape | TraceShape | LevelShape:
    if plan.search is not None:
        return LevelShape()
    if plan.schedule is not None:
        return TraceShape(plan.schedule, plan.trace_users)
    return RampShape(plan.stages)


def run(
    options: GateOptions,
    channel: _Channel,
    recorded: list[TraceRow] | None = None,
    warnings: list[str] | None = None,
) -> None:
    plan = options.validate(recorded=recorded if options.shape == "recorded" else None)
    user_class = _user_class(plan)
    shape = _shape(plan)
    env = Environment(user_classes=[user_class], shape_class=shape, host=user_class.host)
    env.stop_timeout = plan.timeout_s + 1.0  # a stage's last requests may finish
    state = _Run(plan, env, channel)
    state.warnings.extend(warnings or [])
    search = None if plan.search is None else Search(plan.search)
    runner = env.create_local_runner()
    gevent.spawn(stats_history, runner)
    started = time.time()
    channel.emit("start", run_id=options.run_id, planned=state.shown_total, users=plan.trace_users)
    interrupted = False
    with tracing_session(state.warnings):
        runner.start_shape()
        state.began = time.time()
        try:
            if search is not None:
                assert isinstance(shape, LevelShape)
                control_search(state, shape, search)
            else:
                state.control()
        except KeyboardInterrupt:
            interrupted = True
        env.stop_timeout = 0
        runner.quit()
    _write_outputs(env, options)
    report = build_report(
        state.reports,
        planned_stages=plan.planned_stages,
        interrupted=interrupted,
        warnings=state.warnings,
        capacity=None if search is None else search.result(),
        run={
            "run_id": options.run_id,
            "target": options.target,
            "model": options.model,
            "shape": options.shape,
            "slo": [objective.text for objective in plan.objectives],
            "timeout_s": plan.timeout_s,
            "started_at": started,
            "duration_s": round(time.time() - started, 3),
        },
    )
    channel.emit("done", report=report)


def main() -> int:
    channel = _Channel()
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_Quiet())
    raise_open_file_limit()
    payload = json.loads(sys.stdin.read())
    options = GateOptions.from_json(payload["options"])
    recorded = [TraceRow.from_json(row) for row in payload.get("recorded") or []]
    try:
        run(options, channel, recorded, list(payload.get("warnings") or []))
    except InputError as exc:  # the command checked first; the input changed since
        print(f"agentflight loadtest: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
