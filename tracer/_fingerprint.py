"""The request fingerprint of a chat call: finds duplicate requests without their content.

A hash of the model, the request parameters and the messages, recorded whether or not
content capture is on, so analytics can count an LLM request identical to an earlier one in
the same trace as wasted (cause ``duplicate``). Computed once per call, in the chat span's
start path, from a canonical JSON encoding (sorted keys, no whitespace). Calls without
messages (no ``messages`` or ``prompt`` argument) get no fingerprint: their request is not
known, and two of them are not duplicates of each other.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

from . import semconv
from ._binding import MISSING, ParamReader
from ._errors import internal_error

__all__ = ["REQUEST_SHAPING", "add_fingerprint", "request_fingerprint"]

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
_REQUEST_PREFIX = "gen_ai.request."


def _plain(value: Any) -> Any:
    """A JSON-able stand-in for SDK objects (pydantic models), else their ``str``."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):  # a model class (response_format=Model)
        return dump()
    return str(value)


def add_fingerprint(
    attributes: dict[str, Any],
    reader: ParamReader,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    messages_params: tuple[str, ...],
    system_params: tuple[str, ...],
) -> None:
    """Set ``agentflight.llm.request.fingerprint`` in ``attributes``; never raises."""
    try:
        messages = MISSING
        for param in messages_params:
            messages = reader.get(param, args, kwargs)
            if messages is not MISSING:
                break
        if messages is MISSING or messages is None:
            return
        system = next(
            (v for p in system_params if (v := reader.get(p, args, kwargs)) is not MISSING),
            None,
        )
        parameters: dict[str, Any] = {
            k: v for k, v in attributes.items() if k.startswith(_REQUEST_PREFIX)
        }
        shaping: dict[str, Any] = {k: kwargs[k] for k in REQUEST_SHAPING if k in kwargs}
        fingerprint = request_fingerprint(parameters, shaping, system, messages)
        attributes[semconv.LLM_REQUEST_FINGERPRINT] = fingerprint
    except Exception as exc:
        internal_error(exc, "fingerprinting an LLM request")


def request_fingerprint(
    parameters: dict[str, Any], shaping: dict[str, Any], system: Any, messages: Any
) -> str:
    """Hex BLAKE2b-128 of the canonical JSON of ``[parameters, shaping, system, messages]``.

    ``parameters`` are the call's ``gen_ai.request.*`` attributes (the model included),
    ``shaping`` the OpenAI arguments in :data:`REQUEST_SHAPING` that were passed.
    """
    text = json.dumps(
        [parameters, shaping, system, messages],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_plain,
    )
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
