"""``agentflight up``: the embedded database and the collector together, for local use."""

from __future__ import annotations

from typing import Annotated

import typer

from agentflight.cli.db import DataDir, Port, start_database
from agentflight.cli.serve import SpoolDir, run_collector
from collector import embedded

CollectorHost = Annotated[
    str, typer.Option("--collector-host", help="Address of the collector (loopback by default).")
]
CollectorPort = Annotated[
    int, typer.Option("--collector-port", help="Port of the collector (OTLP/HTTP).")
]


def register(root: typer.Typer) -> None:
    """Add the top-level ``up`` command."""

    @root.command("up")
    def up(
        data_dir: DataDir = None,
        port: Port = 8123,
        collector_host: CollectorHost = "127.0.0.1",
        collector_port: CollectorPort = 4318,
        spool_dir: SpoolDir = None,
    ) -> None:
        """Start everything for local use: the embedded ClickHouse, then the collector.

        The collector runs in the foreground; Ctrl-C or SIGTERM stops it (the queue is
        drained first) and then the database, unless that was already running before.
        """
        was_running = embedded.status(data_dir)
        info = start_database(data_dir, port)
        typer.echo(
            "agentflight is up:\n"
            f"  ClickHouse  {info.url}  (pid {info.pid}, data in {info.data_dir}; "
            "127.0.0.1 only; `agentflight db url` prints its URL with the secret)\n"
            "  Collector   this process, in the foreground (below); Ctrl-C stops "
            + ("it." if was_running else "both.")
        )
        try:
            run_collector(collector_host, collector_port, spool_dir, clickhouse_url=info.dsn)
        finally:
            if was_running is None:
                embedded.stop(info.data_dir)
                typer.echo(f"ClickHouse stopped (data kept in {info.data_dir}).")
            else:
                typer.echo(f"ClickHouse keeps running at {info.url} (it was running before).")
