"""``agentflight loadtest``: a Locust ramp, trace or recorded-traffic replay, or capacity
search, gated by SLOs; ``agentflight loadtest list|show`` read the stored runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import loadtest

app = typer.Typer(invoke_without_command=True, no_args_is_help=False)

_RECORDED = "Recorded traffic (--shape recorded)"
_SEARCH = "Capacity search (--search)"


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"agentflight loadtest: error: {exc}", err=True)
    return typer.Exit(2)


@app.callback()
def loadtest_command(
    ctx: typer.Context,
    target: Annotated[
        str | None, typer.Option(help="OpenAI-style base URL, e.g. http://127.0.0.1:8000/v1.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model of every request; with --shape recorded, only the calls that asked "
            "for it (default: every call, with the model it asked for)."
        ),
    ] = None,
    shape: Annotated[
        str,
        typer.Option(help="ramp (user-count stages), trace (CSV replay) or recorded (ClickHouse)."),
    ] = "ramp",
    stages: Annotated[
        str | None,
        typer.Option(
            help="ramp: USERS:SECONDS,... (default 10:60,25:60,50:60,100:60); recorded: cut "
            "points after the first recorded call, e.g. 6h,12h.",
            show_default=False,
        ),
    ] = None,
    trace_csv: Annotated[
        Path | None,
        typer.Option(help="TIMESTAMP,ContextTokens,GeneratedTokens CSV for --shape trace."),
    ] = None,
    time_scale: Annotated[
        float, typer.Option(help="Replay a trace or recording this many times faster.")
    ] = 1.0,
    trace_window: Annotated[
        str, typer.Option(help="Length of one stage of a trace or recording replay.")
    ] = "10s",
    trace_users: Annotated[
        int | None,
        typer.Option(help="Locust users replaying a trace (default: its peak in flight)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Start of the recorded window: 24h (ago) or a date-time.",
            rich_help_panel=_RECORDED,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="End of the recorded window (default: now).", rich_help_panel=_RECORDED),
    ] = None,
    service: Annotated[
        str | None, typer.Option(help="Only this service's LLM calls.", rich_help_panel=_RECORDED)
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(help="Only LLM calls in this agent's traces.", rich_help_panel=_RECORDED),
    ] = None,
    multiplier: Annotated[
        float,
        typer.Option(help="Send this many times the recorded traffic.", rich_help_panel=_RECORDED),
    ] = 1.0,
    messages: Annotated[
        str,
        typer.Option(
            help="synthetic (prompts of the recorded sizes) or recorded (the recorded messages).",
            rich_help_panel=_RECORDED,
        ),
    ] = "synthetic",
    search: Annotated[
        str | None,
        typer.Option(
            help="Find the highest concurrency or rate meeting the SLO.", rich_help_panel=_SEARCH
        ),
    ] = None,
    attainment: Annotated[
        str | None,
        typer.Option(
            help="Also require this share of requests to meet every objective, e.g. 99%.",
            rich_help_panel=_SEARCH,
        ),
    ] = None,
    max_level: Annotated[
        float | None,
        typer.Option(
            "--max",
            help="Highest level tried (default 256).",
            rich_help_panel=_SEARCH,
        ),
    ] = None,
    tolerance: Annotated[
        str | None,
        typer.Option(
            help="Stop bisecting at this width: users, req/s or a % (default 1 user, 10%).",
            rich_help_panel=_SEARCH,
        ),
    ] = None,
    search_from: Annotated[
        float, typer.Option(help="First level tried.", rich_help_panel=_SEARCH)
    ] = 1.0,
    level_duration: Annotated[
        str, typer.Option(help="How long each level is measured.", rich_help_panel=_SEARCH)
    ] = "30s",
    slo: Annotated[
        str, typer.Option(help="Objectives every stage must meet.")
    ] = loadtest.DEFAULT_SLO,
    timeout: Annotated[
        str, typer.Option(help="A request not finished by then is a timeout.")
    ] = "30s",
    prompt_tokens: Annotated[int, typer.Option(help="Prompt size of ramp requests.")] = 256,
    max_tokens: Annotated[int | None, typer.Option(help="max_tokens of ramp requests.")] = None,
    ignore_eos: Annotated[
        bool,
        typer.Option(
            help="With max_tokens, send vLLM's ignore_eos: answers are exactly that long."
        ),
    ] = True,
    json_out: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    html_out: Annotated[Path | None, typer.Option(help="Write Locust's HTML report here.")] = None,
    csv_out: Annotated[
        str | None, typer.Option(help="Write Locust's CSV stats to PREFIX_stats.csv, ...")
    ] = None,
) -> None:
    """Rehearse load against an LLM endpoint, gated by SLOs: a ramp, a trace or recorded
    traffic replayed, or a capacity search. `list` and `show` read the stored runs.

    Exit codes: 0 passed, 1 an SLO breached (or the run stopped early), 3 a capacity search
    was inconclusive, 2 bad input.
    """
    if ctx.invoked_subcommand is not None:
        return
    if target is None:
        raise _fail(loadtest.InputError("missing option --target"))
    options = loadtest.GateOptions(
        target=target,
        model=model,
        shape=shape,
        stages=stages,
        trace_csv=None if trace_csv is None else str(trace_csv),
        time_scale=time_scale,
        trace_window=trace_window,
        trace_users=trace_users,
        since=since,
        until=until,
        service=service,
        agent=agent,
        multiplier=multiplier,
        messages=messages,
        search=search,
        attainment=attainment,
        max_level=max_level,
        tolerance=tolerance,
        search_from=search_from,
        level_duration=level_duration,
        slo=slo,
        timeout=timeout,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        ignore_eos=ignore_eos,
        json_out=None if json_out is None else str(json_out),
        html_out=None if html_out is None else str(html_out),
        csv_out=csv_out,
    )
    try:
        code = loadtest.run_gate(options)
    except (loadtest.InputError, loadtest.GateError) as exc:
        raise _fail(exc) from None
    raise typer.Exit(code)


@app.command("list")
def list_command(
    limit: Annotated[int, typer.Option(help="Show at most this many runs.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the stored load-test runs, latest first."""
    try:
        loadtest.print_runs(limit=limit, as_json=as_json)
    except loadtest.InputError as exc:
        raise _fail(exc) from None


@app.command("show")
def show_command(
    run_id: Annotated[str, typer.Argument(help="The run's id (or a unique prefix of it).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report.")] = False,
) -> None:
    """Show one stored run: its stages, SLO checks, capacity and verdict."""
    try:
        loadtest.print_run(run_id, as_json=as_json)
    except loadtest.InputError as exc:
        raise _fail(exc) from None


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="loadtest")
