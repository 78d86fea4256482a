"""The tracer end to end: a decorated streaming LLM call, exported to a running collector,
read back typed from genai_spans with TTFT and TBT.

The traced program runs in a child process: ``tracer.configure`` installs the process-wide
OpenTelemetry provider, which must not leak into other tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable

from collector import Store
from tests.collector.conftest import LiveCollector, count, wait_until

AGENT = textwrap.dedent(
    """
    import sys, time
    import tracer

    tracer.configure(service_name="e2e-agent", endpoint=sys.argv[1], api_key="e2e-key")

    @tracer.llm(model="gpt-4o-mini", provider="openai")
    def answer(question):
        time.sleep(0.08)  # time to first token
        yield "Hello"
        for _ in range(4):
            time.sleep(0.02)
            yield " there"

    print("".join(answer("hi?")))
    assert tracer.force_flush(10_000), "the collector did not take the spans"
    tracer.shutdown()
    """
)


def test_a_traced_streaming_llm_call_lands_typed(
    start_collector: Callable[..., LiveCollector], store: Store
) -> None:
    live = start_collector(api_keys={"e2e-key": "e2e-project"})
    result = subprocess.run(
        [sys.executable, "-c", AGENT, live.url],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Hello there there there there"
    where = "service_name = 'e2e-agent'"
    wait_until(lambda: count(store, where, "genai_spans") == 1, what="the LLM span")
    row = store.query(
        "SELECT operation, provider, request_model, project, streamed, ttft_ms, tbt_count, "
        "tbt_mean_ms, tbt_p50_ms, tbt_p95_ms, tbt_max_ms, chunk_count, status_code "
        "FROM {db:Identifier}.genai_spans WHERE service_name = 'e2e-agent'"
    ).named_results()
    (span,) = list(row)
    assert (span["operation"], span["provider"], span["request_model"]) == (
        "chat",
        "openai",
        "gpt-4o-mini",
    )
    assert (span["project"], span["streamed"], span["tbt_count"], span["chunk_count"]) == (
        "e2e-project",
        True,
        4,
        5,
    )
    assert span["ttft_ms"] >= 70  # slept 80 ms before the first chunk
    for name in ("tbt_mean_ms", "tbt_p50_ms", "tbt_p95_ms", "tbt_max_ms"):
        assert span[name] >= 15, name  # 20 ms between chunks
    assert span["status_code"] in ("Unset", "Ok")
