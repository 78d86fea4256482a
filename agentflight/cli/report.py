"""``agentflight report``: every analytics figure of a time window, for people or as JSON."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

Opt = typer.Option


def _fail(message: str) -> typer.Exit:
    typer.echo(f"agentflight report: {message}", err=True)
    return typer.Exit(2)


def report_command(
    since: Annotated[
        str, Opt(help="Window start: 90m, 24h, 7d (before now), unix seconds or ISO.")
    ] = "24h",
    until: Annotated[str, Opt(help="Window end, in the same forms.")] = "now",
    project: Annotated[str, Opt(help="Only this project (default: all).")] = "",
    service: Annotated[str, Opt(help="Only spans of this service.")] = "",
    model: Annotated[str, Opt(help="Only LLM calls of this model (and runs that made them).")] = "",
    agent: Annotated[str, Opt(help="Only traces with a run of this agent.")] = "",
    route: Annotated[str, Opt(help="Only traces with this routing decision.")] = "",
    skill: Annotated[str, Opt(help="Only traces that called this skill.")] = "",
    loadtest_run: Annotated[str, Opt(help="This load-test run instead of production.")] = "",
    replay_run: Annotated[str, Opt(help="This replay run instead of production.")] = "",
    slo: Annotated[
        str | None, Opt(help='Objectives for the load fits, e.g. "ttft_p95<800ms,tbt_p99<80ms".')
    ] = None,
    prices: Annotated[
        Path | None, Opt(help="Price table (YAML) instead of the shipped defaults.")
    ] = None,
    as_json: Annotated[bool, Opt("--json", help="Print the JSON report.")] = False,
    markdown: Annotated[bool, Opt("--markdown", help="Print Markdown.")] = False,
) -> None:
    """Latency, latency against load, token waste, timeout risk and cost of a time window."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    import analytics
    from collector.errors import AgentflightStorageError
    from collector.store import Store

    if as_json and markdown:
        raise _fail("--json and --markdown exclude each other")
    try:
        start = analytics.parse_time(since, what="--since")
        end = analytics.parse_time(until, what="--until")
        if start >= end:
            raise ValueError(
                f"--since ({start.isoformat()}) must be before --until ({end.isoformat()})"
            )
        objectives = analytics.parse_slo(slo) if slo is not None else None
        table = analytics.load_prices(prices)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    # The error is reported in one line below; the driver's own log would add a second.
    logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
    filters = analytics.Filters(
        project=project,
        service=service,
        model=model,
        agent=agent,
        route=route,
        skill=skill,
        loadtest_run=loadtest_run,
        replay_run=replay_run,
    )
    try:
        store = Store.connect(timeout_s=600)
    except AgentflightStorageError as exc:
        raise _fail(str(exc).splitlines()[0]) from None
    try:
        with store:
            report = analytics.run_report(
                store, start, end, filters, slo=objectives, prices=table, progress=not as_json
            )
    except (ClickHouseError, AgentflightStorageError) as exc:
        raise _fail(f"the database failed: {str(exc).splitlines()[0]}") from None
    if report is None:
        typer.echo(
            f"No spans between {start.isoformat()} and {end.isoformat()}"
            + (
                f" for {', '.join(f'{k}={v}' for k, v in filters.describe().items())}"
                if filters.describe()
                else ""
            )
            + "."
        )
        return
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    elif markdown:
        typer.echo(analytics.report_markdown(report), nl=False)
    else:
        from rich.console import Console

        analytics.print_report(report, Console())


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
