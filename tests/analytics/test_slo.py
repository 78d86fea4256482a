"""The SLO grammar: the same as `agentflight loadtest --slo`, checked against its parser."""

from __future__ import annotations

import pytest

import loadtest
from analytics import parse_slo

GOOD = [
    "ttft_p95<800ms,tbt_p99<80ms",
    "ttft_p99.9 <= 1.5s, e2e_p50<2m,error_rate<1%",
    "timeout_rate<=0.005",
    "TBT_P90<40",
]
BAD = [
    "",
    "ttft<800ms",
    "ttft_p95>800ms",
    "ttft_p100<1s",
    "ttft_p95<fast",
    "error_rate<150%",
    "latency_p95<1s",
]


@pytest.mark.parametrize("text", GOOD)
def test_same_objectives_as_the_load_test_parser(text: str) -> None:
    ours = parse_slo(text).objectives
    theirs = loadtest.parse_slo(text)
    assert [(o.metric, o.quantile, o.op, o.threshold, o.text) for o in ours] == [
        (o.metric, o.quantile, o.op, o.threshold, o.text) for o in theirs
    ]


@pytest.mark.parametrize("text", BAD)
def test_same_errors_as_the_load_test_parser(text: str) -> None:
    with pytest.raises(ValueError) as ours:
        parse_slo(text)
    with pytest.raises(ValueError) as theirs:
        loadtest.parse_slo(text)
    assert str(ours.value) == str(theirs.value)
    assert "\n" not in str(ours.value)


def test_latency_objectives_by_metric() -> None:
    slo = parse_slo("ttft_p95<800ms,ttft_p99<2s,tbt_p99<80ms,error_rate<1%")
    assert [o.text for o in slo.latency("ttft")] == ["ttft_p95<800ms", "ttft_p99<2s"]
    assert [o.threshold for o in slo.latency("tbt")] == [80.0]
