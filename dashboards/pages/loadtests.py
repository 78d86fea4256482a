"""``/loadtests``: the stored load-test runs (``loadtest_runs``), and for the chosen run (the
load-test run filter) its stages, SLO verdicts and capacity, linked to its traces."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import dash
import plotly.graph_objects as go
from dash import Dash, Input, Output, dcc, html

import analytics
from dashboards._charts import slo_lines
from dashboards._context import Context, Query
from dashboards._queries import loadtest_report, loadtest_runs
from dashboards._shell import LIVE, PAGE_STATE, page
from dashboards._ui import empty, fmt_ms, fmt_num, fmt_pct, graph, kv, plot_layout, section, table
from dashboards._view import View

PATH = "/loadtests"
_VERDICT = {"passed": "af-status-Ok", "breached": "af-status-Error"}


def layout(**query: str) -> html.Div:
    view = View.from_query(query)
    return page(
        "loadtests",
        view,
        [
            html.H2("Load tests"),
            section(
                "Runs started in this window",
                "lt-runs",
                "Stored by agentflight loadtest at the end of each run; choose one for its "
                "stages (or pick it in the load-test run filter).",
            ),
            html.Div(id="lt-run"),
        ],
    )


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _runs(q: Query) -> Any:
    runs = loadtest_runs(q.store, q.since, q.until, q.view.project)
    if not runs:
        return empty(
            f"No load-test runs stored {q.view.describe().split(' for ')[0]}.",
            "Widen the time range, or run one: agentflight loadtest --target URL --model NAME "
            '--stages 10:30,25:30 --slo "ttft_p95<800ms" (runs are kept when a database is '
            "configured).",
        )
    rows = []
    for r in runs:
        capacity = (
            f"{r['capacity_value']:g} ({r['search']})"
            if r["capacity_value"] is not None
            else "-"
            if r["capacity_users"] is None
            else f"{r['capacity_users']} users"
        )
        rows.append(
            [
                _when(r["started_at"]),
                dcc.Link(
                    r["run_id"], href=PATH + replace(q.view, loadtest_run=r["run_id"]).search()
                ),
                r["search"] or r["shape"],
                r["model"] or "-",
                html.Span(r["verdict"], className=_VERDICT.get(r["verdict"], "")),
                fmt_num(r["stages"]),
                fmt_num(r["requests"]),
                capacity,
                r["slo"] or "-",
            ]
        )
    columns = ["Started (UTC)", "Run", "Shape", "Model", "Verdict", "Stages", "Requests"]
    columns += ["Capacity", "Objectives"]
    return table(columns, rows, "lt-runs-table")


def _run_view(view: View, report: dict[str, Any]) -> View:
    """The window of the run (a minute either side), on its own spans."""
    start = datetime.fromtimestamp(float(report.get("started_at") or 0), UTC)
    end = start + timedelta(seconds=float(report.get("duration_s") or 0))
    return replace(
        view,
        loadtest_run=str(report.get("run_id") or ""),
        range="custom",
        since=(start - timedelta(minutes=1)).isoformat(timespec="seconds"),
        until=(end + timedelta(minutes=1)).isoformat(timespec="seconds"),
    )


def _triple(value: Any, key: str) -> Any:
    return (value or {}).get(key)


def _stages(report: dict[str, Any]) -> Any:
    stages = report.get("stages") or []
    if not stages:
        return empty("This run evaluated no stage.")
    rows = [
        [
            s.get("stage"),
            fmt_num(s.get("users")),
            fmt_num(s.get("requests")),
            fmt_ms(_triple(s.get("ttft_ms"), "p95")),
            fmt_ms(_triple(s.get("tbt_ms"), "p99")),
            fmt_ms(_triple(s.get("e2e_ms"), "p95")),
            fmt_pct(s.get("error_rate"), 2),
            fmt_pct(s.get("timeout_rate"), 2),
            fmt_pct(s.get("attainment")),
            "-" if s.get("goodput_per_s") is None else f"{s['goodput_per_s']:.1f}/s",
            html.Span(
                "met" if s.get("passed") else "breached",
                className="af-status-Ok" if s.get("passed") else "af-status-Error",
            ),
            "; ".join(
                f"{c.get('slo')}: {_observed(c)} {'ok' if c.get('passed') else 'BREACHED'}"
                for c in s.get("checks") or []
            ),
        ]
        for s in stages
    ]
    columns = ["Stage", "Users", "Requests", "TTFT p95", "TBT p99", "E2E p95", "Errors"]
    columns += ["Timeouts", "Attainment", "Goodput", "Objectives", "Checks"]
    return table(columns, rows, "lt-stages-table")


def _observed(check: dict[str, Any]) -> str:
    value = check.get("observed")
    if value is None:
        return "no data"
    slo = str(check.get("slo") or "")
    return fmt_pct(value, 2) if slo.startswith(("error_rate", "timeout_rate")) else fmt_ms(value)


def _figure(report: dict[str, Any]) -> Any:
    stages = [s for s in report.get("stages") or [] if s.get("users") is not None]
    if not stages:
        return None
    users = [s["users"] for s in stages]
    fig = go.Figure()
    for key, label, color in (
        ("ttft_ms", "TTFT p95", "#2563eb"),
        ("tbt_ms", "TBT p99", "#059669"),
    ):
        pct = "p95" if key == "ttft_ms" else "p99"
        fig.add_trace(
            go.Scatter(
                x=users,
                y=[_triple(s.get(key), pct) for s in stages],
                mode="lines+markers",
                name=label,
                line={"color": color},
                hovertemplate=f"{label} at %{{x}} users: %{{y:.0f}} ms<extra></extra>",
            )
        )
    try:
        objectives = (
            analytics.parse_slo(",".join(report.get("slo") or [])) if report.get("slo") else None
        )
    except ValueError:  # a report written by another version: draw no lines rather than fail
        objectives = None
    slo_lines(fig, objectives, "ttft")
    slo_lines(fig, objectives, "tbt")
    plot_layout(fig, y_title="ms", x_title="users (concurrent)", height=300)
    return graph(fig, "lt-stages-graph")


def _run(q: Query) -> Any:
    run_id = q.view.loadtest_run
    if not run_id:
        return None
    report = loadtest_report(q.store, run_id, q.view.project)
    if report is None:
        return html.Section(
            empty(
                f"No stored report for load-test run {run_id}.",
                "Its spans may be here without its report (a run without a database keeps its "
                "report in a JSON file).",
            ),
            className="af-panel",
        )
    run_view = _run_view(q.view, report)
    capacity = report.get("capacity") or {}
    facts = [
        ("Run", run_id),
        (
            "Verdict",
            html.Span(
                str(report.get("verdict")), className=_VERDICT.get(str(report.get("verdict")), "")
            ),
        ),
        ("Target", f"{report.get('target')} ({report.get('model') or 'recorded models'})"),
        ("Shape", str(report.get("shape"))),
        ("Objectives", ", ".join(report.get("slo") or []) or "-"),
        ("Capacity", _capacity(report, capacity)),
        ("Duration", f"{float(report.get('duration_s') or 0):.0f} s"),
        (
            "Its spans",
            html.Span(
                [
                    dcc.Link("traces", href="/traces" + run_view.search()),
                    " · ",
                    dcc.Link("latency against load", href="/load" + run_view.search()),
                    " · ",
                    dcc.Link("latency", href="/latency" + run_view.search()),
                ]
            ),
        ),
    ]
    warnings = report.get("warnings") or []
    return html.Section(
        [
            html.H3(f"Run {run_id}"),
            kv(facts, "lt-run-facts"),
            *(
                [html.P("Warnings: " + "; ".join(map(str, warnings)), className="af-note")]
                if warnings
                else []
            ),
            html.H4("Stages"),
            _figure(report),
            _stages(report),
        ],
        className="af-panel",
        id="lt-run-detail",
    )


def _capacity(report: dict[str, Any], capacity: dict[str, Any]) -> str:
    if capacity.get("value") is not None:
        return f"{capacity['value']:g} {capacity.get('metric', '')} ({capacity.get('verdict', '')})"
    if report.get("capacity_users") is not None:
        return f"{report['capacity_users']} users met every objective"
    return "no stage met every objective"


def register(app: Dash, ctx: Context) -> None:
    dash.register_page(
        __name__, path=PATH, name="Load tests", title="agentflight: load tests", layout=layout
    )

    @app.callback(
        Output("lt-runs", "children"),
        Output("lt-run", "children"),
        Input(PAGE_STATE, "data"),
        Input(LIVE, "n_intervals"),
    )
    def update(state: dict[str, Any], _: int | None) -> Any:
        def build(q: Query) -> tuple[Any, Any]:
            return _runs(q), _run(q)

        return ctx.render(state, build, needs_spans=False, spread=lambda panel: (panel, None))
