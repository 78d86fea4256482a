"""A stand-in OTLP/HTTP collector on loopback that keeps every request it is sent.

It decodes each ``POST /v1/traces`` (gzip or not) with ``opentelemetry-proto`` and answers as
a collector does; :meth:`OtlpReceiver.spans` gives the spans as plain values.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.http_server import QuietHandler, serving

__all__ = ["OtlpReceiver", "any_value", "receiving"]


def any_value(value: AnyValue) -> Any:
    """An attribute value as Python: a scalar, a list for an array, None when unset."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass
class OtlpReceiver:
    """What was received: each request with its headers (lower-cased, plus ``path``)."""

    url: str = ""
    requests: list[tuple[dict[str, str], ExportTraceServiceRequest]] = field(default_factory=list)

    def spans(self) -> list[dict[str, Any]]:
        """Every received span as ``{name, attributes, resource, scope}``, in arrival order."""
        out = []
        for _, request in self.requests:
            for resource_spans in request.resource_spans:
                resource = {a.key: any_value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        out.append(
                            {
                                "name": span.name,
                                "attributes": {a.key: any_value(a.value) for a in span.attributes},
                                "resource": resource,
                                "scope": scope_spans.scope.name,
                            }
                        )
        return out

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The received spans, once there are at least ``count`` of them (or at the timeout)."""
        deadline = time.monotonic() + timeout
        while len(self.spans()) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.spans()


@contextmanager
def receiving() -> Iterator[OtlpReceiver]:
    """Serve an :class:`OtlpReceiver` on a free loopback port while the block runs."""
    receiver = OtlpReceiver()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest.FromString(body)
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.requests.append(({**headers, "path": self.path}, request))
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    with serving(Handler) as receiver.url:
        yield receiver
