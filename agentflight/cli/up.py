"""``agentflight up``: the database, the collector and the dashboard; ``--demo`` adds traffic."""

from __future__ import annotations

from typing import Annotated

import typer

from agentflight.cli.db import DataDir, Port
from agentflight.cli.serve import SpoolDir

CollectorHost = Annotated[
    str, typer.Option("--collector-host", help="Address of the collector (loopback by default).")
]
CollectorPort = Annotated[
    int, typer.Option("--collector-port", help="Port of the collector (OTLP/HTTP).")
]
DashboardPort = Annotated[int, typer.Option("--dashboard-port", help="Port of the dashboard.")]
SimulatorPort = Annotated[
    int, typer.Option("--simulator-port", help="Port of the demo's LLM simulator.")
]
Demo = Annotated[
    bool,
    typer.Option(
        "--demo", help="Also start the LLM simulator and the demo assistant under a rising ramp."
    ),
]
Duration = Annotated[
    str | None,
    typer.Option(
        "--duration",
        help="How long the demo traffic runs (e.g. 90s, 10m); default: until stopped.",
        show_default=False,
    ),
]


def register(root: typer.Typer) -> None:
    """Add the top-level ``up`` command."""

    @root.command("up")
    def up(
        data_dir: DataDir = None,
        port: Port = 8123,
        collector_host: CollectorHost = "127.0.0.1",
        collector_port: CollectorPort = 4318,
        dashboard_port: DashboardPort = 8050,
        simulator_port: SimulatorPort = 8000,
        spool_dir: SpoolDir = None,
        demo: Demo = False,
        duration: Duration = None,
    ) -> None:
        """Start everything for local use: the embedded ClickHouse (unless
        $AGENTFLIGHT_CLICKHOUSE_URL is set), the collector and the dashboard.

        With --demo, also an LLM simulator and the demo assistant under a rising ramp of
        traffic, so the dashboard fills within a minute or two. Port 0 picks a free port; the
        URLs printed are the real ones. Ctrl-C or SIGTERM stops everything (the database too,
        unless it was running before).
        """
        from agentflight.stack import StackOptions, run
        from loadtest._units import InputError, parse_duration_s

        try:
            seconds = None if duration is None else parse_duration_s(duration, what="--duration")
        except InputError as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None
        for name, value in (("--port", port), ("--collector-port", collector_port),
                            ("--dashboard-port", dashboard_port),
                            ("--simulator-port", simulator_port)):  # fmt: skip
            if not 0 <= value <= 65535:
                typer.secho(f"error: {name} {value} is not a port (0-65535)", err=True)
                raise typer.Exit(2)
        options = StackOptions(
            data_dir=data_dir,
            clickhouse_port=port,
            collector_host=collector_host,
            collector_port=collector_port,
            dashboard_port=dashboard_port,
            simulator_port=simulator_port,
            spool_dir=spool_dir,
            demo=demo,
            duration_s=seconds,
        )
        raise typer.Exit(run(options, say=lambda line: typer.echo(line)))
