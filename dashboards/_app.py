"""The Dash application: the frame, the pages, and the guard in front of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import cast

from dash import Dash

import analytics
from collector import Store
from collector.auth import Authenticator
from collector.config import CollectorSettings
from dashboards._context import Context
from dashboards._guard import CSRF_COOKIE, CSRF_HEADER, Guard
from dashboards._shell import app_layout, register_shell
from dashboards._stores import Stores, default_store_factory
from dashboards.pages import PAGES

__all__ = ["DEFAULT_COLLECTOR_URL", "DEFAULT_REFRESH_S", "create_app"]

DEFAULT_COLLECTOR_URL = "http://127.0.0.1:4318"
DEFAULT_REFRESH_S = 10.0
MAX_REQUEST_BYTES = 1024 * 1024
_ASSETS = Path(__file__).resolve().parent / "assets"


def create_app(
    store_factory: Callable[[], Store] | None = None,
    *,
    host: str = "127.0.0.1",
    slo: analytics.SLO | str | None = None,
    prices: analytics.PriceTable | None = None,
    api_keys: Mapping[str, str] | None = None,
    collector_url: str = DEFAULT_COLLECTOR_URL,
    refresh_s: float = DEFAULT_REFRESH_S,
    replay_target: str = "",
) -> Dash:
    """Build the dashboard; serve ``app.server`` (a Flask WSGI app) with any WSGI server.

    ``store_factory`` makes the connection (default: ``Store.connect()``), on first use and
    again after a failure. ``host`` is the address the app is served on: it decides which
    ``Host`` headers are accepted and, when not loopback, requires API keys. ``api_keys``
    (``{key: project}``) default to the collector's (``AGENTFLIGHT_API_KEYS``/``_FILE``).
    ``slo`` (``"ttft_p95<800ms,..."``) draws objective lines. ``collector_url`` is shown in
    the empty state; ``replay_target`` fills the replay form's target. Raises ValueError for
    a bad setting.
    """
    if refresh_s <= 0:
        raise ValueError(f"refresh_s must be positive, got {refresh_s}")
    keys = CollectorSettings.resolve().api_keys if api_keys is None else api_keys
    auth = Authenticator(keys)
    objectives = analytics.parse_slo(slo) if isinstance(slo, str) else slo
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        assets_folder=str(_ASSETS),
        title="agentflight",
        update_title=cast(str, None),  # no "Updating..." in the tab title
        serve_locally=True,
        csrf_token_name=CSRF_COOKIE,
        csrf_header_name=CSRF_HEADER,
    )
    ctx = Context(
        stores=Stores(store_factory or default_store_factory),
        slo=objectives,
        prices=prices or analytics.load_prices(),
        collector_url=collector_url,
        auth_required=auth.required,
        replay_target=replay_target,
    )
    app.layout = app_layout(refresh_s)
    register_shell(app, ctx)
    for module in PAGES:
        module.register(app, ctx)
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    server.wsgi_app = Guard(server.wsgi_app, host=host, auth=auth)
    server.extensions["agentflight"] = ctx
    return app
