"""``agentflight spool list|retry``: the dead letters a collector set aside."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer

from agentflight.cli.serve import SpoolDir
from collector.errors import AgentflightStorageError

if TYPE_CHECKING:
    from collector.dead_letter import DeadLetters

app = typer.Typer(
    help="Dead letters: spans ClickHouse refused for good, kept in the spool directory.",
    no_args_is_help=True,
)


def _letters(spool_dir: SpoolDir) -> DeadLetters:
    from collector.config import CollectorSettings
    from collector.dead_letter import DeadLetters

    try:
        settings = CollectorSettings.resolve(spool_dir=spool_dir)
    except ValueError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    return DeadLetters(settings.spool_dir)


@app.command("list")
def list_command(spool_dir: SpoolDir = None) -> None:
    """List the dead letters: id, spans, when, and ClickHouse's reason."""
    letters = list(_letters(spool_dir))
    if not letters:
        typer.echo("No dead letters: ClickHouse has taken every accepted span.")
        return
    for letter in letters:
        when = dt.datetime.fromtimestamp(letter.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(f"{letter.id}  {letter.rows} spans  {when}Z  {letter.error.splitlines()[0]}")
    typer.echo(f"{len(letters)} dead letter(s); `agentflight spool retry` inserts them again.")


@app.command("retry")
def retry_command(
    ids: Annotated[
        list[str] | None, typer.Argument(help="Dead-letter ids (default: all of them).")
    ] = None,
    spool_dir: SpoolDir = None,
) -> None:
    """Insert dead letters into ClickHouse again; delete each one that goes in.

    Inserts carry a deduplication token made from the dead letter's id, so retrying twice
    stores the spans once. Exits 1 when some are still refused.
    """
    from collector.store import Store

    letters = _letters(spool_dir)
    known = {letter.id for letter in letters}
    unknown = sorted(set(ids or ()) - known)
    if unknown:
        typer.secho(f"error: no dead letter {', '.join(unknown)}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    try:
        with Store.connect() as store:
            result = letters.retry(store, set(ids) if ids else None)
    except (AgentflightStorageError, ValueError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    spans = sum(letter.rows for letter in result.inserted)
    typer.echo(f"Inserted {len(result.inserted)} dead letter(s), {spans} spans.")
    for letter, reason in result.failed:
        typer.secho(f"still refused: {letter.id}: {reason}", err=True, fg=typer.colors.RED)
    if result.failed:
        raise typer.Exit(1)
