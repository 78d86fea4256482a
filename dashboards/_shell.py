"""The frame around every page: header, live toggle, database banner, navigation, filter bar.

The URL's query string is the view (:mod:`dashboards._view`). Changing a filter writes the
query string; Dash's page router then renders the page again from it, and the page's
panels read the view from the page's ``page-state`` store. So a view is always exactly what
the URL says, and the back button and shared links work.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import dash
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboards._context import Context, request_project
from dashboards._queries import filter_choices
from dashboards._stores import DOWN_ERRORS
from dashboards._view import FILTER_KEYS, RANGE_LABELS, VIEW_KEYS, View, parse_search

__all__ = ["HEALTH", "LIVE", "NAV", "PAGE_STATE", "app_layout", "page", "register_shell"]

log = logging.getLogger("agentflight.dashboards")

PAGE_STATE = "page-state"
LIVE = "live-interval"
HEALTH = "health-interval"
NAV = (
    ("/", "Overview", "overview"),
    ("/latency", "Latency", "latency"),
    ("/load", "Load", "load"),
    ("/waste", "Waste", "waste"),
    ("/risk", "Risk", "risk"),
    ("/traces", "Traces", "traces"),
    ("/replays", "Replays", "replays"),
    ("/loadtests", "Load tests", "loadtests"),
)
_PLACEHOLDERS = {
    "project": "All projects",
    "service": "All services",
    "model": "All models",
    "agent": "All agents",
    "loadtest_run": "Production (no load test)",
}
_LABELS = {
    "project": "Project",
    "service": "Service",
    "model": "Model",
    "agent": "Agent",
    "loadtest_run": "Load-test run",
}
HEALTH_INTERVAL_MS = 5_000
CHOICES_TTL_S = 30.0


def app_layout(refresh_s: float) -> html.Div:
    """The parts that stay while pages change."""
    return html.Div(
        [
            dcc.Location(id="url", refresh="callback-nav"),
            dcc.Interval(id=LIVE, interval=int(refresh_s * 1000)),
            dcc.Interval(id=HEALTH, interval=HEALTH_INTERVAL_MS),
            html.Header(
                [
                    html.A("agentflight", href="/", className="af-brand"),
                    html.Span("LLM agents in flight", className="af-tagline"),
                    dcc.Checklist(
                        id="live-toggle",
                        options=[{"label": f" Live (every {_every(refresh_s)})", "value": "on"}],
                        value=["on"],
                        persistence=True,
                        className="af-live",
                    ),
                ],
                className="af-header",
            ),
            html.Div(id="db-banner", className="af-banner af-hidden"),
            html.Main(dash.page_container, className="af-main"),
        ]
    )


def _every(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    return f"{seconds / 60:g} min" if seconds < 7200 else f"{seconds / 3600:g} h"


def page(
    name: str,
    view: View,
    body: list[Any],
    *,
    extra: dict[str, Any] | None = None,
    nav: str | None = None,
) -> html.Div:
    """A page: navigation (``nav`` highlighted, default ``name``), the filter bar and
    ``body``; ``extra`` joins the page state.

    ``view`` is confined to the caller's project (with API keys), and the project filter is
    then fixed.
    """
    project = request_project()
    view = view.scoped(project)
    state = view.as_dict() | (extra or {})
    return html.Div(
        [
            _nav(nav or name, view),
            _filter_bar(view, scoped=project is not None),
            dcc.Store(id=PAGE_STATE, data=state),
            html.Div(body, className=f"af-page af-page-{name}", id=f"page-{name}"),
        ]
    )


def _nav(current: str, view: View) -> html.Nav:
    search = view.search()
    return html.Nav(
        [
            dcc.Link(
                label,
                href=path + search,
                id=f"nav-{name}",
                className="af-nav-link af-active" if name == current else "af-nav-link",
            )
            for path, label, name in NAV
        ],
        className="af-nav",
    )


def _filter_bar(view: View, scoped: bool) -> html.Div:
    items = []
    for key in FILTER_KEYS:
        value = getattr(view, key)
        items.append(
            html.Label(
                [
                    html.Span(_LABELS[key]),
                    dcc.Dropdown(
                        id=f"f-{key}",
                        options=[{"label": value, "value": value}] if value else [],
                        value=value or None,
                        placeholder=_PLACEHOLDERS[key],
                        clearable=True,
                        disabled=scoped and key == "project",
                    ),
                ],
                className="af-filter",
            )
        )
    custom = view.range == "custom"
    items.append(
        html.Label(
            [
                html.Span("Time range"),
                dcc.Dropdown(
                    id="f-range",
                    options=[{"label": v, "value": k} for k, v in RANGE_LABELS.items()],
                    value=view.range,
                    clearable=False,
                ),
            ],
            className="af-filter",
        )
    )
    for key, hint in (("since", "e.g. 2h or 2026-01-31T09:00"), ("until", "now")):
        items.append(
            html.Label(
                [
                    html.Span(key.capitalize()),
                    dcc.Input(
                        id=f"f-{key}",
                        type="text",
                        value=getattr(view, key),
                        placeholder=hint,
                        debounce=True,
                    ),
                ],
                className="af-filter af-custom" + ("" if custom else " af-hidden"),
            )
        )
    return html.Div(items, className="af-filters", id="filter-bar")


def _options(values: list[str], current: str) -> list[dict[str, str]]:
    if current and current not in values:
        values = [current, *values]
    return [{"label": v, "value": v} for v in values]


def register_shell(app: Dash, ctx: Context) -> None:
    """The callbacks of the frame: filters to URL, filter choices, banner, live toggle."""

    @app.callback(
        Output("url", "search"),
        [Input(f"f-{key}", "value") for key in (*FILTER_KEYS, "range", "since", "until")],
        State("url", "search"),
        prevent_initial_call=True,
    )
    def filters_to_url(*args: Any) -> Any:
        *values, search = args
        keys = (*FILTER_KEYS, "range", "since", "until")
        view = View.from_query({k: v or "" for k, v in zip(keys, values, strict=True)})
        current = parse_search(search)
        extra = {k: v for k, v in current.items() if k not in VIEW_KEYS}
        wanted = view.search(extra)
        return no_update if parse_search(wanted) == current else wanted

    remembered: dict[tuple[str, ...], tuple[float, dict[str, list[str]]]] = {}

    def choices_for(view: View) -> dict[str, list[str]]:
        """The filter choices of a view's window, kept for :data:`CHOICES_TTL_S`: names
        change slowly, and every page asks for them."""
        key = (view.project, view.range, view.since, view.until)
        now = time.monotonic()
        hit = remembered.get(key)
        if hit is not None and now - hit[0] < CHOICES_TTL_S:
            return hit[1]
        since, until = view.window()
        found = filter_choices(ctx.stores.get(), since, until, view.project)
        if len(remembered) > 256:
            remembered.clear()
        remembered[key] = (now, found)
        return found

    @app.callback(
        [Output(f"f-{key}", "options") for key in FILTER_KEYS],
        Input(PAGE_STATE, "data"),
    )
    def filter_options(state: dict[str, Any] | None) -> list[list[dict[str, str]]]:
        view = ctx.view(state)
        try:
            choices = choices_for(view)
        except ValueError:
            choices = {}  # a bad custom time: the panels say so
        except DOWN_ERRORS:
            if ctx.stores.down() is None:
                log.exception("listing the filter choices failed")
            choices = {}  # the bar keeps the current values
        return [_options(choices.get(k, []), getattr(view, k)) for k in FILTER_KEYS]

    @app.callback(
        Output("db-banner", "children"),
        Output("db-banner", "className"),
        Input(HEALTH, "n_intervals"),
    )
    def banner(_: int | None) -> tuple[Any, str]:
        reason = ctx.stores.down()
        if reason is None:
            return None, "af-banner af-hidden"
        return (
            [
                html.Strong("Database down. "),
                html.Span(
                    f"ClickHouse cannot be reached ({reason}). The dashboard keeps running and "
                    "recovers by itself when the database is back; "
                    "`agentflight db status` tells whether the embedded server runs."
                ),
            ],
            "af-banner af-down",
        )

    # In the browser: the toggle stops the refresh at once, with no round trip.
    app.clientside_callback(
        "function (value) { return !(value || []).includes('on'); }",
        Output(LIVE, "disabled"),
        Input("live-toggle", "value"),
    )
