"""``agentflight serve``: the collector, an OTLP/HTTP receiver writing to ClickHouse."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from collector.config import SPOOL_DIR_ENV, CollectorSettings
from collector.errors import AgentflightStorageError

Host = Annotated[
    str,
    typer.Option("--host", help="Address to listen on. Without API keys only loopback is allowed."),
]
Port = Annotated[int, typer.Option("--port", help="Port to listen on; 0 picks a free one.")]
SpoolDir = Annotated[
    Path | None,
    typer.Option(
        "--spool-dir",
        help=f"Where accepted spans wait for ClickHouse (default: ${SPOOL_DIR_ENV}, else "
        "~/.agentflight/spool).",
        show_default=False,
    ),
]


def run_collector(
    host: str, port: int, spool_dir: Path | None, clickhouse_url: str | None = None
) -> None:
    """Serve until SIGTERM/Ctrl-C; exit 1 with the reason when the collector cannot start."""
    from collector.server import serve  # FastAPI and uvicorn load only for this command
    from collector.spool import SpoolError

    try:
        settings = CollectorSettings.resolve(host=host, port=port, spool_dir=spool_dir)
        serve(settings, clickhouse_url, announce=typer.echo)
    except (ValueError, AgentflightStorageError, SpoolError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    except OSError as exc:  # binding the port
        typer.secho(f"error: cannot listen on {host}:{port}: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None


def register(root: typer.Typer) -> None:
    """Add the top-level ``serve`` command."""

    @root.command("serve")
    def serve_command(
        host: Host = "127.0.0.1", port: Port = 4318, spool_dir: SpoolDir = None
    ) -> None:
        """Run the collector: OTLP/HTTP on POST /v1/traces, stored in ClickHouse.

        It writes to $AGENTFLIGHT_CLICKHOUSE_URL, else to the embedded server of
        `agentflight db start`. API keys: $AGENTFLIGHT_API_KEYS="key=project,..." or
        $AGENTFLIGHT_API_KEYS_FILE. Stops cleanly (queue drained) on SIGTERM or Ctrl-C.
        """
        run_collector(host, port, spool_dir)
