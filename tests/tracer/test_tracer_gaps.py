"""The TBT summary's two paths: numpy (when the process has it loaded) and the standard
library give the very same figures, and the tracer never imports numpy itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import tracer
from tracer import _gaps, _run, _stream, semconv
from tracer._gaps import NUMPY_FROM, gap_summary, numpy_summary, stdlib_summary
from tracer.testing import CapturedSpans
from tracer.testing import attributes as attrs

ROOT = Path(__file__).resolve().parents[2]
MS = 1_000_000

_gap = st.one_of(
    st.integers(min_value=0, max_value=2_000),  # back to back
    st.integers(min_value=5 * MS, max_value=80 * MS),  # an LLM's tokens
    st.integers(min_value=0, max_value=10**13),  # anything up to hours
)


@st.composite
def _streams(draw: st.DrawFn) -> list[int]:
    start = draw(st.integers(min_value=0, max_value=2**61))
    times = [start]
    for gap in draw(st.lists(_gap, min_size=1, max_size=400)):
        times.append(times[-1] + gap)
    return times


@given(_streams())
@example([0, 0])
@example([0, 10, 10, 10**9, 2 * 10**9])
@example([0, 10_000, 30_000, 70_000, 150_000, 150_000])  # gaps on buckets' bounds
def test_numpy_and_the_standard_library_give_the_same_summary(times: list[int]) -> None:
    expected = stdlib_summary(times)
    got = numpy_summary(np, times)
    assert got == expected
    assert got is not None and [type(v) for v in got] == [type(v) for v in expected]


@given(st.lists(st.integers(min_value=-(2**64), max_value=2**64), min_size=2, max_size=50))
@example([2**63 - 1, -(2**63)])  # int64 would wrap this gap round to 1
@example([0, 2**53])  # a gap float64 cannot hold exactly
@example([5, 3])  # a clock that went back
def test_numpy_leaves_what_it_cannot_take_exactly_to_the_standard_library(
    times: list[int],
) -> None:
    got = numpy_summary(np, times)
    assert got is None or got == stdlib_summary(times)


def test_a_gap_float64_cannot_hold_and_a_wrapping_one_are_refused() -> None:
    assert numpy_summary(np, [0, 2**53]) is None
    assert numpy_summary(np, [2**63 - 1, -(2**63)]) is None
    assert numpy_summary(np, [0, 2**53 - 1]) == stdlib_summary([0, 2**53 - 1])


def test_the_threshold_and_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def counting(np_: object, times: list[int]) -> object:
        calls.append(len(times))
        return numpy_summary(np_, times)

    monkeypatch.setattr(_gaps, "numpy_summary", counting)
    short = list(range(0, NUMPY_FROM - 1))
    long = [i * i for i in range(NUMPY_FROM)]
    assert gap_summary(short) == stdlib_summary(short)
    assert gap_summary(long) == stdlib_summary(long)
    assert calls == [NUMPY_FROM]  # only the long one went through numpy
    went_back = [*long[:-1], 0]
    assert gap_summary(went_back) == stdlib_summary(went_back)  # numpy declined it


def test_a_long_traced_stream_gets_the_same_attributes_either_way(
    monkeypatch: pytest.MonkeyPatch, spans: CapturedSpans
) -> None:
    now = [10**12]
    monkeypatch.setattr(_run, "_now", lambda: now[0])
    monkeypatch.setattr(_stream, "_now", lambda: now[0])

    @tracer.llm(model="m")
    def stream() -> Iterator[str]:
        for i in range(3 * NUMPY_FROM):
            now[0] += (i * 7_919) % 50 * MS + 3 * MS  # 3 to 52 ms, scattered
            yield "tok"

    keys = [k for k in vars(semconv).values() if isinstance(k, str) and ".tbt." in k]
    list(stream())
    monkeypatch.setattr(_gaps, "NUMPY_FROM", 10**9)  # the standard library only
    now[0] = 10**12
    list(stream())
    with_numpy, without = ({k: attrs(s).get(k) for k in keys} for s in spans.spans)
    assert with_numpy == without
    assert with_numpy[semconv.LLM_TBT_COUNT] == 3 * NUMPY_FROM - 1
    assert with_numpy[semconv.LLM_TBT_MAX_MS] == 52.0
    assert str(with_numpy[semconv.LLM_TBT_HISTOGRAM]).count(",") >= 40


def test_the_tracer_never_imports_numpy() -> None:
    script = textwrap.dedent(
        """
        import sys
        import tracer
        from tracer import semconv
        from tracer.testing import capture_spans

        @tracer.llm(model="m")
        def stream():
            yield from ["tok"] * 1000

        with capture_spans() as captured:
            assert len(list(stream())) == 1000
        (span,) = captured.spans
        assert span.attributes[semconv.LLM_TBT_COUNT] == 999
        print("numpy" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
