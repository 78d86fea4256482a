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
            table.add_row(
                f"{stage['stage']}/{self.planned}",
                str(stage["users"]),
                str(stage["requests"]),
                "-" if rps is None else f"{rps:.1f}",
                _triple(stage["ttft_ms"]),
                _triple(stage["tbt_ms"]),
                _ms(stage["e2e_ms"].get("p95")),
                f"{stage['error_rate']:.2%}",
                f"{stage['timeout_rate']:.2%}",
                Text("met", style="green")
                if stage["passed"]
                else Text("BREACHED", style="bold red"),
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
                verdict = "met" if stage["passed"] else "BREACHED"
                self.console.print(
                    f"stage {stage['stage']}/{self.planned}: {stage['users']} users, "
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
        return (
            f"stage {stage}/{event.get('planned')} · {event.get('users')} users · "
            f"{event.get('inflight')} in flight · {clock} · {event.get('requests')} requests · "
            f"{event.get('errors')} errors · {event.get('timeouts')} timeouts"
            + (f" · mean TTFT {_ms(mean)} ms" if mean is not None else "")
        )

    def verdict(self, report: dict[str, Any]) -> None:
        for stage in report["stages"]:
            for check in stage.get("checks", []):
                if not check["passed"]:
                    observed = check["observed"]
                    shown = "no data" if observed is None else f"observed {observed:g}"
                    self.console.print(
                        f"[red]stage {stage['stage']} breached {check['slo']} ({shown})[/red]"
                    )
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
