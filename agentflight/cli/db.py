"""``agentflight db start|status|stop|url|migrate`` (``agentflight up`` is in :mod:`.up`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from collector import embedded
from collector.errors import AgentflightStorageError

app = typer.Typer(
    help="Run the embedded ClickHouse server (127.0.0.1 only; every query needs the data "
    "directory's secret, which `agentflight db url` prints)."
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where ClickHouse keeps its data [default: $AGENTFLIGHT_DATA_DIR or "
        "~/.agentflight/clickhouse].",
        show_default=False,
    ),
]
Port = Annotated[int, typer.Option("--port", help="HTTP port on 127.0.0.1; 0 picks a free one.")]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def start_database(data_dir: Path | None, port: int) -> embedded.ServerInfo:
    """Start (or find) the embedded server, migrate it, and say where it is."""
    try:
        info, started = embedded.start(data_dir, port)
    except AgentflightStorageError as exc:
        raise _fail(str(exc)) from None
    from collector.store import Store  # clickhouse-connect loads for the commands that query

    if not started:
        typer.echo(
            f"ClickHouse is already running at {info.url} (data in {info.data_dir}, pid {info.pid})"
        )
    try:
        with Store.connect(info.dsn, apply_migrations=False) as store:
            applied = store.migrate()
    except AgentflightStorageError as exc:
        raise _fail(str(exc)) from None
    if started:
        typer.echo(f"ClickHouse started at {info.url} (data in {info.data_dir}, pid {info.pid})")
    if applied:
        typer.echo(f"Applied migrations: {', '.join(applied)}")
    return info


@app.command("start")
def start(data_dir: DataDir = None, port: Port = 8123) -> None:
    """Start the embedded ClickHouse server in the background and apply migrations."""
    info = start_database(data_dir, port)
    typer.echo(info.url)


@app.command("status")
def status(data_dir: DataDir = None) -> None:
    """Say whether the embedded server runs, and where. Exits 1 when it does not."""
    info = embedded.status(data_dir)
    if info is None:
        typer.echo(f"ClickHouse is not running on {data_dir or embedded.default_data_dir()}")
        raise typer.Exit(1)
    typer.echo(f"ClickHouse is running at {info.url} (data in {info.data_dir}, pid {info.pid})")


@app.command("stop")
def stop(data_dir: DataDir = None) -> None:
    """Stop the embedded server. Its data stays for the next start."""
    info = embedded.stop(data_dir)
    if info is None:
        typer.echo(f"ClickHouse is not running on {data_dir or embedded.default_data_dir()}")
        return
    typer.echo(f"ClickHouse stopped (was {info.url}, data kept in {info.data_dir})")


@app.command("url")
def url(data_dir: DataDir = None) -> None:
    """Print the embedded server's URL with its secret, for scripts and other tools.

    Both `curl "$(agentflight db url)" --data 'SELECT 1'` and
    `clickhouse_connect.get_client(dsn=...)` connect with it. Keep it to yourself: it is
    the password of the database. Exits 1 when the server is not running.
    """
    info = embedded.status(data_dir)
    if info is None:
        raise _fail(
            f"ClickHouse is not running on {data_dir or embedded.default_data_dir()}; "
            "start it with `agentflight db start`"
        )
    typer.echo(info.dsn)


@app.command("migrate")
def migrate(
    url: Annotated[
        str | None,
        typer.Option(help="ClickHouse URL [default: $AGENTFLIGHT_CLICKHOUSE_URL, else embedded]."),
    ] = None,
) -> None:
    """Apply pending migrations to the configured ClickHouse (external or embedded)."""
    from collector.store import Store

    try:
        with Store.connect(url, apply_migrations=False) as store:
            applied = store.migrate()
    except (AgentflightStorageError, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(
        f"Applied migrations: {', '.join(applied)}" if applied else "The schema is up to date."
    )
