"""OpenAI chat-completion wire format: SSE chunks and whole responses, as bytes.

Content chunks are the hot path of a load test (one per token per stream), so they are
formatted from a per-request template instead of a ``json.dumps`` of a fresh dict each time.
"""

from __future__ import annotations

import json
from typing import Any

from loadtest._completions import Plan

__all__ = ["DONE", "ChunkWriter", "completion_body", "error_body", "sse", "usage"]

DONE = b"data: [DONE]\n\n"
SYSTEM_FINGERPRINT = "fp_agentflight_sim"


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def error_body(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def usage(plan: Plan) -> dict[str, Any]:
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.completion_tokens,
        "total_tokens": plan.prompt_tokens + plan.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": plan.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _message(plan: Plan) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": plan.content, "refusal": None}
    if plan.tool_call is not None:
        call = plan.tool_call
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
        ]
    return message


def completion_body(plan: Plan, request_id: str, created: int) -> dict[str, Any]:
    """The JSON of a non-streamed response."""
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": created,
        "model": plan.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": _message(plan),
                "logprobs": None,
                "finish_reason": plan.finish_reason,
            }
        ],
        "usage": usage(plan),
    }


class ChunkWriter:
    """Formats the SSE chunks of one streamed response."""

    __slots__ = ("_head", "_plan", "_tail")

    def __init__(self, plan: Plan, request_id: str, created: int) -> None:
        self._plan = plan
        head = {
            "id": request_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": plan.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        # '{"id":...,"system_fingerprint":"..."' without the closing brace.
        self._head = b"data: " + json.dumps(head, separators=(",", ":")).encode()[:-1]
        self._tail = b',"usage":null}\n\n' if plan.include_usage else b"}\n\n"

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return (
            self._head
            + b',"choices":['
            + json.dumps(choice, separators=(",", ":")).encode()
            + b"]"
            + self._tail
        )

    def role(self) -> bytes:
        return self._chunk({"role": "assistant", "content": "", "refusal": None})

    def piece(self, index: int) -> bytes:
        """The chunk of visible token ``index``."""
        plan = self._plan
        text = plan.pieces[index]
        if plan.tool_call is None:
            return (
                self._head
                + b',"choices":[{"index":0,"delta":{"content":'
                + json.dumps(text).encode()
                + b'},"logprobs":null,"finish_reason":null}]'
                + self._tail
            )
        call: dict[str, Any] = {"index": 0, "function": {"arguments": text}}
        if index == 0:
            call = {
                "index": 0,
                "id": plan.tool_call.id,
                "type": "function",
                "function": {"name": plan.tool_call.name, "arguments": text},
            }
        return self._chunk({"tool_calls": [call]})

    def finish(self) -> bytes:
        return self._chunk({}, self._plan.finish_reason)

    def usage(self) -> bytes:
        payload = (
            self._head
            + b',"choices":[],"usage":'
            + json.dumps(usage(self._plan), separators=(",", ":")).encode()
        )
        return payload + b"}\n\n"
