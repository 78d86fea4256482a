"""``agentflight simulate-llm``: serve the OpenAI-compatible LLM simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

import loadtest

_CAPACITY = "Capacity (defaults for every model; a profile's model tables override them)"
_FAILURES = "Failure injection"


def _flag(help_text: str, panel: str = _CAPACITY) -> Any:
    return typer.Option(help=help_text, rich_help_panel=panel, show_default=False)


def simulate_llm(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port; 0 picks a free one (the URL is printed).")
    ] = 8000,
    profile: Annotated[
        Path | None, typer.Option(help="JSON or TOML file mapping model names to capacity.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Makes lengths, text and failures repeatable.")
    ] = None,
    max_batch: Annotated[
        int | None, _flag("B: sequences decoding at once; more queue. (default 16)")
    ] = None,
    prefill_base_ms: Annotated[
        float | None, _flag("Prefill time of any prompt. (default 20)")
    ] = None,
    prefill_ms_per_token: Annotated[
        float | None, _flag("Prefill time per prompt token. (default 0.02)")
    ] = None,
    tbt_base_ms: Annotated[
        float | None, _flag("Decode step time with one sequence. (default 15)")
    ] = None,
    tbt_slope_ms: Annotated[
        float | None, _flag("Added to each step per active sequence. (default 0.5)")
    ] = None,
    reasoning_tokens: Annotated[
        int | None, _flag("Hidden reasoning tokens before content. (default 0)")
    ] = None,
    output_tokens: Annotated[
        int | None, _flag("Median answer length in tokens. (default 128)")
    ] = None,
    output_tokens_sigma: Annotated[
        float | None, _flag("Log-normal sigma of the length; 0 = fixed. (default 0)")
    ] = None,
    output_tokens_max: Annotated[int | None, _flag("Longest answer drawn. (default 4096)")] = None,
    error_rate: Annotated[
        float | None, _flag("Share of requests failing with 500/503. (default 0)", _FAILURES)
    ] = None,
    stall_rate: Annotated[
        float | None, _flag("Share of streams that stall once. (default 0)", _FAILURES)
    ] = None,
    stall_ms: Annotated[float | None, _flag("Length of a stall. (default 2000)", _FAILURES)] = None,
    drop_rate: Annotated[
        float | None, _flag("Share of connections dropped mid-answer. (default 0)", _FAILURES)
    ] = None,
    server_timeout: Annotated[
        float | None,
        _flag("Seconds after which requests fail (504); 0 = never. (default 0)", _FAILURES),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Serve an OpenAI-compatible LLM whose latency follows a capacity model."""
    flags = dict(locals(), server_timeout_s=server_timeout)
    overrides = {
        name: value
        for name, value in flags.items()
        if name in loadtest.Capacity.field_names() and value is not None
    }
    try:
        simulator_profile = loadtest.load_profile(profile, overrides)
    except loadtest.ProfileError as exc:
        typer.echo(f"agentflight simulate-llm: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        loadtest.serve(simulator_profile, host=host, port=port, seed=seed, log_level=log_level)
    except OSError as exc:
        typer.echo(
            f"agentflight simulate-llm: cannot listen on {host}:{port}: {exc.strerror or exc}",
            err=True,
        )
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    app.command("simulate-llm")(simulate_llm)
