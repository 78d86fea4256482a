"""The request fingerprint of a chat call: finds duplicate requests without their content.

A hash of the model, the request parameters and the messages, recorded whether or not
content capture is on, so analytics can count an LLM request identical to an earlier one in
the same trace as wasted (cause ``duplicate``). Computed once per call, in the chat span's
start path. Calls without messages (no ``messages`` or ``prompt`` argument) get no
fingerprint: their request is not known, and two of them are not duplicates of each other.

The hashed text is one JSON array, ``[parameters, shaping, system, messages]``:
``parameters`` (the ``gen_ai.request.*`` attributes) with sorted keys, then the shaping
arguments, the system instructions and the messages in their exact typed JSON
(``tracer.exact``, keys in the order given). That typed JSON is the very text the exact form
of the request (``agentflight.content.input``) embeds, so with content capture on the
messages are serialised once for both (:class:`RequestTexts`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Final

from . import exact

__all__ = [
    "REQUEST_SHAPING",
    "RequestTexts",
    "canonical",
    "fingerprint",
    "request_fingerprint",
]

# OpenAI arguments that change the answer beyond the GenAI request attributes.
REQUEST_SHAPING: Final = (
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "response_format",
    "reasoning_effort",
    "logit_bias",
    "n",
)
REQUEST_PREFIX: Final = "gen_ai.request."

canonical = exact.compact_encoder(sort_keys=True)  # parameters: plain attribute values
_blake2b = hashlib.blake2b


class RequestTexts:
    """Typed JSON texts of a request's values, by argument name, each serialised once.

    The fingerprint reads them, and the exact form of the request splices them in rather
    than serialising the same values again. ``plain`` says whether a value's typed JSON is
    also its plain JSON (no ``$type`` tags), so that a display form can reuse it too.
    """

    __slots__ = ("_texts",)

    def __init__(self) -> None:
        self._texts: dict[str, tuple[Any, str, bool]] = {}

    def text(self, name: str, value: Any) -> str:
        """The typed JSON of ``value`` (passed as argument ``name``), kept for reuse."""
        tree = exact.encode(value)
        text = exact.dumps_tree(tree)
        self._texts[name] = (value, text, tree is value)
        return text

    def get(self, name: str, value: Any) -> tuple[str, bool] | None:
        """The text kept for argument ``name`` if it was made from this very ``value``."""
        known = self._texts.get(name)
        if known is None or known[0] is not value:
            return None
        return known[1], known[2]

    def __bool__(self) -> bool:
        return bool(self._texts)


def fingerprint(
    parameters_text: str,
    shaping: Iterable[tuple[str, str]],
    system_text: str,
    messages_text: str,
) -> str:
    """Hex BLAKE2b-128 of ``[parameters, {shaping}, system, messages]`` from their JSON texts
    (``parameters_text``: :func:`canonical` of the parameters)."""
    shaped = ",".join([f'"{name}":{text}' for name, text in shaping])
    text = f"[{parameters_text},{{{shaped}}},{system_text},{messages_text}]"
    return _blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def request_fingerprint(
    parameters: dict[str, Any], shaping: dict[str, Any], system: Any, messages: Any
) -> str:
    """The fingerprint of a request given as values (what a chat span records for it).

    ``parameters`` are the call's ``gen_ai.request.*`` attributes (the model included),
    ``shaping`` the OpenAI arguments in :data:`REQUEST_SHAPING` that were passed.
    """
    shaped = [(name, exact.dumps(shaping[name])) for name in REQUEST_SHAPING if name in shaping]
    return fingerprint(canonical(parameters), shaped, exact.dumps(system), exact.dumps(messages))
