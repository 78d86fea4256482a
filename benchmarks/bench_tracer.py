"""Tracer overhead, printed (not a pass/fail test). Run: .venv/bin/python benchmarks/bench_tracer.py

1. A decorated sync LLM call with usage against a raw OpenTelemetry SDK span carrying the
   same attributes, through the same provider and export pipeline (BatchSpanProcessor; the
   exporter discards). Goal: ratio <= 1.2.
2. Streaming overhead per chunk against a bare generator (slope over two stream lengths).
   Goal: <= 1 us/chunk.
3. The same decorated call with the collector unreachable (real OTLP exporter to a dead port):
   it should cost the same.
4. Langfuse ``@observe``, OpenLLMetry ``@task`` and Logfire ``@instrument`` on the same call,
   when they are installed.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

import tracer
from tracer import semconv

CALLS = int(os.environ.get("BENCH_CALLS", "5000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
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


class DiscardingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def compare(
    fns: dict[str, Callable[[], Any]], calls: int = CALLS, repeats: int = REPEATS
) -> dict[str, float]:
    """Best-of-``repeats`` mean time of one call of each function, in microseconds.

    Time is the calling thread's CPU time, so that other processes on the machine and the
    exporter's background thread do not count; the functions take turns within every repeat.
    """
    for fn in fns.values():
        for _ in range(min(calls, 2000)):
            fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            start = time.thread_time_ns()
            for _ in range(calls):
                fn()
            best[name] = min(best[name], (time.thread_time_ns() - start) / calls / 1000)
    return best


def per_call_us(fn: Callable[[], Any], calls: int = CALLS, repeats: int = REPEATS) -> float:
    """Best-of-``repeats`` mean time of one call, in microseconds."""
    return compare({"fn": fn}, calls, repeats)["fn"]


def model(messages: list[dict[str, str]]) -> dict[str, Any]:
    return RESPONSE


@tracer.llm(model="gpt-4o-mini", provider="openai")
def decorated(messages: list[dict[str, str]]) -> dict[str, Any]:
    return model(messages)


def raw_span_call(sdk_tracer: trace.Tracer, capture: bool) -> Callable[[], Any]:
    """The hand-written equivalent: the same attributes on a raw SDK span."""
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
            span.set_attribute(semconv.LLM_INFLIGHT, 1)
            if capture:
                span.set_attribute(semconv.GEN_AI_INPUT_MESSAGES, json.dumps(MESSAGES))
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


def bench_llm_call(sdk_tracer: trace.Tracer) -> None:
    print("\n1. decorated sync LLM call with usage vs a raw SDK span (same attributes)")
    bare = per_call_us(lambda: model(MESSAGES))
    print(f"   undecorated function:                {bare:8.2f} us/call")
    for capture in (False, True):
        tracer.configure(capture_content=capture)
        times = compare(
            {"raw": raw_span_call(sdk_tracer, capture), "ours": lambda: decorated(MESSAGES)}
        )
        raw, ours = times["raw"], times["ours"]
        label = "content capture on " if capture else "content capture off"
        print(f"   [{label}] raw SDK span:       {raw:8.2f} us/call")
        print(
            f"   [{label}] @tracer.llm:        {ours:8.2f} us/call   "
            f"ratio {ours / raw:.2f} (goal <= 1.2{'' if not capture else '; ours also redacts'})"
        )
    tracer.configure(capture_content=False)


def bench_stream() -> None:
    print("\n2. streaming overhead per chunk vs a bare generator")

    def bare(n: int) -> Iterator[str]:
        for _ in range(n):
            yield "tok"

    @tracer.llm(model="gpt-4o-mini")
    def traced(n: int) -> Iterator[str]:
        for _ in range(n):
            yield "tok"

    def chunk_dicts(n: int) -> Iterator[dict[str, Any]]:
        chunk = {"choices": [{"index": 0, "delta": {"content": "tok"}, "finish_reason": None}]}
        for _ in range(n):
            yield chunk

    @tracer.llm(model="gpt-4o-mini")
    def traced_dicts(n: int) -> Iterator[dict[str, Any]]:
        yield from chunk_dicts(n)

    def consume(gen: Callable[[int], Iterator[Any]], n: int) -> Callable[[], None]:
        def run() -> None:
            for _ in gen(n):
                pass

        return run

    small, large = 1_000, 5_000
    calls = max(CALLS // 200, 20)
    for capture in (False, True):
        tracer.configure(capture_content=capture)
        for label, plain, wrapped in (
            ("str chunks ", bare, traced),
            ("dict chunks", chunk_dicts, traced_dicts),
        ):
            times = compare(
                {
                    f"{name} {n}": consume(fn, n)
                    for name, fn in (("bare", plain), ("traced", wrapped))
                    for n in (small, large)
                },
                calls=calls,
            )
            bare_slope, traced_slope = (
                (times[f"{name} {large}"] - times[f"{name} {small}"]) / (large - small)
                for name in ("bare", "traced")
            )
            print(
                f"   [{label}, capture {'on ' if capture else 'off'}] bare {bare_slope:.3f} "
                f"us/chunk, traced {traced_slope:.3f} us/chunk: overhead "
                f"{traced_slope - bare_slope:.3f} us/chunk (goal <= 1)"
            )
    tracer.configure(capture_content=False)


def bench_collector_down(up_us: float) -> None:
    print("\n3. the same call with the collector unreachable")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    tracer.configure(endpoint=dead, export_timeout_ms=1000, capture_content=False)
    down = per_call_us(lambda: decorated(MESSAGES), calls=CALLS // 4)
    print(f"   collector up (discarding exporter): {up_us:8.2f} us/call")
    print(f"   collector down (dead port):         {down:8.2f} us/call   ratio {down / up_us:.2f}")
    print(f"   spans dropped on the full queue meanwhile: {tracer.dropped_spans()}")
    started = time.perf_counter()
    tracer.shutdown(timeout_ms=1000)
    print(f"   shutdown() returned in {time.perf_counter() - started:.2f} s (bound: 1 s)")


def bench_others() -> None:
    print("\n4. other tracers, same call, same process")
    results: dict[str, str] = {}

    try:
        import logfire

        logfire.configure(send_to_logfire=False, console=False)

        @logfire.instrument("chat")
        def with_logfire(messages: list[dict[str, str]]) -> dict[str, Any]:
            return model(messages)

        results["Logfire @instrument"] = (
            f"{per_call_us(lambda: with_logfire(MESSAGES)):8.2f} us/call"
        )
    except ImportError:
        results["Logfire @instrument"] = "not installed (pip install logfire)"
    except Exception as exc:  # a comparison must not abort the benchmark
        results["Logfire @instrument"] = f"could not run: {exc!r}"

    try:
        from traceloop.sdk import Traceloop
        from traceloop.sdk.decorators import task

        Traceloop.init(app_name="bench", exporter=DiscardingExporter(), telemetry_enabled=False)

        @task(name="chat")
        def with_openllmetry(messages: list[dict[str, str]]) -> dict[str, Any]:
            return model(messages)

        results["OpenLLMetry @task"] = (
            f"{per_call_us(lambda: with_openllmetry(MESSAGES)):8.2f} us/call"
        )
    except ImportError:
        results["OpenLLMetry @task"] = "not installed (pip install traceloop-sdk)"
    except Exception as exc:
        results["OpenLLMetry @task"] = f"could not run: {exc!r}"

    try:
        from langfuse import Langfuse, observe

        Langfuse(public_key="pk-bench", secret_key="sk-bench", host="http://127.0.0.1:9")

        @observe(as_type="generation")
        def with_langfuse(messages: list[dict[str, str]]) -> dict[str, Any]:
            return model(messages)

        results["Langfuse @observe"] = (
            f"{per_call_us(lambda: with_langfuse(MESSAGES)):8.2f} us/call"
        )
    except ImportError:
        results["Langfuse @observe"] = "not installed (pip install langfuse)"
    except Exception as exc:
        results["Langfuse @observe"] = f"could not run: {exc!r}"

    for name, result in results.items():
        print(f"   {name:22s} {result}")


def main() -> None:
    print(f"agentflight tracer benchmark: {CALLS} calls x best of {REPEATS}")
    print("\n0. before configure(), no SDK provider: decorators record nothing")
    times = compare({"bare": lambda: model(MESSAGES), "ours": lambda: decorated(MESSAGES)})
    print(f"   @tracer.llm without a provider: {times['ours'] - times['bare']:8.2f} us/call added")
    tracer.configure(
        service_name="bench",
        capture_content=False,
        max_queue_size=1 << 16,
        _exporter_factory=lambda settings: DiscardingExporter(),
    )
    sdk_tracer = trace.get_tracer_provider().get_tracer("bench.raw")
    bench_llm_call(sdk_tracer)
    up = statistics.median(per_call_us(lambda: decorated(MESSAGES)) for _ in range(3))
    bench_stream()
    bench_collector_down(up)
    bench_others()


if __name__ == "__main__":
    main()
