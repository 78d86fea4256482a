"""What a stream proxy learns from its chunks: TTFT, the TBT summary, usage and output.

Only content-bearing chunks are timed (a text delta, a refusal, a tool-call delta; for plain
generators any non-empty chunk). Timestamps come from ``time.perf_counter_ns`` and are
summarised once, when the stream ends: never one span event per chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.util.types import AttributeValue

from . import semconv
from ._gaps import gap_summary
from ._messages import Message, fields, output_message
from ._response import usage_attributes


def timing_attributes(start_ns: int, times: list[int], chunks: int) -> dict[str, AttributeValue]:
    """TTFT (seconds), chunk count and TBT summary (milliseconds) from chunk timestamps."""
    attributes: dict[str, AttributeValue] = {
        semconv.LLM_STREAMED: True,
        semconv.LLM_CHUNK_COUNT: chunks,
        semconv.LLM_TBT_COUNT: max(len(times) - 1, 0),
    }
    if not times:
        return attributes
    attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (times[0] - start_ns) / 1e9
    if len(times) > 1:
        p50, p95, largest, histogram = gap_summary(times)
        attributes[semconv.LLM_TBT_MEAN_MS] = (times[-1] - times[0]) / (len(times) - 1) / 1e6
        attributes[semconv.LLM_TBT_P50_MS] = p50 / 1e6
        attributes[semconv.LLM_TBT_P95_MS] = p95 / 1e6
        attributes[semconv.LLM_TBT_MAX_MS] = largest / 1e6
        attributes[semconv.LLM_TBT_HISTOGRAM] = histogram
    return attributes


class StreamStats:
    """Per-stream accumulator for LLM streams; the proxy feeds it every chunk."""

    __slots__ = (
        "empty",
        "finish_reasons",
        "model",
        "response_id",
        "role",
        "start_ns",
        "text0",
        "texts",
        "times",
        "tool_calls",
        "usage",
    )

    def __init__(self, start_ns: int, capture: bool) -> None:
        self.start_ns = start_ns
        self.times: list[int] = []
        self.empty = 0  # chunks without content; the others are timed in ``times``
        # Text per choice index; ``None`` when content capture is off. ``text0`` is choice
        # 0's list, appended to directly by the proxy's fast path for ``str`` chunks.
        self.text0: list[str] | None = [] if capture else None
        self.texts: dict[int, list[str]] | None = (
            {0: self.text0} if self.text0 is not None else None
        )
        self.tool_calls: dict[tuple[int, int], dict[str, Any]] = {}
        self.finish_reasons: dict[int, str] = {}
        self.role: str | None = None
        self.usage: Any = None
        self.model: str | None = None
        self.response_id: str | None = None

    def observe(self, chunk: Any) -> bool:
        """Account for a chunk that is not a ``str``; returns whether it carried content.

        The common OpenAI chunk, a dict or the SDK's model, holding one choice whose delta
        carries text (no usage, no finish reason, no tool calls), is read here with a handful
        of subscripts. Every other chunk goes to ``_observe_other``, which leaves the same
        state for these (a property test holds the two to it).
        """
        # A model's fields are its ``__dict__`` (pydantic keeps them there), as ``fields`` reads.
        values: Any
        if type(chunk) is dict:
            values = chunk
        else:
            values = getattr(chunk, "__dict__", None)
            if type(values) is not dict:
                return self._observe_other(chunk)
        if "choices" in values:
            try:  # subscripts, not ``get``: a missing key is rare and takes the general path
                (choice,) = values["choices"]
                if type(choice) is not dict:
                    choice = choice.__dict__
                delta = choice["delta"]
                if type(delta) is not dict:
                    delta = delta.__dict__
                if (
                    not choice["finish_reason"]
                    and ("tool_calls" not in delta or not delta["tool_calls"])
                    and ("usage" not in values or values["usage"] is None)
                ):
                    if self.model is None and ("model" in values or "id" in values):
                        self._identify(values.get)
                    text = delta["content"] or delta.get("refusal")
                    if text:
                        texts = self.texts
                        if texts is not None:
                            if not self.role:
                                self.role = delta.get("role")
                            index = choice.get("index")
                            (texts[0] if not index else texts.setdefault(index, [])).append(text)
                        return True
                    if self.role is None:
                        self.role = delta.get("role")
                    return False
            except (AttributeError, KeyError, TypeError, ValueError):
                pass
        return self._observe_other(chunk)

    def _observe_other(self, chunk: Any) -> bool:
        """``observe`` for any chunk: dicts and objects field by field, bytes by length."""
        get: Callable[[str], Any]
        if isinstance(chunk, dict):
            if "choices" not in chunk and "usage" not in chunk:
                return bool(chunk)
            get = chunk.get
        elif hasattr(chunk, "choices"):
            get = fields(chunk).get
        elif isinstance(chunk, (bytes, bytearray)):
            return bool(chunk)
        else:
            return chunk is not None
        return self._observe_fields(get)

    def _identify(self, get: Callable[[str], Any]) -> None:
        """Read the response model and id; called until a chunk's model is a string."""
        model, response_id = get("model"), get("id")
        if isinstance(model, str):
            self.model = model
        if isinstance(response_id, str):
            self.response_id = response_id

    def _observe_fields(self, get: Callable[[str], Any]) -> bool:
        if self.model is None:
            self._identify(get)
        usage = get("usage")
        if usage is not None:
            self.usage = usage
        content = False
        for choice in get("choices") or ():
            values = choice if type(choice) is dict else fields(choice)
            index = values.get("index") or 0
            reason = values.get("finish_reason")
            if reason:
                self.finish_reasons[index] = reason
            delta = values.get("delta")
            if delta is None:
                continue
            delta_values = delta if type(delta) is dict else fields(delta)
            text = delta_values.get("content") or delta_values.get("refusal")
            calls = delta_values.get("tool_calls")
            if text or calls:
                content = True
                if self.texts is not None:
                    self.role = self.role or delta_values.get("role")
                    if text:
                        self.texts.setdefault(index, []).append(text)
                    if calls:
                        self._add_tool_calls(index, calls)
            elif self.role is None:
                self.role = delta_values.get("role")
        return content

    def _add_tool_calls(self, index: int, calls: Any) -> None:
        for call in calls:
            get = fields(call).get
            slot = self.tool_calls.setdefault(
                (index, get("index") or 0),
                {"id": None, "function": {"name": None, "arguments": ""}},
            )
            slot["id"] = slot["id"] or get("id")
            function = get("function")
            if function is not None:
                function_get = fields(function).get
                slot["function"]["name"] = slot["function"]["name"] or function_get("name")
                slot["function"]["arguments"] += function_get("arguments") or ""

    def attributes(self) -> dict[str, AttributeValue]:
        """Timing, response model/id, finish reasons and usage, as span attributes."""
        chunks = len(self.times) + self.empty
        attributes = timing_attributes(self.start_ns, self.times, chunks)
        if self.model is not None:
            attributes[semconv.GEN_AI_RESPONSE_MODEL] = self.model
        if self.response_id is not None:
            attributes[semconv.GEN_AI_RESPONSE_ID] = self.response_id
        if self.finish_reasons:
            attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = [
                self.finish_reasons[i] for i in sorted(self.finish_reasons)
            ]
        attributes.update(usage_attributes(self.usage))
        return attributes

    def output_messages(self) -> list[Message] | None:
        """The streamed output as semconv output messages (``None`` if capture is off)."""
        if self.texts is None:
            return None
        indexes = sorted(
            {i for i, texts in self.texts.items() if texts}
            | {i for i, _ in self.tool_calls}
            | set(self.finish_reasons)
        )
        return [
            output_message(
                self.role,
                "".join(self.texts.get(i, ())),
                [call for (c, _), call in sorted(self.tool_calls.items()) if c == i],
                self.finish_reasons.get(i),
            )
            for i in indexes
        ]
