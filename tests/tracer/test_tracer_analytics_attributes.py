"""The tracer's analytics attributes: the TBT gap histogram and the request fingerprint."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import pytest

import tracer
from analytics._histogram import RELATIVE_ERROR, bucket_value, pooled_percentiles
from tracer import semconv
from tracer._histogram import tbt_histogram
from tracer.testing import CapturedSpans
from tracer.testing import attributes as attrs


def decode(text: str) -> dict[int, int]:
    return {int(k): int(v) for k, v in (p.split(":") for p in text.split(",") if p)}


def test_each_gap_lands_in_a_bucket_within_the_relative_error() -> None:
    rng = np.random.default_rng(5)
    gaps_ns = np.sort(np.round(rng.lognormal(17, 1.5, size=20_000))).astype(np.int64)
    hist = decode(tbt_histogram(gaps_ns.tolist()))
    assert sum(hist.values()) == gaps_ns.size
    assert max(hist) < semconv.TBT_HISTOGRAM_BUCKETS
    # Every gap is within RELATIVE_ERROR of its bucket's value.
    expanded = np.repeat(list(hist), list(hist.values()))
    values = bucket_value(expanded)
    gaps_ms = gaps_ns / 1e6
    big = gaps_ms >= semconv.TBT_HISTOGRAM_MIN_MS
    assert np.all(np.abs(values[big] - gaps_ms[big]) <= RELATIVE_ERROR * gaps_ms[big] + 1e-12)
    assert tbt_histogram([]) == ""
    assert decode(tbt_histogram([0, 1, 10**15])) == {0: 2, semconv.TBT_HISTOGRAM_BUCKETS - 1: 1}


def test_pooled_percentiles_of_merged_histograms_match_numpy_on_the_raw_gaps() -> None:
    rng = np.random.default_rng(6)
    merged: Counter[int] = Counter()
    raw: list[np.ndarray] = []
    for _ in range(300):  # calls of different speeds: pooling is not a median of medians
        gaps = rng.lognormal(rng.uniform(2, 4), 0.4, size=int(rng.integers(2, 400)))
        raw.append(gaps)
        merged.update(decode(tbt_histogram(sorted(np.round(gaps * 1e6).astype(int).tolist()))))
    everything = np.concatenate(raw)
    keys = sorted(merged)
    qs = (0.5, 0.9, 0.95, 0.99, 0.999)
    got = pooled_percentiles(keys, [merged[k] for k in keys], qs)
    for q, value in zip(qs, got, strict=True):
        expected = np.percentile(everything, q * 100)
        assert value == pytest.approx(expected, rel=RELATIVE_ERROR)
    medians = np.median([np.median(g) for g in raw])
    assert abs(got[0] - medians) > RELATIVE_ERROR * medians  # a different figure
    assert pooled_percentiles([], [], qs) == [None] * len(qs)


def test_a_stream_records_its_gap_histogram(spans: CapturedSpans) -> None:
    @tracer.llm(model="m")
    def answer(prompt: str) -> Iterator[str]:
        yield from ("a", "b", "c", "", "d")

    assert "".join(answer("hi")) == "abcd"
    (span,) = spans.spans
    recorded = attrs(span)
    hist = decode(str(recorded[semconv.LLM_TBT_HISTOGRAM]))
    assert sum(hist.values()) == recorded[semconv.LLM_TBT_COUNT] == 3


def _fingerprint(spans: CapturedSpans) -> Any:
    return attrs(spans.spans[-1]).get(semconv.LLM_REQUEST_FINGERPRINT)


def test_the_fingerprint_identifies_model_parameters_and_messages(
    spans: CapturedSpans, content_settings: Callable[..., None]
) -> None:
    @tracer.llm
    def chat(messages: list[dict[str, str]], model: str, temperature: float = 1.0) -> str:
        return "ok"

    question = [{"role": "user", "content": "who knows rust?"}]
    chat(question, "m1", temperature=0.2)
    first = _fingerprint(spans)
    chat([dict(m) for m in question], "m1", temperature=0.2)
    assert _fingerprint(spans) == first and len(first) == 32
    chat(question, "m1", temperature=0.3)
    assert _fingerprint(spans) != first
    chat(question, "m2", temperature=0.2)
    assert _fingerprint(spans) != first
    chat([{"role": "user", "content": "who knows go?"}], "m1", temperature=0.2)
    assert _fingerprint(spans) != first
    content_settings(capture_content=False)  # recorded without content capture too
    chat(question, "m1", temperature=0.2)
    assert _fingerprint(spans) == first
    assert semconv.GEN_AI_INPUT_MESSAGES not in attrs(spans.spans[-1])


def test_no_messages_no_fingerprint(spans: CapturedSpans) -> None:
    @tracer.llm(model="m")
    def summarise(text: str) -> str:
        return "ok"

    summarise("a long text")
    assert _fingerprint(spans) is None


class Unreadable:
    """A model-like message whose field raises when read: its JSON cannot be made."""

    model_fields: ClassVar[dict[str, Any]] = {"content": None}

    def model_dump(self) -> dict[str, Any]:
        raise RuntimeError("no")

    @property
    def content(self) -> str:
        raise RuntimeError("no")


def test_a_failing_fingerprint_never_reaches_the_caller(
    spans: CapturedSpans, monkeypatch: pytest.MonkeyPatch
) -> None:
    @tracer.llm(model="m")
    def chat(messages: list[Any]) -> str:
        return "ok"

    with pytest.raises(RuntimeError, match="no"):  # strict (the test suite): raised
        chat([Unreadable()])
    monkeypatch.setenv("AGENTFLIGHT_STRICT", "0")
    assert chat([Unreadable()]) == "ok"  # in production: logged and swallowed
    assert _fingerprint(spans) is None
