"""Tracer overhead, beside the peers, printed (not a pass/fail test).

    make bench            # or: .venv-bench/bin/python benchmarks/bench_tracer.py

Every figure is the calling thread's CPU time per call (``time.thread_time_ns``: other
processes and the exporters' background threads do not count), the median of ``REPEATS``
rounds in which all contenders take turns. Ratios are taken in the same round, then their
median is printed: compare ratios, not microseconds, on a shared machine.

1. One LLM call with usage: ``@tracer.llm`` against a raw OpenTelemetry SDK span carrying the
   very same attributes (a hand-made fingerprint included), through the same provider and
   processor (a ``BatchSpanProcessor`` whose exporter discards), with content capture off
   and on; and the peers (Langfuse ``@observe(as_type="generation")``, OpenLLMetry ``@task``,
   Logfire ``@instrument``, OpenInference ``OITracer.llm``) on the same function, each with
   content capture off and on. OpenInference wraps our provider's tracer; the others build
   their own pipelines, so each peer's ratio is against a raw span through *its* span
   processors, resource and limits (read from a span it made). The attributes each span
   carries are counted.
2. Streaming, per chunk: the slope between two stream lengths, against a bare generator.
3. The collector down (a dead port, the real OTLP exporter) and a 10,000-span burst: the
   call's cost and the process's peak RSS growth (the export queue is bounded).

Peers that are not installed are reported as such; run from ``.venv-bench`` (``make bench``
makes it) to have them.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.metadata
import json
import os
import platform
import socket
import statistics
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Tracer
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import DEFAULT_ON
from opentelemetry.sdk.util.instrumentation import InstrumentationInfo, InstrumentationScope
from opentelemetry.trace import SpanKind

import tracer
from tracer import _gaps, semconv

CALLS = int(os.environ.get("BENCH_CALLS", "3000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "9"))
MESSAGES = [{"role": "user", "content": "Which of our engineers know Rust?"}]
RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-bench",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Ana."}, "finish_reason": "stop"}
    ],
    "usage": {
        "prompt_tokens": 42,
        "completion_tokens": 7,
        "completion_tokens_details": {"reasoning_tokens": 0},
        "prompt_tokens_details": {"cached_tokens": 0},
    },
}
# One streamed chunk as OpenAI sends it (``ChatCompletionChunk``), for the SDK-object row.
SDK_CHUNK: dict[str, Any] = {
    "id": "chatcmpl-bench",
    "object": "chat.completion.chunk",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_bench",
    "choices": [{"index": 0, "delta": {"content": "tok"}, "logprobs": None, "finish_reason": None}],
}
PEERS = ("langfuse", "traceloop-sdk", "logfire", "openinference-instrumentation")


class DiscardingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def compare(fns: dict[str, Callable[[], Any]], calls: int = CALLS) -> dict[str, list[float]]:
    """Per-call µs of each function in each of ``REPEATS`` rounds (taking turns)."""
    for fn in fns.values():
        for _ in range(min(calls, 1000)):
            fn()
    rounds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(REPEATS):
        for name, fn in fns.items():
            gc.collect()
            start = time.thread_time_ns()
            for _ in range(calls):
                fn()
            rounds[name].append((time.thread_time_ns() - start) / calls / 1000)
    return rounds


def ratio(rounds: dict[str, list[float]], name: str, base: str) -> float:
    """The median over rounds of ``name``'s time over ``base``'s in the same round."""
    return statistics.median(a / b for a, b in zip(rounds[name], rounds[base], strict=True))


def model(messages: list[dict[str, str]]) -> dict[str, Any]:
    return RESPONSE


# --- what a span carries, and a raw span through the same pipeline ------------------------
_seen: list[Any] = []


def _note_span() -> None:
    """Called inside measured functions once, to find the span the tracer made."""
    _seen.append(trace.get_current_span())


def probe(fn: Callable[[], Any]) -> Any:
    """The SDK span ``fn`` opens (ended by now), found from inside the call."""
    _seen.clear()
    global _probing
    _probing = True
    try:
        fn()
    finally:
        _probing = False
    return _seen[-1] if _seen else None


_probing = False


def attribute_count(span: Any) -> int:
    return len(getattr(span, "attributes", None) or {})


def raw_tracer_like(span: Any) -> trace.Tracer:
    """An SDK tracer that sends its spans through ``span``'s processors, resource and limits:
    the raw-span baseline of whatever pipeline made ``span``."""
    scope = InstrumentationScope("bench.raw")
    with warnings.catch_warnings():  # the SDK's constructor still takes the deprecated info
        warnings.simplefilter("ignore", DeprecationWarning)
        info = InstrumentationInfo("bench.raw")
    return Tracer(
        DEFAULT_ON, span.resource, span._span_processor, RandomIdGenerator(), info,
        span._limits, scope,
    )  # fmt: skip


def _fingerprint(messages: Any) -> str:
    text = json.dumps([{"model": "gpt-4o-mini"}, messages], sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def raw_span_call(
    sdk_tracer: trace.Tracer, capture: bool, fingerprint: bool = True
) -> Callable[[], Any]:
    """The hand-written equivalent of ``@tracer.llm``: the same attributes on a raw SDK span
    (``fingerprint=False``: without the request fingerprint, as in earlier runs)."""
    static = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.CODE_NAMESPACE: __name__,
        semconv.CODE_FUNCTION: "decorated",
    }

    def call() -> dict[str, Any]:
        with sdk_tracer.start_as_current_span(
            "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=static
        ) as span:
            start: dict[str, Any] = {semconv.LLM_INFLIGHT: 1}
            if fingerprint:
                start[semconv.LLM_REQUEST_FINGERPRINT] = _fingerprint(MESSAGES)
            if capture:
                start[semconv.GEN_AI_INPUT_MESSAGES] = json.dumps(MESSAGES)
                start[semconv.CONTENT_INPUT] = json.dumps(
                    {"model": "gpt-4o-mini", "messages": MESSAGES}
                )
            span.set_attributes(start)
            if _probing:
                _note_span()
            result = model(MESSAGES)
            usage = result["usage"]
            attributes = {
                semconv.GEN_AI_RESPONSE_MODEL: result["model"],
                semconv.GEN_AI_RESPONSE_ID: result["id"],
                semconv.GEN_AI_RESPONSE_FINISH_REASONS: [
                    c["finish_reason"] for c in result["choices"]
                ],
                semconv.GEN_AI_USAGE_INPUT_TOKENS: usage["prompt_tokens"],
                semconv.GEN_AI_USAGE_OUTPUT_TOKENS: usage["completion_tokens"],
                semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: usage["completion_tokens_details"][
                    "reasoning_tokens"
                ],
                semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage["prompt_tokens_details"][
                    "cached_tokens"
                ],
            }
            if capture:
                attributes[semconv.GEN_AI_OUTPUT_MESSAGES] = json.dumps(
                    [c["message"] for c in result["choices"]]
                )
            span.set_attributes(attributes)
        return result

    return call


@tracer.llm(model="gpt-4o-mini", provider="openai")
def decorated(messages: list[dict[str, str]]) -> dict[str, Any]:
    if _probing:
        _note_span()
    return model(messages)


def body(messages: list[dict[str, str]]) -> dict[str, Any]:
    """The function the peers decorate: the same call, noting its span when probed."""
    if _probing:
        _note_span()
    return model(messages)


def tokens(n: int) -> Iterator[str]:
    if _probing:
        _note_span()
    for _ in range(n):
        yield "tok"


# --- the peers: each returns {"off": fn, "on": fn, "stream": generator function} ----------
def setup_openinference(capture: bool) -> tuple[Callable[[], Any], Callable[[int], Any]]:
    from openinference.instrumentation import OITracer, TraceConfig

    hidden = not capture
    oi = OITracer(
        trace.get_tracer_provider().get_tracer("bench.openinference"),
        TraceConfig(hide_inputs=hidden, hide_outputs=hidden),
    )
    return (lambda: oi.llm(body)(MESSAGES)), oi.llm(tokens)  # type: ignore[no-any-return]


def setup_openllmetry(capture: bool) -> tuple[Callable[[], Any], Callable[[int], Any]]:
    os.environ["TRACELOOP_TRACE_CONTENT"] = "true" if capture else "false"
    from traceloop.sdk import Traceloop
    from traceloop.sdk.decorators import task

    if not getattr(setup_openllmetry, "done", False):
        Traceloop.init(
            app_name="bench", exporter=DiscardingExporter(), telemetry_enabled=False,
            instruments=set(),
        )  # fmt: skip
        setup_openllmetry.done = True  # type: ignore[attr-defined]
    call = task(name="chat")(body)
    return (lambda: call(MESSAGES)), task(name="stream")(tokens)


def setup_logfire(capture: bool) -> tuple[Callable[[], Any], Callable[[int], Any]]:
    import logfire

    if not getattr(setup_logfire, "done", False):
        logfire.configure(
            send_to_logfire=False, console=False, metrics=False,
            additional_span_processors=[BatchSpanProcessor(DiscardingExporter())],
        )  # fmt: skip
        setup_logfire.done = True  # type: ignore[attr-defined]
    call = logfire.instrument("chat", extract_args=capture, record_return=capture)(body)
    stream = logfire.instrument("stream", extract_args=capture, allow_generator=True)(tokens)
    return (lambda: call(MESSAGES)), stream


def setup_langfuse(capture: bool) -> tuple[Callable[[], Any], Callable[[int], Any]]:
    from langfuse import Langfuse, observe

    if not getattr(setup_langfuse, "done", False):
        # Its own provider and span processor; nothing is sent (as our exporter discards).
        Langfuse(
            public_key="pk-bench", secret_key="sk-bench", host="http://127.0.0.1:9",
            should_export_span=lambda span: False,
        )  # fmt: skip
        setup_langfuse.done = True  # type: ignore[attr-defined]
    call = observe(as_type="generation", capture_input=capture, capture_output=capture)(body)
    stream = observe(
        name="stream", as_type="generation", capture_input=capture, capture_output=capture
    )(tokens)
    return (lambda: call(MESSAGES)), stream


SETUPS: dict[str, tuple[str, Callable[[bool], Any]]] = {
    "OpenInference OITracer.llm": ("openinference-instrumentation", setup_openinference),
    "OpenLLMetry @task": ("traceloop-sdk", setup_openllmetry),
    "Logfire @instrument": ("logfire", setup_logfire),
    'Langfuse @observe(as_type="generation")': ("langfuse", setup_langfuse),
}


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def header() -> None:
    print("agentflight tracer benchmark")
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, opentelemetry-sdk {version('opentelemetry-sdk')}; "
        f"{CALLS} calls x {REPEATS} rounds, medians"
    )
    print("peers: " + ", ".join(f"{dist} {version(dist)}" for dist in PEERS))


def row(cells: Sequence[str], widths: Sequence[int]) -> str:
    pairs = enumerate(zip(cells, widths, strict=True))
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)


def print_table(title: str, head: Sequence[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [list(head), *rows]) for i in range(len(head))]
    print(f"\n{title}")
    print(row(head, widths))
    print(row(["-" * w for w in widths], widths))
    for r in rows:
        print(row(r, widths))


def bench_calls() -> dict[str, float]:
    provider_tracer = trace.get_tracer_provider().get_tracer("bench.raw")
    rows: list[list[str]] = []
    ours_us: dict[str, float] = {}
    for capture in (False, True):
        label = "on" if capture else "off"
        tracer.configure(capture_content=capture)
        raw = raw_span_call(provider_tracer, capture)
        raw_nofp = raw_span_call(provider_tracer, capture, fingerprint=False)
        ours = lambda: decorated(MESSAGES)  # noqa: E731
        rounds = compare({"raw": raw, "raw_nofp": raw_nofp, "ours": ours})
        raw_us = statistics.median(rounds["raw"])
        ours_us[label] = statistics.median(rounds["ours"])
        rows.append([f"raw SDK span, same attributes (capture {label})", f"{raw_us:.1f}",
                     "1.00", str(attribute_count(probe(raw)))])  # fmt: skip
        rows.append([f"raw SDK span without the fingerprint (capture {label})",
                     f"{statistics.median(rounds['raw_nofp']):.1f}",
                     f"{ratio(rounds, 'raw_nofp', 'raw'):.2f}",
                     str(attribute_count(probe(raw_nofp)))])  # fmt: skip
        rows.append([f"@tracer.llm, capture {label}", f"{ours_us[label]:.1f}",
                     f"{ratio(rounds, 'ours', 'raw'):.2f}",
                     str(attribute_count(probe(ours)))])  # fmt: skip
        rows.append([f"  goal: <= {1.6 if capture else 1.2} x raw; x raw without fingerprint",
                     "", f"{ratio(rounds, 'ours', 'raw_nofp'):.2f}", ""])  # fmt: skip
    tracer.configure(capture_content=False)
    for name, (dist, setup) in SETUPS.items():
        for capture in (False, True):
            label = f"{name}, content {'on' if capture else 'off'}"
            try:
                call, _ = setup(capture)
                span = probe(call)
                peer_raw = raw_span_call(raw_tracer_like(span), capture)
                rounds = compare({"raw": peer_raw, "peer": call})
                rows.append([label, f"{statistics.median(rounds['peer']):.1f}",
                             f"{ratio(rounds, 'peer', 'raw'):.2f}",
                             str(attribute_count(span))])  # fmt: skip
            except ImportError:
                rows.append([label, f"not installed ({dist})", "", ""])
            except Exception as exc:  # a peer must not abort the benchmark
                rows.append([label, f"could not run: {exc!r}"[:80], "", ""])
    print_table(
        "1. one LLM call with usage (x raw: against a raw SDK span with the same attributes "
        "through the same span processors; peers: through their own)",
        ["what", "us/call", "x raw", "attributes"],
        rows,
    )
    return ours_us


def bench_stream() -> None:
    """Each kind of chunk against a bare generator of the very same chunks: the traced
    contender is that generator function, decorated."""
    import numpy  # noqa: F401  # loaded: long streams' TBT summaries go through it

    default = _gaps.NUMPY_FROM

    def bare(n: int) -> Iterator[str]:
        for _ in range(n):
            yield "tok"

    def chunk_dicts(n: int) -> Iterator[dict[str, Any]]:
        chunk = {"choices": [{"index": 0, "delta": {"content": "tok"}, "finish_reason": None}]}
        for _ in range(n):
            yield chunk

    def clocked(n: int) -> Iterator[str]:  # for scale: one clock read per chunk, no more
        for _ in range(n):
            time.perf_counter_ns()
            yield "tok"

    producers: dict[str, Callable[[int], Iterator[Any]]] = {"text": bare, "dicts": chunk_dicts}
    try:  # what ``client.chat.completions.create(stream=True)`` yields
        from openai.types.chat import ChatCompletionChunk

        sdk_chunk = ChatCompletionChunk.model_validate(SDK_CHUNK)

        def sdk_chunks(n: int) -> Iterator[Any]:
            for _ in range(n):
                yield sdk_chunk

        producers["sdk"] = sdk_chunks
    except ImportError:
        pass
    # Ours twice over: in this process, which has numpy loaded, and as in one without it
    # (``_gaps.NUMPY_FROM`` set past any stream, so the TBT summary takes the standard library).
    stdlib_only = 1 << 62
    contenders: dict[str, tuple[Callable[[int], Any], int]] = {
        "bare": (bare, default),
        "clock": (clocked, default),
    }
    for kind, producer in producers.items():
        traced = tracer.llm(model="gpt-4o-mini")(producer)
        contenders[f"bare {kind}"] = (producer, default)
        contenders[kind] = (traced, default)
        contenders[f"{kind} stdlib"] = (traced, stdlib_only)

    def consume(gen: Callable[[int], Iterator[Any]], n: int, numpy_from: int) -> Callable[[], None]:
        def run() -> None:
            _gaps.NUMPY_FROM = numpy_from
            for _ in gen(n):
                pass

        return run

    small, large = 200, 2000
    calls = max(CALLS // 100, 20)

    def per_chunk(contenders: dict[str, tuple[Callable[[int], Any], int]]) -> dict[str, float]:
        fns = {
            f"{k} {n}": consume(g, n, numpy_from)
            for k, (g, numpy_from) in contenders.items()
            for n in (small, large)
        }
        rounds = compare(fns, calls=calls)
        _gaps.NUMPY_FROM = default
        out = {}
        for k in contenders:
            slopes = [
                (b - a) / (large - small)
                for a, b in zip(rounds[f"{k} {small}"], rounds[f"{k} {large}"], strict=True)
            ]
            out[k] = statistics.median(slopes)
        return out

    def row(what: str, slopes: dict[str, float], kind: str, base: str) -> list[str]:
        """Overhead per chunk, and the same in clock reads measured in the same rounds (the
        machine's speed drifts between passes; this ratio much less)."""
        if kind not in slopes:
            return [what, "not installed (openai)", ""]
        overhead = slopes[kind] - slopes[base]
        clock = slopes["clock"] - slopes["bare"]
        return [what, f"{overhead:.3f}", f"{overhead / clock:.1f}" if clock > 0 else ""]

    rows: list[list[str]] = []
    for capture in (False, True):
        tracer.configure(capture_content=capture)
        label = "on" if capture else "off"
        slopes = per_chunk(contenders)
        for kind, what, goal in (
            ("text", "text chunks", 0.15),
            ("dicts", "OpenAI-shaped dict chunks", 0.5),
            ("sdk", "OpenAI SDK chunk objects", 0.5),
        ):
            label_ = f"@tracer.llm, {what}, capture {label} (goal <= {goal})"
            rows.append(row(label_, slopes, kind, f"bare {kind}"))
            without = row("  the same, numpy not loaded", slopes, f"{kind} stdlib", f"bare {kind}")
            rows.append(without)
        rows.append(row(f"  for scale: one time.perf_counter_ns() per chunk (capture {label})",
                        slopes, "clock", "bare"))  # fmt: skip
    tracer.configure(capture_content=False)
    for capture in (False, True):
        for name, (dist, setup) in SETUPS.items():
            label = f"{name}, text chunks, content {'on' if capture else 'off'} (no TBT recorded)"
            try:
                _, stream = setup(capture)
                if capture:  # not every peer records a generator's output with content on
                    kept = "output recorded" if records_output(stream) else "output not recorded"
                    label = f"{label[:-1]}; {kept})"
                scale = {k: contenders[k] for k in ("bare", "clock")}
                slopes = per_chunk({**scale, "peer": (stream, default)})
                rows.append(row(label, slopes, "peer", "bare"))
            except ImportError:
                rows.append([label, f"not installed ({dist})", ""])
            except Exception as exc:
                rows.append([label, f"could not run: {exc!r}"[:80], ""])
    print_table(
        f"2. streaming: overhead per chunk over a bare generator of the same chunks (slope "
        f"{small} -> {large} chunks; ours records TTFT, the TBT summary and histogram exactly)",
        ["what", "us/chunk", "x a clock read"],
        rows,
    )


def records_output(stream: Callable[[int], Iterator[str]]) -> bool:
    """Whether the span of a traced stream of three ``"tok"`` chunks keeps them."""
    span = probe(lambda: list(stream(3)))
    values = (getattr(span, "attributes", None) or {}).values()
    return any(str(value).count("tok") >= 3 for value in values)


def rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def bench_collector_down(up_us: float) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    tracer.configure(endpoint=dead, export_timeout_ms=1000, capture_content=False)
    rounds = compare({"down": lambda: decorated(MESSAGES)}, calls=CALLS // 3)
    down = statistics.median(rounds["down"])
    tracer.configure(endpoint=dead, export_timeout_ms=1000, capture_content=True)
    gc.collect()
    before = peak = rss_bytes()
    started = time.perf_counter()
    for i in range(10_000):
        decorated(MESSAGES)
        if i % 250 == 0:
            peak = max(peak, rss_bytes())
    burst_s = time.perf_counter() - started
    growth = max(peak, rss_bytes()) - before
    dropped = tracer.dropped_spans()
    started = time.perf_counter()
    tracer.shutdown(timeout_ms=1000)
    shutdown_s = time.perf_counter() - started
    print_table(
        "3. the collector down (real OTLP exporter to a dead port)",
        ["what", "figure"],
        [
            ["decorated call, collector up (discarding exporter)", f"{up_us:.1f} us"],
            ["decorated call, collector down", f"{down:.1f} us ({down / up_us:.2f} x up)"],
            ["10,000-span burst, capture on: wall time", f"{burst_s:.2f} s"],
            ["  peak RSS growth of the process", f"{growth / 2**20:.1f} MiB"],
            ["  spans dropped on the full queue (max_queue_size 2048)", f"{dropped}"],
            ["shutdown() with the collector down (bound 1 s)", f"{shutdown_s:.2f} s"],
        ],
    )


def main() -> None:
    import logging

    for noisy in ("langfuse", "opentelemetry", "logfire", "traceloop", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)  # peers' export retries
    header()
    rounds = compare({"bare": lambda: model(MESSAGES), "ours": lambda: decorated(MESSAGES)})
    added = statistics.median(rounds["ours"]) - statistics.median(rounds["bare"])
    print(f"\n0. before configure(), no SDK provider: @tracer.llm adds {added:.2f} us/call")
    tracer.configure(
        service_name="bench",
        capture_content=False,
        max_queue_size=1 << 16,
        _exporter_factory=lambda settings: DiscardingExporter(),
    )
    ours = bench_calls()
    bench_stream()
    bench_collector_down(ours["off"])


if __name__ == "__main__":
    main()
