"""Auth and isolation: keys on every path, projects kept apart, injection strings inert.

Guarantee: with API keys configured, a missing or wrong key gets 401 on every write and read
path of the collector and the dashboard; a key reads and writes only its own project, whatever
the payload, filters or parameters claim; SQL-injection strings in any parameter are values,
never SQL.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from collector import Store
from dashboards import running_dashboard
from tests.collector.conftest import LiveCollector, all_stored, count, wait_until
from tests.collector.otlp_builders import PROTOBUF, request, span
from tests.reliability.harness import Row

KEYS = {"key-alpha": "alpha", "key-beta": "beta"}
INJECTIONS = (
    "' OR 1=1 --",
    "x'); DROP TABLE otel_traces; --",
    "beta' UNION SELECT * FROM system.tables --",
    "{db:Identifier}",
    "\\'; SELECT sleep(3) --",
    "alpha\x00beta",
)
BAD_CREDENTIALS: tuple[dict[str, str], ...] = (
    {},
    {"authorization": "Bearer nope"},
    {"x-api-key": "key-alpha2"},
    {"authorization": "Basic a2V5LWFscGhh"},  # the right key, in the wrong scheme
    {"authorization": "Bearer key-alph"},
)


def trace(name: str, claim: str | None = None) -> tuple[Any, str]:
    trace_id = os.urandom(16)
    resource: dict[str, Any] = {"service.name": name}
    if claim is not None:
        resource["agentflight.project"] = claim  # a payload trick: overridden by the key
    start = time.time_ns() - 60_000_000_000
    req = request([span(name, trace_id=trace_id, start_ns=start)], resource=resource)
    return req, trace_id.hex()


def test_keys_everywhere_and_projects_apart(
    start_collector: Callable[..., LiveCollector], store: Store
) -> None:
    live = start_collector(api_keys=KEYS)
    alpha, alpha_id = trace("alpha-svc", claim="beta")
    beta, beta_id = trace("beta-svc")
    probes = 0
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for credentials in BAD_CREDENTIALS:
            for method, path in (("POST", "/v1/traces"), ("GET", "/api/traces"),
                                 ("GET", f"/api/traces/{beta_id}")):  # fmt: skip
                body = alpha.SerializeToString() if method == "POST" else None
                headers = {**PROTOBUF, **credentials}
                answer = http.request(method, path, content=body, headers=headers)
                probes += 1
                assert answer.status_code == 401, (method, path, credentials)
        assert count(store) == 0  # nothing was written without a key
        ok = http.post("/v1/traces", content=alpha.SerializeToString(),
                       headers={**PROTOBUF, "x-api-key": "key-alpha"})  # fmt: skip
        assert ok.status_code == 200
        ok = http.post("/v1/traces", content=beta.SerializeToString(),
                       headers={**PROTOBUF, "x-api-key": "key-beta"})  # fmt: skip
        assert ok.status_code == 200
        wait_until(lambda: all_stored(store, alpha_id, 1) and all_stored(store, beta_id, 1))
        projects = dict(store.query(
            "SELECT trace_id, project FROM {db:Identifier}.genai_spans").result_rows)  # fmt: skip
        assert projects == {alpha_id: "alpha", beta_id: "beta"}  # the claim was overridden
        as_alpha = {"x-api-key": "key-alpha"}
        leaks = 0
        for params in ({}, {"project": "beta"}, {"service": "beta-svc"},
                       {"project": "' OR 1=1 --"}):  # fmt: skip
            listed = http.get("/api/traces", params=params, headers=as_alpha).json()["traces"]
            probes += 1
            leaks += sum(1 for t in listed if t["trace_id"] == beta_id)
        for path in (f"/api/traces/{beta_id}", f"/api/traces/{beta_id}?project=beta"):
            probes += 1
            leaks += http.get(path, headers=as_alpha).status_code != 404
        injected = 0
        for value in INJECTIONS:
            for name in ("service", "since", "until", "status", "model", "agent", "project",
                         "limit"):  # fmt: skip
                answer = http.get("/api/traces", params={name: value}, headers=as_alpha)
                injected += 1
                assert answer.status_code in (200, 400, 422), (name, value, answer.text)
                if answer.status_code == 200:
                    leaks += sum(1 for t in answer.json()["traces"] if t["trace_id"] == beta_id)
            answer = http.get(f"/api/traces/{quote(value, safe='')}", headers=as_alpha)
            injected += 1
            assert answer.status_code in (400, 404), (value, answer.text)
    assert count(store) == 2  # every table is still there, with what it had

    def stores() -> Store:
        return Store.connect(store.url, database=store.database, apply_migrations=False)

    with (
        running_dashboard(store_factory=stores, api_keys=KEYS) as dashboard,
        httpx.Client(timeout=30) as http,
    ):
        for path in ("/", "/latency", "/traces", f"/traces/{beta_id}", "/_dash-layout",
                     "/_dash-dependencies"):  # fmt: skip
            for credentials in BAD_CREDENTIALS:
                probes += 1
                answer = http.get(dashboard.url + path, headers=credentials)
                assert answer.status_code == 401, (path, credentials)
            assert http.get(dashboard.url + path, headers=as_alpha).status_code == 200
    Row("auth and isolation", f"{probes} probes, {injected} injection strings",
        "no key, wrong keys, another project's filters and ids, payload claims (lost: leaks)",
        probes + injected, "-", "-", leaks, "-").record()  # fmt: skip
    assert leaks == 0
