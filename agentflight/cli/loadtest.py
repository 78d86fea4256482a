"""``agentflight loadtest``: a Locust ramp (or trace replay) gated by SLOs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import loadtest


def loadtest_command(
    target: Annotated[
        str, typer.Option(help="OpenAI-style base URL, e.g. http://127.0.0.1:8000/v1.")
    ],
    model: Annotated[str, typer.Option(help="Model name sent with every request.")],
    shape: Annotated[
        str, typer.Option(help="ramp (user-count stages) or trace (CSV replay).")
    ] = "ramp",
    stages: Annotated[
        str, typer.Option(help="USERS:SECONDS,... for --shape ramp.")
    ] = loadtest.DEFAULT_STAGES,
    trace_csv: Annotated[
        Path | None,
        typer.Option(help="TIMESTAMP,ContextTokens,GeneratedTokens CSV for --shape trace."),
    ] = None,
    time_scale: Annotated[
        float, typer.Option(help="Replay the trace this many times faster.")
    ] = 1.0,
    trace_window: Annotated[
        str, typer.Option(help="Length of one stage of a trace replay.")
    ] = "10s",
    trace_users: Annotated[
        int | None,
        typer.Option(help="Locust users replaying a trace (default: its peak in flight)."),
    ] = None,
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
    """Ramp load against an LLM endpoint; exit 0 only if every stage meets every SLO."""
    options = loadtest.GateOptions(
        target=target,
        model=model,
        shape=shape,
        stages=stages,
        trace_csv=None if trace_csv is None else str(trace_csv),
        time_scale=time_scale,
        trace_window=trace_window,
        trace_users=trace_users,
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
        typer.echo(f"agentflight loadtest: error: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("loadtest")(loadtest_command)
