"""The dashboard's guard, over real sockets: Host checks against DNS rebinding, API keys on
every route (Dash's callback routes included) with data confined to the key's project, and
no callback run by a cross-site request."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from collector import Store
from dashboards import RunningDashboard, create_app, running_dashboard
from tests.dashboards.seed import Known

CALLBACK = "/_dash-update-component"
KEYS = {"key-of-p1": "p1", "key-of-p2": "p2"}


def overview_request(state: dict[str, Any]) -> dict[str, Any]:
    """The request Dash's renderer sends for the overview's figures."""
    return {
        "output": "ov-cards.children",
        "outputs": {"id": "ov-cards", "property": "children"},
        "inputs": [
            {"id": "page-state", "property": "data", "value": state},
            {"id": "live-interval", "property": "n_intervals", "value": None},
        ],
        "changedPropIds": ["page-state.data"],
        "state": [],
    }


def calls_shown(response: httpx.Response) -> float:
    """The value of the overview's calls card in a callback response."""
    cards = response.json()["response"]["ov-cards"]["children"]["props"]["children"]
    (card,) = [c for c in cards if c["props"]["id"] == "card-calls"]
    return float(card["props"]["data-value"])


def session(base: str, **kwargs: Any) -> httpx.Client:
    """A client that has loaded the page (so it holds the CSRF cookie), as a browser would."""
    client = httpx.Client(base_url=base, timeout=30, **kwargs)
    assert client.get("/").status_code == 200
    return client


def post_callback(client: httpx.Client, body: dict[str, Any], **headers: str) -> httpx.Response:
    token = client.cookies.get("agentflight_csrf") or ""
    wanted = {"Content-Type": "application/json", "X-CSRFToken": token} | headers
    return client.post(CALLBACK, content=json.dumps(body), headers=wanted)


@pytest.fixture(scope="module")
def open_dashboard(store_factory: Callable[[], Store], known: Known) -> Iterator[RunningDashboard]:
    with running_dashboard(store_factory=store_factory, api_keys={}, refresh_s=3600) as d:
        yield d


@pytest.fixture(scope="module")
def keyed_dashboard(store_factory: Callable[[], Store], known: Known) -> Iterator[RunningDashboard]:
    with running_dashboard(store_factory=store_factory, api_keys=KEYS, refresh_s=3600) as d:
        yield d


def test_a_foreign_host_header_is_refused(open_dashboard: RunningDashboard) -> None:
    url = open_dashboard.url
    for host in ("evil.example", f"evil.example:{open_dashboard.port}", "127.0.0.2.nip.io"):
        response = httpx.get(url + "/", headers={"Host": host})
        assert response.status_code == 403, host
        assert "Host" in response.text
        assert httpx.get(url + "/_dash-layout", headers={"Host": host}).status_code == 403
    for host in (f"localhost:{open_dashboard.port}", f"127.0.0.1:{open_dashboard.port}"):
        assert httpx.get(url + "/", headers={"Host": host}).status_code == 200


def test_a_cross_site_post_runs_no_callback(open_dashboard: RunningDashboard, known: Known) -> None:
    client = session(open_dashboard.url)
    body = overview_request({"project": "p2"})
    # What a page on another site can send without a CORS preflight: a text/plain POST.
    forged = httpx.post(
        open_dashboard.url + CALLBACK,
        content=json.dumps(body),
        headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
    )
    assert forged.status_code == 403
    assert "ov-cards" not in forged.text
    for headers in (
        {"Origin": "http://evil.example"},  # the browser's own cookie, a foreign page
        {"Sec-Fetch-Site": "cross-site"},
        {"X-CSRFToken": "guessed"},
        {"Content-Type": "text/plain"},
    ):
        assert post_callback(client, body, **headers).status_code == 403, headers
    # The same request from the dashboard's own page runs.
    own = post_callback(client, body, Origin=open_dashboard.url)
    assert own.status_code == 200
    assert calls_shown(own) == known.production_calls(project="p2")


def test_every_route_needs_a_key_when_keys_are_set(keyed_dashboard: RunningDashboard) -> None:
    url = keyed_dashboard.url
    for path in (
        "/",
        "/latency",
        "/_dash-layout",
        "/_dash-dependencies",
        "/assets/agentflight.css",
    ):
        response = httpx.get(url + path)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert httpx.post(url + CALLBACK, json={}).status_code == 401
    wrong = base64.b64encode(b"me:nope").decode()
    assert httpx.get(url + "/", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    right = base64.b64encode(b"anyone:key-of-p1").decode()
    assert httpx.get(url + "/", headers={"Authorization": f"Basic {right}"}).status_code == 200
    assert httpx.get(url + "/", headers={"Authorization": "Bearer key-of-p1"}).status_code == 200
    assert httpx.get(url + "/", headers={"x-api-key": "key-of-p2"}).status_code == 200


def test_a_key_sees_only_its_project(keyed_dashboard: RunningDashboard, known: Known) -> None:
    client = session(keyed_dashboard.url, auth=("me", "key-of-p2"))
    for asked in ({}, {"project": "p1"}, {"project": "' OR 1=1 --"}):
        response = post_callback(client, overview_request(asked))
        assert response.status_code == 200
        assert calls_shown(response) == known.production_calls(project="p2"), asked
    # The page drawn for the key fixes the project filter to the key's project.
    drawn = post_callback(client, router_request("/", "?project=p1")).text
    (dropdown,) = [c for c in components(json.loads(drawn)) if c.get("id") == "f-project"]
    assert (dropdown["value"], dropdown["disabled"]) == ("p2", True)


def router_request(pathname: str, search: str) -> dict[str, Any]:
    """The request of Dash's page router for a URL."""
    return {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": pathname},
            {"id": "_pages_location", "property": "search", "value": search},
        ],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [],
    }


def components(tree: Any) -> Iterator[dict[str, Any]]:
    """The props of every component in a serialised Dash layout."""
    if isinstance(tree, dict):
        if "props" in tree and "type" in tree:
            yield tree["props"]
        for value in tree.values():
            yield from components(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from components(item)


def test_a_dashboard_off_loopback_needs_api_keys(store_factory: Callable[[], Store]) -> None:
    with pytest.raises(ValueError, match="without API keys"):
        create_app(store_factory, host="0.0.0.0", api_keys={})
    with pytest.raises(ValueError, match="without API keys"):
        create_app(store_factory, host="192.168.1.7", api_keys={})
    create_app(store_factory, host="0.0.0.0", api_keys=KEYS)
