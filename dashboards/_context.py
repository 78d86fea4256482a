"""What every page callback shares: the store, the settings, the caller's project, and one
way to turn a view into panels, with the empty, error and database-down states."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import flask

import analytics
from collector import Store
from dashboards._guard import PROJECT_KEY
from dashboards._stores import DOWN_ERRORS, Stores, first_line
from dashboards._ui import empty
from dashboards._view import View

__all__ = ["Context", "Query", "current_context", "request_project", "together"]

log = logging.getLogger("agentflight.dashboards")
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dashboard-query")


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent queries of one panel at the same time; their results in order.

    ClickHouse answers them in parallel, and polars and numpy release the GIL.
    """
    futures = [_POOL.submit(call) for call in calls]
    return [future.result() for future in futures]


_ANY_SPAN = """
SELECT count() FROM (SELECT 1 FROM {db:Identifier}.genai_spans
                     WHERE {project:String} = '' OR project = {project:String} LIMIT 1)
"""


def current_context() -> Context:
    """The context of the app serving the current request."""
    ctx = flask.current_app.extensions["agentflight"]
    assert isinstance(ctx, Context)
    return ctx


def request_project() -> str | None:
    """The project of the current request's API key; None when keys are off."""
    project = flask.request.environ.get(PROJECT_KEY)
    return None if project is None else str(project)


@dataclass(frozen=True, slots=True)
class Query:
    """A page callback's question: the view, its window, and where to ask."""

    view: View
    since: datetime
    until: datetime
    store: Store
    ctx: Context

    @property
    def filters(self) -> analytics.Filters:
        return self.view.filters()


@dataclass(frozen=True)
class Context:
    stores: Stores
    slo: analytics.SLO | None
    prices: analytics.PriceTable
    collector_url: str
    auth_required: bool
    replay_target: str = ""
    """The target the replay form starts with (e.g. the demo's simulator)."""

    def project(self) -> str | None:
        """The caller's project when API keys are on (the guard put it in the environ)."""
        project = request_project()
        if self.auth_required and not project:
            # The guard lets no keyless request through; never show every project.
            raise PermissionError("no project for this request")
        return project

    def view(self, state: Mapping[str, Any] | None) -> View:
        return View.from_query(state or {}).scoped(self.project())

    def down_panel(self, reason: str) -> Any:
        return empty(
            "The database is unreachable, so there is nothing to draw.",
            f"This page fills in again by itself once ClickHouse answers ({reason}).",
            kind="down",
        )

    def render(
        self,
        state: Mapping[str, Any] | None,
        build: Callable[[Query], Any],
        outputs: int = 1,
        *,
        needs_spans: bool = True,
        spread: Callable[[Any], Any] | None = None,
    ) -> Any:
        """``build(query)``'s panels, or the same state in every output when it cannot run:
        a bad custom time, no spans, the database down, or a failure (logged).

        ``spread`` maps that one state to the outputs when they are not all ``children``.
        """
        if spread is None:

            def spread(panel: Any) -> Any:
                return _spread(panel, outputs)

        try:
            view = self.view(state)
            since, until = view.window()
        except ValueError as exc:
            return spread(empty(f"Bad time range: {exc}", kind="error"))
        try:
            store = self.stores.get()
            if needs_spans:
                missing = self._missing(store, view, since, until)
                if missing is not None:
                    return spread(missing)
            return build(Query(view, since, until, store, self))
        except DOWN_ERRORS as exc:
            reason = self.stores.down()
            if reason is not None:
                return spread(self.down_panel(reason))
            log.exception("a dashboard query failed")
            return spread(empty(f"The query failed: {first_line(exc)}", kind="error"))
        except ValueError as exc:
            return spread(empty(str(exc), kind="error"))
        except Exception as exc:  # a bug: logged in full, one line on the page
            log.exception("a dashboard panel failed")
            return spread(
                empty(
                    f"This panel failed: {first_line(exc)}",
                    "See the dashboard's log.",
                    kind="error",
                )
            )

    def _missing(self, store: Store, view: View, since: datetime, until: datetime) -> Any:
        if analytics.count_spans(store, since, until, view.filters()):
            return None
        anything = store.query(_ANY_SPAN, {"project": view.project}).result_rows[0][0]
        if not anything:
            return empty(
                f"No spans yet: point your agent at {self.collector_url}",
                "tracer.configure() sends there by default; any OpenTelemetry exporter works "
                f"too (OTEL_EXPORTER_OTLP_ENDPOINT={self.collector_url}).",
            )
        return empty(
            f"No spans {view.describe()}.",
            "Widen the time range or clear a filter.",
        )


def _spread(panel: Any, outputs: int) -> Any:
    return panel if outputs == 1 else tuple(panel for _ in range(outputs))
