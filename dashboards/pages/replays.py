"""``/replays``: the stored replay runs with their summaries, and for a chosen run
(``?run=``) its traces and, for one of them (``&trace=``), the recorded trace and its replay
side by side with the diff."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash
from dash import Dash, Input, Output, dcc, html

import replay
from dashboards._context import Context, Query
from dashboards._queries import replay_runs
from dashboards._shell import LIVE, PAGE_STATE, page
from dashboards._ui import empty, fmt_ms, fmt_num, fmt_pct, fmt_usd, graph, kv, section, table
from dashboards._view import View, page_url
from dashboards._waterfall import waterfall
from dashboards.pages.trace import load_trace
from dashboards.pages.traces import TRACE_ID

PATH = "/replays"
_STATUS = {"ok": "af-status-Ok", "error": "af-status-Error", "stopped": "af-status-Error"}


def layout(run: str | None = None, trace: str | None = None, **query: str) -> html.Div:
    view = View.from_query(query)
    return page(
        "replays",
        view,
        [
            html.H2("Replays"),
            section(
                "Replay runs of this window",
                "rp-runs",
                "Each run replays one trace (from its page) or a batch of an agent's runs "
                "(agentflight replay) against another model, prompt or target.",
            ),
            html.Div(id="rp-run"),
        ],
        extra={"run": (run or "").strip()[:64], "trace": (trace or "").strip().lower()[:32]},
    )


def link(view: View, run_id: str, trace_id: str | None = None) -> str:
    """The URL of a run (and one of its traces) on this page, with the view's filters."""
    return page_url(PATH, view, run=run_id, trace=trace_id or "")


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:+.1f} %"


def _runs(q: Query) -> Any:
    runs = replay_runs(q.store, q.since, q.until, q.view.project)
    if not runs:
        return empty(
            "No replay runs in this window.",
            "Replay a trace from its page (Traces, then a trace: Replay), or run "
            "agentflight replay TRACE_ID --base-url URL --model NAME.",
        )
    rows = []
    for r in runs:
        settings = r["settings"]
        what = (
            f"agent {r['agent']}" if r["agent"] else f"trace {str(settings.get('trace_id'))[:12]}"
        )
        rows.append(
            [
                r["created_at"].strftime("%Y-%m-%d %H:%M:%S"),
                dcc.Link(r["run_id"][:12], href=link(q.view, r["run_id"])),
                what,
                settings.get("model") or "(as recorded)",
                fmt_num(r["traces"]),
                html.Span(
                    "passed" if r["passed"] else "failed",
                    className="af-status-Ok" if r["passed"] else "af-status-Error",
                ),
                fmt_pct(r["route_agreement"]),
                "-" if r["mean_similarity"] is None else f"{r['mean_similarity']:.2f}",
                _pct(r["tokens_delta_pct"]),
                _pct(r["cost_delta_pct"]),
                _pct(r["p95_latency_delta_pct"]),
                fmt_num(r["divergences"]),
                fmt_num(r["errors"]),
            ]
        )
    columns = ["Created (UTC)", "Run", "Replayed", "Model", "Traces", "Gate", "Routes agree"]
    columns += ["Similarity", "Tokens", "Cost", "p95 LLM latency", "Divergences", "Errors"]
    return table(columns, rows, "rp-runs-table")


def _load_run(q: Query, run_id: str) -> replay.RunReport | None:
    try:
        report = replay.load_run(q.store, run_id)
    except replay.ReplayInputError:
        return None
    project = q.ctx.project()
    if project is not None and report.settings.get("project") != project:
        return None  # another project's run: as if there were none
    return report


def _records(report: replay.RunReport) -> list[dict[str, Any]]:
    """The run's per-trace JSON records (as stored, or from its results)."""
    if report.traces_json is not None:
        return report.traces_json
    return [result.to_json() for result in report.results]


def _summary(report: replay.RunReport) -> Any:
    s, settings = report.summary, report.settings
    prompt = settings.get("system_prompt")
    facts: list[tuple[str, Any]] = [
        ("Run", report.run_id),
        (
            "Created (UTC)",
            datetime.fromtimestamp(report.created_ns / 1e9, UTC).isoformat(" ", "seconds"),
        ),
        ("Target", str(settings.get("base_url"))),
        ("Model", settings.get("model") or "as recorded"),
        (
            "System prompt",
            (prompt[:300] + ("…" if len(prompt) > 300 else "")) if prompt else "as recorded",
        ),
        ("Traces", fmt_num(s.get("traces"))),
        ("Routes agree", fmt_pct(s.get("route_agreement"))),
        (
            "Mean similarity",
            "-" if s.get("mean_similarity") is None else f"{s['mean_similarity']:.3f}",
        ),
        ("Tokens", _pct(s.get("tokens_delta_pct"))),
        ("Cost", _pct(s.get("cost_delta_pct"))),
        ("p95 LLM latency", _pct(s.get("p95_latency_delta_pct"))),
        ("Divergences / errors", f"{s.get('divergences', 0)} / {s.get('errors', 0)}"),
    ]
    conditions = [c.text for c in report.conditions]
    if conditions:
        failed = s.get("failed_conditions") or []
        facts.append(
            (
                "Gate",
                ("failed: " + ", ".join(failed) if failed else "passed")
                + f" ({', '.join(conditions)})",
            )
        )
    return kv(facts, "rp-summary")


def _traces(view: View, report: replay.RunReport, chosen: str) -> Any:
    rows = []
    for t in _records(report):
        trace_id = str(t.get("trace_id"))
        replayed = str(t.get("replay_trace_id") or "")
        rows.append(
            [
                dcc.Link(
                    ("▶ " if trace_id == chosen else "") + trace_id[:16],
                    href=link(view, report.run_id, trace_id),
                ),
                html.Span(str(t.get("status")), className=_STATUS.get(str(t.get("status")), "")),
                "-" if t.get("similarity") is None else f"{t['similarity']:.3f}",
                "changed" if t.get("route_changed") else "same",
                f"{int(t.get('tokens_delta') or 0):+d}",
                "-" if t.get("cost_delta_usd") is None else f"{t['cost_delta_usd']:+.5f} $",
                f"{float(t.get('latency_delta_ms') or 0):+.0f} ms",
                "-" if t.get("ttft_delta_ms") is None else f"{t['ttft_delta_ms']:+.0f} ms",
                dcc.Link("replayed trace", href=f"/traces/{replayed}{view.search()}")
                if replayed
                else "-",
            ]
        )
    columns = ["Recorded trace", "Status", "Similarity", "Routes", "Tokens", "Cost", "LLM latency"]
    columns += ["TTFT", "Replay"]
    return table(columns, rows, "rp-traces-table")


def _side(q: Query, trace_id: str, title: str, graph_id: str) -> Any:
    _, rows = load_trace(q.store, trace_id, q.ctx.project()) if trace_id else ([], [])
    if not rows:
        return html.Div(
            [
                html.H4(title),
                empty(
                    f"Trace {trace_id or '(none)'} is not stored (yet).",
                    "A replayed trace reaches the database through the collector "
                    "(AGENTFLIGHT_ENDPOINT); this page shows it once it has.",
                ),
            ]
        )
    return html.Div(
        [
            html.H4([title, " ", html.Span(trace_id, className="af-mono")]),
            graph(waterfall(rows), graph_id),
        ]
    )


def _diff_lines(text: str) -> html.Pre:
    lines = []
    for line in text.splitlines():
        cls = (
            "af-diff-add"
            if line.startswith("+") and not line.startswith("+++")
            else "af-diff-del"
            if line.startswith("-") and not line.startswith("---")
            else ""
        )
        lines.append(html.Div(line or " ", className=cls))
    return html.Pre(lines, className="af-pre af-diff", id="rp-output-diff")


def _figures(t: dict[str, Any]) -> Any:
    recorded, replayed = t.get("recorded") or {}, t.get("replayed") or {}
    rows = [
        ["Tokens (LLM calls)", fmt_num(recorded.get("tokens")), fmt_num(replayed.get("tokens"))],
        ["Cost", fmt_usd(recorded.get("cost_usd")), fmt_usd(replayed.get("cost_usd"))],
        [
            "LLM latency (sum)",
            fmt_ms(recorded.get("latency_ms")),
            fmt_ms(replayed.get("latency_ms")),
        ],
        ["TTFT (mean)", fmt_ms(recorded.get("ttft_ms")), fmt_ms(replayed.get("ttft_ms"))],
        ["TBT (mean)", fmt_ms(recorded.get("tbt_ms")), fmt_ms(replayed.get("tbt_ms"))],
    ]
    return table(["", "Recorded", "Replayed"], rows, "rp-figures")


def _describe(key: str, item: Any) -> str:
    """One line for a route change, a divergence, an error or a step not replayed."""
    if not isinstance(item, dict):
        return str(item)
    if key == "routes":
        return (
            f"{item.get('route')}, call {item.get('call')}: "
            f"{item.get('from') or '(none)'} → {item.get('to') or '(none)'}"
        )
    if key == "not_replayed":
        return f"{item.get('step')}: {item.get('reason')}"
    if key == "divergences":
        return (
            f"skill {item.get('skill')} with arguments {item.get('arguments')}: "
            f"{item.get('resolution') or item.get('policy')}"
        )
    return ", ".join(f"{k}: {v}" for k, v in item.items())


def _notes(t: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for key, title in (
        ("routes", "Routes that changed"),
        ("divergences", "Divergences"),
        ("errors", "Errors"),
        ("not_replayed", "Not replayed"),
    ):
        items = t.get(key) or []
        if items:
            out += [html.H4(title), html.Ul([html.Li(_describe(key, item)) for item in items])]
    skills = t.get("skills") or {}
    changed = {k: v for k, v in skills.items() if v}
    if changed:
        out += [html.H4("Skills"), kv([(k, str(v)) for k, v in changed.items()])]
    return out


def _comparison(q: Query, report: replay.RunReport, chosen: str) -> Any:
    t = next((t for t in _records(report) if t.get("trace_id") == chosen), None)
    if t is None:
        return None
    replayed = str(t.get("replay_trace_id") or "")
    similarity = "-" if t.get("similarity") is None else f"{t['similarity']:.3f}"
    return html.Section(
        [
            html.H3(["Recorded and replayed, side by side (similarity ", similarity, ")"]),
            html.Div(
                [
                    _side(q, chosen, "Recorded", "rp-recorded-graph"),
                    _side(q, replayed, "Replayed", "rp-replayed-graph"),
                ],
                className="af-side",
            ),
            _figures(t),
            html.H4("Output diff"),
            _diff_lines(str(t.get("output_diff") or ""))
            if t.get("output_diff")
            else html.P("The outputs are the same (or there was none).", className="af-note"),
            *_notes(t),
        ],
        className="af-panel",
        id="rp-comparison",
    )


def _run(q: Query, run_id: str, trace_id: str) -> Any:
    if not run_id:
        return None
    report = _load_run(q, run_id)
    if report is None:
        return html.Section(empty(f"No replay run {run_id}."), className="af-panel")
    ids = [str(t.get("trace_id")) for t in _records(report)]
    chosen = trace_id if trace_id in ids else (ids[0] if ids else "")
    return html.Div(
        [
            html.Section(
                [
                    html.H3(f"Run {run_id}"),
                    _summary(report),
                    html.H4("Traces"),
                    _traces(q.view, report, chosen),
                ],
                className="af-panel",
                id="rp-run-detail",
            ),
            _comparison(q, report, chosen),
        ]
    )


def register(app: Dash, ctx: Context) -> None:
    dash.register_page(
        __name__, path=PATH, name="Replays", title="agentflight: replays", layout=layout
    )

    @app.callback(
        Output("rp-runs", "children"),
        Output("rp-run", "children"),
        Input(PAGE_STATE, "data"),
        Input(LIVE, "n_intervals"),
    )
    def update(state: dict[str, Any], _: int | None) -> Any:
        run_id = str((state or {}).get("run") or "")
        trace_id = str((state or {}).get("trace") or "")

        def build(q: Query) -> tuple[Any, Any]:
            wanted = trace_id if TRACE_ID.match(trace_id) else ""
            return _runs(q), _run(q, run_id, wanted)

        return ctx.render(state, build, needs_spans=False, spread=lambda panel: (panel, None))
