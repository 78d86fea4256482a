"""``agentflight dashboard``: the Dash dashboard, over analytics and the collector store."""

from __future__ import annotations

from typing import Annotated

import typer

Opt = typer.Option


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"agentflight dashboard: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def dashboard_command(
    host: Annotated[
        str, Opt(help="Address to listen on. Anything but loopback needs API keys.")
    ] = "127.0.0.1",
    port: Annotated[int, Opt(help="Port to listen on; 0 picks a free one.")] = 8050,
    slo: Annotated[
        str | None,
        Opt(help='Objectives drawn on the latency and load pages, e.g. "ttft_p95<800ms".'),
    ] = None,
    collector_url: Annotated[
        str, Opt(help="Where agents send spans (shown when there are none yet).")
    ] = "http://127.0.0.1:4318",
    replay_target: Annotated[
        str, Opt(help="The target the replay form starts with (an OpenAI-compatible base URL).")
    ] = "",
) -> None:
    """Serve the dashboard until Ctrl-C or SIGTERM.

    It reads $AGENTFLIGHT_CLICKHOUSE_URL, else the embedded server of `agentflight db start`;
    while the database is down the pages say so and recover by themselves. With
    $AGENTFLIGHT_API_KEYS (or _FILE) every request needs a key and sees its project only.
    """
    import dashboards

    if not 0 <= port <= 65535:
        raise _fail(f"--port {port} is not a port (0-65535)")
    try:
        dashboards.serve(
            host,
            port,
            slo=slo,
            collector_url=collector_url,
            replay_target=replay_target,
            announce=typer.echo,
        )
    except ValueError as exc:
        raise _fail(str(exc).splitlines()[0]) from None
    except OSError as exc:  # binding the port
        raise _fail(f"cannot listen on {host}:{port}: {exc}", 1) from None
    typer.echo("agentflight dashboard stopped.")


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard_command)
