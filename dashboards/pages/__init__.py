"""One module per page; each has ``register(app, ctx)`` (its ``dash.register_page`` call and
its callbacks) and a ``layout(**query)`` that Dash's router calls with the URL's parameters."""

from __future__ import annotations

from dashboards.pages import (
    latency,
    load,
    loadtests,
    overview,
    replays,
    risk,
    trace,
    traces,
    waste,
)

__all__ = ["PAGES"]

PAGES = (overview, latency, load, waste, risk, traces, trace, replays, loadtests)
