"""What chat spans record: request, usage, response, streams, in-flight load and waste.

The same spec serves ``@tracer.llm`` and the OpenAI instrumentation. An instrumented OpenAI
call made while an ``@tracer.llm`` span is current does not open a second chat span: it
records onto that span (one model call, one chat span, no double-counted tokens), and usage
from several such calls is summed.
"""

from __future__ import annotations

import json
import os
import types
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from . import exact, semconv
from ._binding import MISSING, ParamReader, signature
from ._content import add_content, add_text, encode_request, set_attributes, set_with_content
from ._errors import internal_error
from ._fingerprint import REQUEST_PREFIX, REQUEST_SHAPING, RequestTexts, canonical, fingerprint
from ._inflight import INFLIGHT
from ._messages import (
    field,
    input_messages,
    output_message,
    output_messages_from_choices,
    system_instructions,
)
from ._response import (
    CLIENT_OPTIONS,
    LLM_REQUEST_FIELDS,
    OPENAI_PARAMETERS,
    REQUEST_PARAMETERS,
    USAGE_KEYS,
    completion_attributes,
    given,
    is_truncated,
    looks_like_completion,
    output_type,
    request_value,
)
from ._run import Run, Spec
from ._settings import Settings
from ._span import set_auto_waste
from ._specs import code_attributes
from ._stats import StreamStats
from ._stream import ABANDONED, AsyncStream, GeneratorStream, SyncStream

# Open chat runs by id of their span, for the OpenAI instrumentation to find the one it
# is called under. Entries leave when the span ends, before the span can be collected.
_OPEN: dict[int, Run] = {}
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_OPEN.clear)  # the parent's calls are not the child's
_USAGE_KEYS = frozenset(USAGE_KEYS)
_MESSAGE_PARAMS = ("messages", "prompt")
_SYSTEM_PARAMS = ("system", "instructions", "system_prompt")
_CAPTURED = ("response_format",)
_REQUEST_FIELD_SET = frozenset(LLM_REQUEST_FIELDS)
_NOT_A_STREAM, _SYNC, _ASYNC = 0, 1, 2
_stream_kinds: dict[type, int] = {
    types.GeneratorType: _SYNC,
    types.AsyncGeneratorType: _ASYNC,
    SyncStream: _SYNC,
    GeneratorStream: _SYNC,
    AsyncStream: _ASYNC,
}

ExtraAttributes = Callable[[tuple[Any, ...], dict[str, Any]], dict[str, AttributeValue]]


def _typed_json(name: str, value: Any) -> str:
    return exact.dumps(value)


def stream_kind(value: Any) -> int:
    """Whether a return value is a stream of chunks: a generator or an OpenAI stream."""
    cls = type(value)
    kind = _stream_kinds.get(cls)
    if kind is None:
        kind = _NOT_A_STREAM
        if cls.__module__.startswith("openai"):
            names = {base.__name__ for base in cls.__mro__}
            kind = _ASYNC if "AsyncStream" in names else _SYNC if "Stream" in names else kind
        _stream_kinds[cls] = kind
    return kind


class LLMSpec(Spec):
    """A ``chat`` span; request parameters are read from same-named call arguments."""

    __slots__ = (
        "dynamic_model",
        "enrich",
        "extra",
        "fixed_name",
        "message_params",
        "model",
        "parameters",
        "reader",
        "reads_format",
        "request",
        "request_fields",
        "static_request",
        "static_request_text",
        "system_params",
        "var_keyword",
    )
    llm = True

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None,
        model: str | None,
        provider: str | None,
        *,
        enrich: bool = False,
        extra: ExtraAttributes | None = None,
    ) -> None:
        static: dict[str, AttributeValue] = {semconv.GEN_AI_OPERATION_NAME: semconv.OP_CHAT}
        if provider:
            static[semconv.GEN_AI_PROVIDER_NAME] = provider
        if model:
            static[semconv.GEN_AI_REQUEST_MODEL] = model
        if not enrich:
            static.update(code_attributes(fn))
        span_name = name or (f"{semconv.OP_CHAT} {model}" if model else semconv.OP_CHAT)
        super().__init__(span_name, static, SpanKind.CLIENT)
        self.fixed_name = name is not None
        self.model = model
        # The OpenAI instrumentation (``enrich``) knows its arguments; user functions get
        # the unambiguous names only.
        self.parameters = OPENAI_PARAMETERS if enrich else REQUEST_PARAMETERS
        sig = signature(fn)
        self.reader = ParamReader(
            sig, [*self.parameters, "model", *_MESSAGE_PARAMS, *_SYSTEM_PARAMS, *_CAPTURED]
        )
        self.dynamic_model = model is None and "model" in self.reader
        self.request = tuple(n for n in self.parameters if n in self.reader)
        # The exact request (content capture): named parameters, plus **kwargs if any.
        params = sig.parameters if sig is not None else {}
        self.request_fields = tuple(n for n in LLM_REQUEST_FIELDS if n in params)
        self.var_keyword = any(p.kind is p.VAR_KEYWORD for p in params.values())
        self.enrich = enrich
        self.extra = extra
        # Decided once: which arguments a call can pass, and the fingerprint's fixed part.
        self.message_params = tuple(p for p in _MESSAGE_PARAMS if p in self.reader)
        self.system_params = tuple(p for p in _SYSTEM_PARAMS if p in self.reader)
        self.reads_format = "response_format" in self.reader
        self.static_request = {k: v for k, v in static.items() if k.startswith(REQUEST_PREFIX)}
        self.static_request_text = canonical(self.static_request)

    def _request(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], capture: Settings | None
    ) -> tuple[str, dict[str, Any], str, list[str]]:
        """Span name, request attributes, the in-flight key (the model, or "") and, with
        ``capture`` (the settings when content is captured), the content attributes too and
        the keys of those that were cut."""
        attributes = self.static.copy()
        parameters: dict[str, Any] | None = None  # gen_ai.request.* attributes, if not static
        name = self.name
        reader = self.reader
        model = self.model
        if self.dynamic_model:
            value = reader.get("model", args, kwargs)
            model = value if isinstance(value, str) else None
            if model is not None:
                attributes[semconv.GEN_AI_REQUEST_MODEL] = model
                parameters = {**self.static_request, semconv.GEN_AI_REQUEST_MODEL: model}
                if not self.fixed_name:
                    name = f"{semconv.OP_CHAT} {model}"
        for param in self.request:
            value = reader.get(param, args, kwargs)
            if value is not MISSING:
                key = self.parameters[param]
                converted = request_value(key, value)
                if converted is not None:
                    if parameters is None:
                        parameters = self.static_request.copy()
                    attributes[key] = parameters[key] = converted
        if self.reads_format:
            response_format = reader.get("response_format", args, kwargs)
            if response_format is not MISSING and given(response_format):
                kind = output_type(response_format)
                if kind is not None:
                    attributes[semconv.GEN_AI_OUTPUT_TYPE] = kind
        if self.extra is not None:
            extra = self.extra(args, kwargs)
            attributes.update(extra)
            added = {k: v for k, v in extra.items() if k.startswith(REQUEST_PREFIX)}
            if added:
                parameters = {**(parameters or self.static_request), **added}
        texts = RequestTexts() if capture is not None else None
        parameters_text = self.static_request_text if parameters is None else None
        self._fingerprint(attributes, parameters_text or parameters, texts, args, kwargs)
        cut_keys: list[str] = []
        if texts is not None and capture is not None:
            self._content(attributes, cut_keys, capture, texts, args, kwargs)
        return name, attributes, model or "", cut_keys

    def _fingerprint(
        self,
        attributes: dict[str, Any],
        parameters: str | dict[str, Any] | None,
        texts: RequestTexts | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        """Set ``agentflight.llm.request.fingerprint``, keeping the typed JSON texts it is
        made of in ``texts`` (for the exact form, when content is captured); never raises."""
        reader = self.reader
        messages = system = MISSING
        for param in self.message_params:
            messages = reader.get(param, args, kwargs)
            if messages is not MISSING:
                break
        for system_param in self.system_params:
            system = reader.get(system_param, args, kwargs)
            if system is not MISSING:
                break
        if messages is MISSING or messages is None:
            return
        try:
            text = texts.text if texts is not None else _typed_json
            shaping = (
                [(k, text(k, kwargs[k])) for k in REQUEST_SHAPING if k in kwargs] if kwargs else []
            )
            system_text = "null" if system is MISSING else text(system_param, system)
            messages_text = text(param, messages)
            parameters_text = parameters if type(parameters) is str else canonical(parameters)
            attributes[semconv.LLM_REQUEST_FINGERPRINT] = fingerprint(
                parameters_text, shaping, system_text, messages_text
            )
        except Exception as exc:
            internal_error(exc, "fingerprinting an LLM request")

    def _content(
        self,
        attributes: dict[str, Any],
        cut_keys: list[str],
        settings: Settings,
        texts: RequestTexts,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        """Add the captured request: its exact form, messages, system instructions, tools.
        A failure leaves the content out, not the span."""
        try:
            request_text, tools = encode_request(self.exact_request(args, kwargs), texts)
            content: dict[str, Any] = {}
            if tools is not None:
                content[semconv.GEN_AI_TOOL_DEFINITIONS] = tools
            reader = self.reader
            for param in self.message_params:
                value = reader.get(param, args, kwargs)
                converted = None if value is MISSING else input_messages(value)
                if converted is not None:
                    content[semconv.GEN_AI_INPUT_MESSAGES] = converted
                    break
            for param in self.system_params:
                value = reader.get(param, args, kwargs)
                if isinstance(value, (str, list)):
                    content[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = system_instructions(value)
                    break
        except Exception as exc:
            internal_error(exc, "recording call arguments")
            return
        add_content(attributes, cut_keys, content, settings)
        add_text(attributes, cut_keys, semconv.CONTENT_INPUT, request_text, settings, True)

    def exact_request(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The request as the call passed it, for the exact form (``agentflight.content.input``).

        The OpenAI SDK's ``create`` takes the request body as keyword arguments: all of them
        but the client-side options. An ``@llm`` function: the request fields it takes.
        """
        if self.enrich:
            return {k: v for k, v in kwargs.items() if k not in CLIENT_OPTIONS and given(v)}
        request: dict[str, Any] = {}
        if self.model is not None:
            request["model"] = self.model
        reader = self.reader
        for name in self.request_fields:
            value = reader.get(name, args, kwargs)
            if value is not MISSING and given(value):
                request[name] = value
        if self.var_keyword:
            for name, value in kwargs.items():
                if name in _REQUEST_FIELD_SET and name not in request and given(value):
                    request[name] = value
        return request

    def start(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], settings: Settings
    ) -> tuple[str, dict[str, Any], str]:
        capture = settings if settings.capture_content else None
        name, attributes, model, cut_keys = self._request(args, kwargs, capture)
        if cut_keys:
            attributes[semconv.CONTENT_TRUNCATED] = json.dumps(cut_keys)
        attributes[semconv.LLM_INFLIGHT] = INFLIGHT.enter(model)  # left by on_end or discard
        return name, attributes, model

    def discard(self, state: Any) -> None:
        INFLIGHT.exit(state)

    def enclosing(self) -> Run | None:
        span = trace.get_current_span()
        outer = _OPEN.get(id(span))
        if outer is not None and outer.span is span and not outer.ended:
            return outer
        return None

    def on_start(
        self, run: Run, args: tuple[Any, ...], kwargs: dict[str, Any], state: Any = None
    ) -> None:
        if run.owned:  # start() recorded the request and counted the call in flight
            run.model = state
            _OPEN[id(run.span)] = run
            return
        # Recording onto the enclosing chat span: this call's request wins.
        settings = run.settings
        capture = settings if settings.capture_content else None
        _, attributes, _, cut_keys = self._request(args, kwargs, capture)
        set_attributes(run.span, attributes, cut_keys)

    def on_result(self, run: Run, value: Any) -> Any:
        kind = stream_kind(value)
        if kind != _NOT_A_STREAM:
            if isinstance(value, (SyncStream, AsyncStream)) and _adopt(run, value):
                return value
            return run.stream(value, kind == _ASYNC)
        if run.owned and run.enriched:
            return value  # the instrumented calls inside already recorded the response
        capturing = run.settings.capture_content
        if looks_like_completion(value):
            output = (
                output_messages_from_choices(field(value, "choices") or ()) if capturing else None
            )
            self._apply(run, completion_attributes(value), output)
        elif isinstance(value, str):
            self._apply(run, {}, [output_message("assistant", value)] if capturing else None)
        else:
            return value
        if not run.owned:
            _mark_enriched(run)
        return value

    def _apply(
        self, run: Run, attributes: dict[str, AttributeValue], output: list[Any] | None = None
    ) -> None:
        """Set response attributes and output messages in one call. Usage the user set wins;
        calls recorded onto an enclosing span add their usage up."""
        span = run.span
        current = getattr(span, "attributes", None)  # one read of what is already set
        if current is None:
            current = {}
        if run.owned:
            if not _USAGE_KEYS.isdisjoint(current):  # set by the user: leave it
                for key in USAGE_KEYS:
                    attributes.pop(key, None)
        else:
            for key in USAGE_KEYS:
                before, count = current.get(key), attributes.get(key)
                if isinstance(before, int) and isinstance(count, int):
                    attributes[key] = count + before
        if is_truncated(attributes) and semconv.WASTE_CAUSE not in current:
            attributes[semconv.WASTE_CAUSE] = semconv.WASTE_TRUNCATED
        content = {semconv.GEN_AI_OUTPUT_MESSAGES: output} if output else {}
        set_with_content(span, attributes, content, run.settings)

    def on_error(self, run: Run, exc: Exception) -> None:
        if run.owned:
            set_auto_waste(run.span, semconv.WASTE_FAILED)

    def on_cancel(self, run: Run) -> None:
        if run.owned:
            set_auto_waste(run.span, semconv.WASTE_ABANDONED)

    def on_stream_end(
        self, run: Run, outcome: str, stats: StreamStats | None, items: list[Any]
    ) -> None:
        if outcome == ABANDONED:
            set_auto_waste(run.span, semconv.WASTE_ABANDONED)
        if stats is None:
            return
        self._apply(run, stats.attributes(), stats.output_messages())
        if not run.owned:
            _mark_enriched(run)

    def on_end(self, run: Run) -> None:
        if run.model is not None:
            INFLIGHT.exit(run.model)
            run.model = None
            _OPEN.pop(id(run.span), None)


def _mark_enriched(run: Run) -> None:
    if run.outer is not None:
        run.outer.enriched += 1


def _adopt(run: Run, proxy: SyncStream | AsyncStream) -> bool:
    """An ``@llm`` function returned the proxied stream of an instrumented call it made:
    rather than wrapping it twice, let that proxy end this run's span."""
    owner = proxy._owner
    if not isinstance(owner, Run) or owner.outer is not run or not run.owned:
        return False
    proxy._owner = run
    run.handed_off = True
    return True
