"""A faster way to read span attributes, still with the opentelemetry-proto classes.

Reading an attribute through the generated classes costs several calls into the protobuf
runtime (the ``KeyValue`` wrapper, its key, its ``AnyValue`` wrapper, the oneof, the value),
about 3 µs per attribute: GenAI spans carry 20 or more, which made attributes most of the
collector's CPU. Most of them repeat from span to span (operation, provider, model, flags,
small counts), so this module parses requests with a *view* of the trace schema that is
identical on the wire except that ``Span.attributes`` is declared ``repeated bytes``: each
attribute arrives as its own serialized ``KeyValue``. Those bytes are looked up in a memo of
``(key, AsString value)`` pairs; a miss is decoded with the real
``opentelemetry.proto.common.v1.KeyValue`` class and remembered.

The view is built at import time from the descriptors that ``opentelemetry-proto`` ships, so
nothing here parses protobuf by hand; every byte is still decoded (and UTF-8 checked) by the
protobuf runtime, either now or when the identical bytes were first seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from collector.anyvalue import any_value_str, go_float

__all__ = ["AttributeMemo", "TracesView", "copy_message", "message_class"]

_PACKAGE = "agentflight.collector.otlpview"
_FILE = "agentflight/collector/otlp_trace_view.proto"


def copy_message(
    message: Any,
    name: str,
    package: str,
    retype: dict[str, str | None],
    drop: tuple[str, ...] = (),
) -> descriptor_pb2.DescriptorProto:
    """``message``'s descriptor as ``package.name``, without the fields in ``drop``, and with
    the fields in ``retype`` typed as another message of ``package`` (None: as bytes)."""
    proto = descriptor_pb2.DescriptorProto()
    message.DESCRIPTOR.CopyToProto(proto)
    proto.name = name
    del proto.nested_type[:]  # nested types stay the official ones, by absolute name
    del proto.enum_type[:]
    kept = [f for f in proto.field if f.name not in drop]
    del proto.field[:]
    proto.field.extend(kept)
    if drop and not any(f.HasField("oneof_index") for f in kept):
        del proto.oneof_decl[:]  # a oneof left without fields goes too
    for field in proto.field:
        if field.name not in retype:
            continue
        target = retype[field.name]
        if target is None:  # this field's messages stay serialized
            field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
            field.ClearField("type_name")
        else:
            field.type_name = f".{package}.{target}"
    return proto


def message_class(
    file_name: str,
    package: str,
    dependencies: list[Any],
    messages: Callable[[], list[descriptor_pb2.DescriptorProto]],
    top: str,
) -> Any:
    """The class of ``package.top``, from ``messages`` added once to the default pool."""
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(file_name)
    except KeyError:
        file = descriptor_pb2.FileDescriptorProto(name=file_name, package=package, syntax="proto3")
        file.dependency.extend([module.DESCRIPTOR.name for module in dependencies])
        file.message_type.extend(messages())
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{top}"))


def _view_messages() -> list[descriptor_pb2.DescriptorProto]:
    def copy(message: Any, name: str, retype: dict[str, str | None]) -> Any:
        return copy_message(message, name, _PACKAGE, retype)

    return [
        copy(trace_pb2.Span, "SpanView", {"attributes": None}),
        copy(trace_pb2.ScopeSpans, "ScopeSpansView", {"spans": "SpanView"}),
        copy(trace_pb2.ResourceSpans, "ResourceSpansView", {"scope_spans": "ScopeSpansView"}),
        copy(
            trace_service_pb2.ExportTraceServiceRequest,
            "TracesView",
            {"resource_spans": "ResourceSpansView"},
        ),
    ]


# ExportTraceServiceRequest (and TracesData) on the wire, with Span.attributes as raw KeyValues.
TracesView: Any = message_class(
    _FILE, _PACKAGE, [trace_pb2, trace_service_pb2], _view_messages, "TracesView"
)

_KEY = itemgetter(0)
_VALUE = itemgetter(1)


class AttributeMemo:
    """Serialized ``KeyValue`` -> ``(key, value as string)``, bounded in entries.

    Two generations of ``max_entries`` each: when the young one is full it becomes the old one
    and the previous old one is dropped; an attribute found in the old generation moves back
    to the young one. Attributes that recur (models, operations, flags, small counts) stay;
    one-off values (ids, measurements) pass through. Values longer than ``max_item_bytes``
    (message contents, tool results) are decoded every time and never remembered.
    """

    def __init__(self, max_entries: int = 32_768, max_item_bytes: int = 256) -> None:
        self._memo: dict[bytes, tuple[str, str]] = {}
        self._old: dict[bytes, tuple[str, str]] = {}
        self._max_entries = max_entries
        self._max_item_bytes = max_item_bytes

    def __len__(self) -> int:
        return len(self._memo) + len(self._old)

    def _remember(self, raw: bytes, pair: tuple[str, str]) -> tuple[str, str]:
        if len(raw) <= self._max_item_bytes:
            if len(self._memo) >= self._max_entries:  # races between threads only cost a miss
                self._old, self._memo = self._memo, {}
            self._memo[raw] = pair
        return pair

    def _decode(self, raw: bytes) -> tuple[str, str]:
        known = self._old.get(raw)
        if known is not None:
            return self._remember(raw, known)
        kv = KeyValue.FromString(raw)  # raises DecodeError on malformed bytes
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "double_value":  # the usual miss: a measurement
            text = repr(value.double_value)
            if "e" in text or "n" in text:
                text = go_float(value.double_value)
            elif text.endswith(".0"):
                text = text[:-2]
            pair = (kv.key, text)
        elif kind == "string_value":
            pair = (kv.key, value.string_value)
        elif kind == "int_value":
            pair = (kv.key, str(value.int_value))
        else:
            pair = (kv.key, any_value_str(value))
        return self._remember(raw, pair)

    @property
    def get(self) -> Callable[[bytes], tuple[str, str] | None]:
        """The memo's lookup: ``list(map(memo.get, raws))`` is the fast path."""
        return self._memo.get

    def fill(
        self, raws: Sequence[bytes], got: list[tuple[str, str] | None]
    ) -> list[tuple[str, str]]:
        """``got`` with its misses (None) decoded and remembered."""
        decode = self._decode
        return [p if p is not None else decode(r) for r, p in zip(raws, got, strict=True)]

    @staticmethod
    def split(pairs: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
        """Keys and values of ``pairs`` as two lists."""
        return list(map(_KEY, pairs)), list(map(_VALUE, pairs))
