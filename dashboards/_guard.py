"""Who may talk to the dashboard: a WSGI layer in front of every route, Dash's included.

A port on 127.0.0.1 is reachable from any web page the user opens, so three checks run
before the app sees a request:

1. **Host** (DNS rebinding): the ``Host`` header must name the bound address or a loopback
   name (``localhost``, ``127.0.0.1``, ``[::1]``); a page on ``evil.example`` that re-points
   its name at 127.0.0.1 sends ``Host: evil.example`` and gets 403. Bound to a wildcard
   address (``0.0.0.0``, ``::``), which needs API keys, any host name is accepted: every
   request then carries a key.
2. **API key**, when keys are configured (``AGENTFLIGHT_API_KEYS``, as for the collector):
   HTTP Basic with the key as the password (what a browser prompts for), or
   ``Authorization: Bearer KEY`` / ``x-api-key: KEY``; else 401. The key's project is put in
   the WSGI environ (:data:`PROJECT_KEY`) and every figure is confined to it.
3. **Cross-site writes**: anything but GET/HEAD must be ``application/json``, come from the
   same origin (``Origin``, ``Sec-Fetch-Site``) and carry the CSRF token: the value of the
   :data:`CSRF_COOKIE` cookie (set on every page, ``SameSite=Strict``) echoed in the
   ``X-CSRFToken`` header, which Dash's renderer does by itself. A cross-site form or
   ``text/plain`` fetch can do none of these, so it runs no callback (403).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from collector.auth import Authenticator, AuthError
from collector.config import is_loopback

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["CSRF_COOKIE", "CSRF_HEADER", "PROJECT_KEY", "Guard"]

PROJECT_KEY = "agentflight.project"
CSRF_COOKIE = "agentflight_csrf"
CSRF_HEADER = "X-CSRFToken"
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def _hostname(host: str) -> str:
    """``"[::1]:8050"`` -> ``"::1"``, ``"LocalHost:80"`` -> ``"localhost"``."""
    try:
        name = urlsplit(f"//{host}").hostname
    except ValueError:
        return ""
    return (name or "").lower()


class Guard:
    """The WSGI middleware; ``Guard(app.server.wsgi_app, host=..., auth=...)``."""

    def __init__(self, app: WSGIApplication, *, host: str, auth: Authenticator) -> None:
        self._app = app
        self._auth = auth
        bound = host.strip("[]").lower()
        if not auth.required and not is_loopback(bound):
            raise ValueError(
                f"refusing to serve the dashboard on {host} without API keys: anyone who can "
                "reach it could read every trace. Set AGENTFLIGHT_API_KEYS (or "
                "AGENTFLIGHT_API_KEYS_FILE), or listen on 127.0.0.1."
            )
        self._any_host = bound in _WILDCARDS
        self._hosts = _LOOPBACK_NAMES | {bound}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        refusal = self._check(request)
        if refusal is not None:
            return refusal(environ, start_response)
        if request.cookies.get(CSRF_COOKIE):
            return self._app(environ, start_response)
        token = secrets.token_urlsafe(32)
        cookie = f"{CSRF_COOKIE}={token}; Path=/; SameSite=Strict"

        def with_cookie(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            return start_response(status, [*headers, ("Set-Cookie", cookie)], *args)

        return self._app(environ, with_cookie)

    def _check(self, request: Request) -> Response | None:
        if not self._any_host and _hostname(request.host) not in self._hosts:
            return _refuse(403, "unexpected Host header: open the dashboard at its own address")
        if self._auth.required:
            try:
                project = self._auth.project(_key_headers(request))
            except AuthError as exc:
                response = _refuse(401, f"{exc} (or as the password of HTTP Basic)")
                response.headers["WWW-Authenticate"] = 'Basic realm="agentflight", charset="UTF-8"'
                return response
            request.environ[PROJECT_KEY] = project
        if request.method not in _SAFE_METHODS:
            return self._check_write(request)
        return None

    def _check_write(self, request: Request) -> Response | None:
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
            return _refuse(403, "cross-origin request refused")
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return _refuse(403, "cross-site request refused")
        if request.mimetype != "application/json":
            return _refuse(403, "only application/json requests may change anything")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        header = request.headers.get(CSRF_HEADER, "")
        if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
            return _refuse(403, "missing or wrong CSRF token: reload the page")
        return None


def _key_headers(request: Request) -> dict[str, str]:
    """The headers :class:`Authenticator` reads, with a Basic password as ``x-api-key``."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "basic" and not headers.get("x-api-key"):
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        headers["x-api-key"] = decoded.partition(":")[2]
    return headers


def _refuse(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")
