"""``agentflight replay``: re-run recorded traces against a new prompt or model, and gate.

agentflight replay TRACE_ID --base-url URL [--model M] [...]
agentflight replay --agent NAME --base-url URL [--fail-if "..."] [...]
agentflight replay show RUN_ID [--json]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from collector.errors import AgentflightStorageError

if TYPE_CHECKING:
    import replay

_PARAM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)
_OVERRIDES = "Overrides"
_BATCH = "Batch (--agent)"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"agentflight replay: error: {message}", err=True)
    return typer.Exit(2)


def _params(values: list[str]) -> dict[str, Any]:
    import replay

    params: dict[str, Any] = {}
    for value in values:
        match = _PARAM.match(value)
        if match is None:
            raise replay.ReplayInputError(f"--param must be key=value, got {value!r}")
        try:
            params[match[1]] = json.loads(match[2])
        except ValueError:
            params[match[1]] = match[2]  # a bare word is a string
    return params


def _system_prompt(path: Path | None) -> str | None:
    import replay

    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        message = f"--system-prompt {path}: cannot read it ({reason})"
        raise replay.ReplayInputError(message) from None


def _option(help_text: str, panel: str | None = None, **kwargs: Any) -> Any:
    return typer.Option(help=help_text, rich_help_panel=panel, **kwargs)


def replay_command(
    trace_id: Annotated[
        str | None,
        typer.Argument(help="The trace to replay (or `show RUN_ID`).", show_default=False),
    ] = None,
    run_id: Annotated[
        str | None, typer.Argument(help="With `show`: the run to show.", show_default=False)
    ] = None,
    base_url: Annotated[
        str | None, _option("OpenAI-compatible target, e.g. http://127.0.0.1:8000/v1.")
    ] = None,
    mode: Annotated[
        str | None,
        _option(
            "agent (re-run the agent's code) or llm (re-issue each LLM call). "
            "Default: agent when the trace has an entry point."
        ),
    ] = None,
    entrypoint: Annotated[
        str | None, _option("module:function to call instead of the recorded entry point.")
    ] = None,
    api_key: Annotated[
        str | None, _option("Key for the target (default: $OPENAI_API_KEY).", show_default=False)
    ] = None,
    model: Annotated[str | None, _option("Model for every LLM call.", _OVERRIDES)] = None,
    system_prompt: Annotated[
        Path | None, _option("File whose text replaces the system prompt.", _OVERRIDES)
    ] = None,
    step: Annotated[
        str | None, _option("Replace the system prompt of this LLM step only.", _OVERRIDES)
    ] = None,
    param: Annotated[
        list[str] | None,
        _option("Request parameter k=v (repeatable), e.g. temperature=0.2.", _OVERRIDES),
    ] = None,
    policy: Annotated[
        str, _option("A skill call with no recorded match: live, fail or nearest.")
    ] = "fail",
    cassette: Annotated[
        Path | None, _option("Record HTTP (target, live skills) here; play it back later.")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the JSON report instead of tables.")
    ] = False,
    json_out: Annotated[Path | None, _option("Also write the JSON report here.")] = None,
    agent: Annotated[str | None, _option("Replay recorded runs of this agent.", _BATCH)] = None,
    service: Annotated[str | None, _option("Only runs of this service.", _BATCH)] = None,
    since: Annotated[str, _option("Runs started this long ago or later.", _BATCH)] = "24h",
    limit: Annotated[int, _option("At most this many runs, newest first.", _BATCH)] = 200,
    concurrency: Annotated[int, _option("Traces replayed at once.", _BATCH)] = 16,
    fail_if: Annotated[
        str | None,
        _option('Exit 1 when any holds, e.g. "similarity<0.8,errors>0".', _BATCH),
    ] = None,
    include_replays: Annotated[
        bool,
        typer.Option("--include-replays", help="Select replays too.", rich_help_panel=_BATCH),
    ] = False,
) -> None:
    """Replay recorded traces against a new prompt or model; diff; gate with --fail-if."""
    if trace_id == "show":
        _show(run_id, json_output)
        return
    if run_id is not None:
        raise _fail(f"unexpected argument {run_id!r}")
    if trace_id is not None and agent is not None:
        raise _fail("give a TRACE_ID or --agent NAME, not both")
    if base_url is None:
        raise _fail("--base-url is required: the OpenAI-compatible target to replay against")
    import replay  # the OpenAI SDK and the engine load for this command only
    from collector.store import Store

    try:
        options = replay.ReplayOptions(
            base_url=base_url, mode=mode, entrypoint=entrypoint, api_key=api_key, model=model,
            system_prompt=_system_prompt(system_prompt), step=step, params=_params(param or []),
            policy=policy, cassette=cassette, concurrency=concurrency,
        )  # fmt: skip
        with Store.connect() as store:
            report = replay.run(
                store, options, trace_id=trace_id, agent=agent, service=service, since=since,
                limit=limit, include_replays=include_replays, fail_if=fail_if,
            )  # fmt: skip
    except replay.ReplayInputError as exc:
        raise _fail(str(exc)) from None
    except (AgentflightStorageError, ValueError) as exc:
        raise _fail(str(exc)) from None
    _output(report, json_output, json_out)
    raise typer.Exit(0 if report.passed else 1)


def _output(report: replay.RunReport, json_output: bool, json_out: Path | None) -> None:
    if json_out is not None:
        try:
            with json_out.open("w", encoding="utf-8") as stream:
                report.write_json(stream)
        except OSError as exc:
            raise _fail(f"--json-out {json_out}: {exc.strerror or exc}") from None
    if json_output:
        report.write_json(sys.stdout)
    else:
        console = Console()
        if not console.is_terminal:  # piped: do not squeeze the tables into 80 columns
            console = Console(width=200)
        report.print(console)


def _show(run_id: str | None, json_output: bool) -> None:
    import replay
    from collector.store import Store

    if not run_id:
        raise _fail("usage: agentflight replay show RUN_ID [--json]")
    try:
        with Store.connect() as store:
            report = replay.load_run(store, run_id)
    except (replay.ReplayInputError, AgentflightStorageError) as exc:
        raise _fail(str(exc)) from None
    _output(report, json_output, None)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)
