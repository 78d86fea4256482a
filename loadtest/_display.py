"""What the gate shows while it runs: a per-stage table and a live progress line (rich).

On a terminal the table and the progress line redraw in place; otherwise (CI logs, pipes)
each finished stage is printed as a line, progress every few seconds, and the table at the
end.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

__all__ = ["Display"]

PLAIN_PROGRESS_EVERY_S = 5.0


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _triple(summary: dict[str, float | None]) -> str:
    return " / ".join(_ms(summary.get(key)) for key in ("p50", "p95", "p99"))


def _stage_verdict(stage: dict[str, Any]) -> Text:
    level = stage.get("verdict")  # a capacity search's level
    if level == "inconclusive":
        need = stage.get("needed_requests")
        return Text("inconclusive" + (f" (~{need} req)" if need else ""), style="yellow")
    if stage["passed"]:
        return Text("met", style="green")
    return Text("BREACHED", style="bold red")


class Display:
    def __init__(self, console: Console, target: str, model: str) -> None:
        self.console = console
        self.target = target
        self.model = model
        self.stages: list[dict[str, Any]] = []
        self.planned = 0
        self.progress = Text("starting Locust ...", style="dim")
        self._live: Live | None = None
        self._last_plain = 0.0

    def __enter__(self) -> Display:
        if self.console.is_terminal:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self.progress = Text("")
            self._live.update(self._render())
            self._live.__exit__(kind, exc, tb)
        elif self.stages:
            self.console.print(self.table())

    def table(self) -> Table:
        table = Table(title=f"{self.model} at {self.target}", title_justify="left")
        for column in ("stage", "users", "requests", "req/s"):
            table.add_column(column, justify="right")
        table.add_column("TTFT ms p50/p95/p99", justify="right")
        table.add_column("TBT ms p50/p95/p99", justify="right")
        table.add_column("e2e ms p95", justify="right")
        table.add_column("errors", justify="right")
        table.add_column("timeouts", justify="right")
        table.add_column("SLO")
        for stage in self.stages:
            rps = stage.get("requests_per_s")
            users = str(stage["users"])
            if stage.get("rate") is not None:
                users = f"{stage['rate']:g}/s ({stage['users']})"
            table.add_row(
                f"{stage['stage']}/{self.planned}" if self.planned else str(stage["stage"]),
                users,
                str(stage["requests"]),
                "-" if rps is None else f"{rps:.1f}",
                _triple(stage["ttft_ms"]),
                _triple(stage["tbt_ms"]),
                _ms(stage["e2e_ms"].get("p95")),
                f"{stage['error_rate']:.2%}",
                f"{stage['timeout_rate']:.2%}",
                _stage_verdict(stage),
            )
        return table

    def _render(self) -> RenderableType:
        return Group(self.table(), self.progress) if self.stages else self.progress

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "start":
            self.planned = int(event.get("planned") or 0)
            self.console.print(
                f"load test {event.get('run_id')}: {self.planned} stage(s) against {self.target}"
            )
        elif kind == "progress":
            self.planned = int(event.get("planned") or self.planned)
            self.progress = Text(self._progress_line(event), style="cyan")
            now = time.monotonic()
            if self._live is None and now - self._last_plain >= PLAIN_PROGRESS_EVERY_S:
                self._last_plain = now
                self.console.print(self.progress)
        elif kind == "stage":
            stage = event["stage"]
            self.stages.append(stage)
            if self._live is None:
                verdict = _stage_verdict(stage).plain
                self.console.print(
                    f"stage {stage['stage']}/{self.planned or '?'}: {stage['users']} users, "
                    f"{stage['requests']} requests, TTFT p95 {_ms(stage['ttft_ms']['p95'])} ms, "
                    f"TBT p99 {_ms(stage['tbt_ms']['p99'])} ms: {verdict}"
                )
        self._refresh()

    @staticmethod
    def _progress_line(event: dict[str, Any]) -> str:
        stage = event.get("stage")
        if stage is None:
            return "waiting for the first stage ..."
        elapsed, length = event.get("elapsed_s") or 0.0, event.get("stage_s")
        clock = f"{elapsed:.0f}s" + (f"/{length:.0f}s" if length else "")
        mean = event.get("ttft_mean_ms")
        planned = event.get("planned")
        return (
            f"stage {stage}{f'/{planned}' if planned else ''} · {event.get('users')} users · "
            f"{event.get('inflight')} in flight · {clock} · {event.get('requests')} requests · "
            f"{event.get('errors')} errors · {event.get('timeouts')} timeouts"
            + (f" · mean TTFT {_ms(mean)} ms" if mean is not None else "")
        )

    @classmethod
    def replay(cls, console: Console, report: dict[str, Any]) -> None:
        """Print a finished run's table and verdict again (``agentflight loadtest show``)."""
        display = cls(console, str(report.get("target")), str(report.get("model")))
        display.planned = int(report.get("planned_stages") or len(report["stages"]))
        display.stages = list(report["stages"])
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(report.get("started_at") or 0))
        console.print(
            f"load test {report.get('run_id')}: {report.get('shape')} shape, started {when} UTC, "
            f"{report.get('duration_s')} s, SLO {','.join(report.get('slo') or [])}",
            highlight=False,
        )
        if display.stages:
            console.print(display.table())
        display.verdict(report)

    def verdict(self, report: dict[str, Any]) -> None:
        for stage in report["stages"]:
            for check in stage.get("checks", []):
                if not check["passed"]:
                    observed = check["observed"]
                    shown = "no data" if observed is None else f"observed {observed:g}"
                    self.console.print(
                        f"[red]stage {stage['stage']} breached {check['slo']} ({shown})[/red]"
                    )
        if report.get("capacity") is not None:
            self._capacity(report)
            return
        capacity = report.get("capacity_users")
        if report["passed"]:
            self.console.print(
                f"[bold green]PASSED[/]: every stage met every SLO (up to {capacity} users)"
            )
        else:
            if report.get("interrupted"):
                reason = "interrupted"
            elif any(not stage["passed"] for stage in report["stages"]):
                reason = "an SLO was breached"
            else:
                reason = "not every stage ran"
            held = f"; capacity {capacity} users" if capacity is not None else ""
            self.console.print(f"[bold red]FAILED[/]: {reason}{held}")
        for warning in report.get("warnings", []):
            self.console.print(f"[yellow]warning: {warning}[/yellow]")

    def _capacity(self, report: dict[str, Any]) -> None:
        """The verdict of a capacity search."""
        found = report["capacity"]
        unit = " users" if found["metric"] == "concurrency" else " req/s"
        value = found["value"]
        levels = ", ".join(
            f"{level['level']:g}{' ok' if level['verdict'] == 'passed' else ' ' + level['verdict']}"
            for level in found["levels"]
        )
        self.console.print(f"levels measured: {levels}", highlight=False)
        if report.get("interrupted"):
            self.console.print("[bold red]INTERRUPTED[/]: the search did not finish")
        elif found["verdict"] == "breached":
            self.console.print(
                f"[bold red]BREACHED[/]: the SLO does not hold at {found['levels'][0]['level']:g}"
                f"{unit}, the first level (lower --search-from to look below it)"
            )
        elif found["verdict"] == "inconclusive":
            upper = found.get("upper")
            need = next(
                (lv.get("needed_requests") for lv in found["levels"] if lv["level"] == upper),
                None,
            )
            held = (
                "at the first level"
                if value is None
                else f"the SLO held up to {value:g}{unit}, and"
            )
            self.console.print(
                f"[bold yellow]INCONCLUSIVE[/]: {held} at {upper:g}{unit} the confidence "
                "interval straddles the SLO"
                + (
                    f" (about {need} requests would decide: lengthen --level-duration)"
                    if need
                    else ""
                )
            )
        else:
            limit = " (the --max limit)" if found.get("reached_max") else ""
            self.console.print(
                f"[bold green]CAPACITY[/]: {value:g}{unit}{limit}, within "
                f"{found['tolerance']:g}{unit}; the SLO breaks at "
                + ("-" if found.get("upper") is None else f"{found['upper']:g}{unit}")
            )
        for warning in report.get("warnings", []):
            self.console.print(f"[yellow]warning: {warning}[/yellow]")
