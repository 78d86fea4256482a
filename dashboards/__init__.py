"""agentflight dashboards: a Dash app over ``analytics`` and the collector store.

- :func:`serve` runs it until SIGTERM/Ctrl-C (``agentflight dashboard``, ``agentflight up``);
- :func:`running_dashboard` serves it from a background thread while a block runs;
- :func:`create_app` builds the Dash app (its ``.server`` is a WSGI app) for tests or for
  another WSGI server.

Pages, filters, security and figures: docs/dashboards.md.
"""

from dashboards._app import DEFAULT_COLLECTOR_URL, DEFAULT_REFRESH_S, create_app
from dashboards._server import RunningDashboard, running_dashboard, serve

__all__ = [
    "DEFAULT_COLLECTOR_URL",
    "DEFAULT_REFRESH_S",
    "RunningDashboard",
    "create_app",
    "running_dashboard",
    "serve",
]
