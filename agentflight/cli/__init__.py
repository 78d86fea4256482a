"""The ``agentflight`` console script.

Thin by design: every subcommand parses its flags and calls one function of the package it
belongs to. Each command group lives in a module of its own and registers itself in
:func:`build_app`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

__all__ = ["main"]

SERVER_EXTRA_HINT = (
    "agentflight: this command needs the server extra. Install it with:\n"
    "    pip install 'agentflight[server]'"
)


def build_app() -> typer.Typer:
    """Assemble the Typer application from the command modules."""
    import typer

    from agentflight.cli import dashboard as dashboard_cli
    from agentflight.cli import db
    from agentflight.cli import loadtest as loadtest_cli
    from agentflight.cli import replay as replay_cli
    from agentflight.cli import report as report_cli
    from agentflight.cli import serve as serve_cli
    from agentflight.cli import simulate as simulate_cli
    from agentflight.cli import spool as spool_cli
    from agentflight.cli import up as up_cli

    app = typer.Typer(
        name="agentflight",
        help="A flight recorder for LLM agents.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.add_typer(db.app, name="db")
    app.add_typer(spool_cli.app, name="spool")
    up_cli.register(app)
    serve_cli.register(app)
    simulate_cli.register(app)
    loadtest_cli.register(app)
    report_cli.register(app)
    replay_cli.register(app)
    dashboard_cli.register(app)
    return app


def main() -> None:
    """Entry point of the ``agentflight`` script."""
    try:
        app = build_app()
    except ImportError as exc:  # the tracer-only install has no typer, clickhouse-connect, ...
        print(f"{SERVER_EXTRA_HINT}\n({exc})", file=sys.stderr)
        raise SystemExit(2) from None
    app()
