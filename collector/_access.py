"""Who may use the embedded server: the one user clients log in as, and its header."""

from __future__ import annotations

import base64

__all__ = ["USER", "basic_authorization"]

USER = "agentflight"


def basic_authorization(secret: str) -> str:
    """The ``Authorization`` header value of :data:`USER` with ``secret`` as its password."""
    return "Basic " + base64.b64encode(f"{USER}:{secret}".encode()).decode()
