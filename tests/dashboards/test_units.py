"""The pure parts: the view kept in the URL, the waterfall's order, JSON shown indented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboards._span_view import pretty
from dashboards._view import DEFAULT_RANGE, View, page_url, parse_search
from dashboards._waterfall import FIRST_TOKEN, rows, waterfall

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def test_a_view_survives_its_own_url() -> None:
    views = [
        View(),
        View(project="p1", model="gpt-4o", range="6h"),
        View(agent="a b&c=d", loadtest_run="lt-1", range="custom", since="3h", until="1h"),
    ]
    for view in views:
        assert View.from_query(parse_search(view.search())) == view
    assert View().search() == ""
    assert page_url("/replays", View(model="m"), run="r1", trace="") == "/replays?model=m&run=r1"


def test_bad_or_stray_url_values_fall_back() -> None:
    assert View.from_query({"range": "5y"}).range == DEFAULT_RANGE
    assert View.from_query({"range": "1h", "since": "3h"}).since == ""  # only with custom
    assert View.from_query({"model": ["a", "b"]}).model == "a"
    assert len(View.from_query({"agent": "x" * 1000}).agent) == 256
    assert View.from_query({"agent": "  a  ", "other": "kept out"}).as_dict()["agent"] == "a"
    assert View(project="p1").scoped("p2").project == "p2"
    assert View(project="p1").scoped(None).project == "p1"


def test_windows() -> None:
    assert View(range="15m").window(NOW) == (NOW - timedelta(minutes=15), NOW)
    since, until = View(range="custom", since="2026-01-31T09:00", until="2h").window(NOW)
    assert (since, until) == (datetime(2026, 1, 31, 9, 0, tzinfo=UTC), NOW - timedelta(hours=2))
    with pytest.raises(ValueError, match=r"since .* must be before until"):
        View(range="custom", since="1h", until="2h").window(NOW)
    with pytest.raises(ValueError, match="'yesterday'"):
        View(range="custom", since="yesterday").window(NOW)


def _span(span_id: str, parent: str, start_ms: float, name: str) -> dict[str, object]:
    return {
        "SpanId": span_id,
        "ParentSpanId": parent,
        "SpanName": name,
        "start_ns": int(1e15 + start_ms * 1e6),
        "Duration": int(10e6),
        "StatusCode": "Unset",
    }


def test_the_waterfall_puts_children_under_their_parent_in_start_order() -> None:
    spans = [
        _span("c2", "r", 30, "second child"),
        _span("g", "c1", 12, "grandchild"),
        _span("r", "", 0, "root"),
        _span("c1", "r", 10, "first child"),
        _span("o", "missing", 5, "orphan"),  # its parent was never stored
        _span("x", "y", 50, "cycle x"),  # a cycle in bad data is drawn, once each
        _span("y", "x", 60, "cycle y"),
    ]
    timings = {"c1": {"operation": "chat", "model": "m", "ttft_ms": 4.0, "tbt_mean_ms": 1.0}}
    ordered = rows(spans, timings)
    assert [(r.name, r.depth) for r in ordered] == [
        ("root", 0),
        ("first child", 1),
        ("grandchild", 2),
        ("second child", 1),
        ("orphan", 0),
        ("cycle x", 0),
        ("cycle y", 1),
    ]
    assert ordered[1].kind == "llm" and ordered[1].offset_ms == pytest.approx(10.0)
    fig = waterfall(ordered)
    (mark,) = [t for t in fig.data if t.name == FIRST_TOKEN]
    assert list(mark.x) == [pytest.approx(14.0)] and list(mark.y) == [1]


def test_json_values_are_indented_and_other_text_is_kept() -> None:
    assert pretty('[{"role":"user","content":"hi"}]') == (
        '[\n  {\n    "role": "user",\n    "content": "hi"\n  }\n]'
    )
    assert pretty("{not json") == "{not json"
    assert pretty("plain") == "plain"
    assert pretty({"é": 1}) == '{\n  "é": 1\n}'
    assert pretty("[" + "1," * 20_000 + "1]").endswith("… (cut)")
