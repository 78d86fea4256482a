"""The exact, typed form of captured values (``agentflight.content.*``): lossless, bounded,
redacted by default, apart from the display attributes."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import math
import pathlib
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

import openai
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tracer
from tracer import exact, semconv
from tracer._content import REDACTED_EMAIL, encode_pair
from tracer.testing import CapturedSpans
from tracer.testing import attributes as attrs

pytestmark = pytest.mark.timeout(60)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1


class Kind(enum.StrEnum):
    PERSON = "person"


@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: float


@dataclasses.dataclass
class Hit:
    name: str
    where: Point
    tags: tuple[str, ...]
    seen: set[int]
    raw: bytes
    kind: Kind
    level: Level
    score: float = dataclasses.field(default=0.0)
    computed: int = dataclasses.field(init=False, default=0)

    def __post_init__(self) -> None:
        raise AssertionError("decoding must not run __post_init__")


class Span2(NamedTuple):
    start: int
    end: int


class Person(pydantic.BaseModel):
    name: str
    born: datetime.date
    color: Color
    friends: list[Person] = []
    updated: datetime.datetime | None = None


class Loose(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    a: int


def _hit() -> Hit:
    hit = object.__new__(Hit)  # without __post_init__
    for name, value in {
        "name": "Ana",
        "where": Point(1, 2.5),
        "tags": ("rust", "go"),
        "seen": {3, 4},
        "raw": b"\x00\xff\x10",
        "kind": Kind.PERSON,
        "level": Level.LOW,
        "score": 0.75,
        "computed": 9,
    }.items():
        object.__setattr__(hit, name, value)
    return hit


VALUES: list[Any] = [
    None,
    True,
    3,
    2**80,
    1.5,
    "tëxt",
    [1, "a", None],
    {"a": [1, {"b": 2}]},
    (1, (2, 3)),
    {1: "int key", (1, 2): "tuple key"},
    {"$type": "not a tag", "x": 1},
    {1, 2},
    frozenset({"a"}),
    b"\x00bytes",
    bytearray(b"\x01"),
    datetime.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=datetime.UTC),
    datetime.date(2024, 5, 1),
    datetime.time(23, 59, 1),
    datetime.timedelta(days=2, seconds=5, microseconds=7),
    decimal.Decimal("1.10"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    pathlib.Path("/tmp/x.txt"),
    Color.RED,
    Level.LOW,
    Kind.PERSON,
    Span2(1, 2),
    Point(3, 4.0),
    Person(
        name="Ana",
        born=datetime.date(1990, 1, 2),
        color=Color.BLUE,
        friends=[Person(name="Bo", born=datetime.date(1991, 3, 4), color=Color.RED)],
        updated=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    ),
    Loose(a=1, extra_field="kept"),  # type: ignore[call-arg]
    Color,
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_values_come_back_equal_and_of_the_same_type(value: Any) -> None:
    text = exact.dumps(value)
    json.loads(text)  # strict JSON
    back = exact.loads(text)
    assert back == value
    assert type(back) is type(value)


def test_a_dataclass_comes_back_field_for_field_without_running_its_init() -> None:
    hit = _hit()
    back = exact.loads(exact.dumps(hit))
    assert type(back) is Hit
    assert dataclasses.asdict(back) == dataclasses.asdict(hit)
    assert type(back.where) is Point and type(back.tags) is tuple and type(back.seen) is set
    assert back.kind is Kind.PERSON and back.level is Level.LOW and back.computed == 9


def test_floats_that_json_cannot_hold_are_tagged() -> None:
    text = exact.dumps([math.inf, -math.inf, math.nan])
    assert "Infinity" not in text and "NaN" not in text
    back = exact.loads(text)
    assert back[:2] == [math.inf, -math.inf] and math.isnan(back[2])


def test_plain_json_data_is_not_copied_and_serialised_once() -> None:
    value = {"question": "who knows rust?", "limit": 5, "filters": [{"lang": "rust"}]}
    assert exact.encode(value) is value
    display, exact_text = encode_pair(value)
    assert display is exact_text  # one string for both attributes
    rich = {"when": datetime.date(2024, 1, 1)}
    display, exact_text = encode_pair(rich)
    assert json.loads(display) == {"when": "2024-01-01"}
    assert exact.loads(exact_text) == rich


def test_a_class_from_a_module_not_imported_is_not_imported() -> None:
    tree = {"$type": "dataclass", "class": "agentflight_no_such_module:Thing", "fields": {"a": 1}}
    back = exact.decode(tree)
    assert back == exact.Unresolved("dataclass", "agentflight_no_such_module:Thing", {"a": 1})


def test_objects_without_a_known_form_are_recorded_by_repr() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    back = exact.loads(exact.dumps({"x": Opaque()}))["x"]
    assert isinstance(back, exact.Unresolved)
    assert (back.type, back.data["repr"]) == ("repr", "<opaque>")


def test_circular_values_end_in_a_repr_instead_of_failing() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert isinstance(json.loads(exact.dumps(loop)), list)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
        lambda children: (
            st.lists(children)
            | st.tuples(children, children)
            | st.dictionaries(st.text() | st.integers(), children)
        ),
        max_leaves=20,
    )
)
def test_any_nesting_of_basic_values_round_trips(value: Any) -> None:
    back = exact.loads(exact.dumps(value))
    assert exact.dumps(back) == exact.dumps(value)  # NaN != NaN, so compare the encodings


# --- on spans ---------------------------------------------------------------------------


@tracer.skill("find")
def find(query: str, where: Point, *, since: datetime.date) -> list[Person]:
    return [Person(name=query, born=since, color=Color.RED)]


def test_a_skill_records_typed_arguments_and_result_apart_from_the_display(
    spans: CapturedSpans,
) -> None:
    result = find("Ana", Point(1, 2.0), since=datetime.date(2000, 1, 1))
    span_attributes = attrs(spans.spans[0])
    assert json.loads(span_attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]) == {
        "query": "Ana",
        "where": {"x": 1, "y": 2.0},
        "since": "2000-01-01",
    }
    arguments = exact.loads(span_attributes[semconv.CONTENT_INPUT])
    assert arguments == {"query": "Ana", "where": Point(1, 2.0), "since": datetime.date(2000, 1, 1)}
    assert exact.loads(span_attributes[semconv.CONTENT_OUTPUT]) == result


def test_a_generator_skill_records_the_items_it_yielded(spans: CapturedSpans) -> None:
    @tracer.skill
    def pages() -> Iterator[tuple[int, str]]:
        yield (1, "a")
        yield (2, "b")

    assert list(pages()) == [(1, "a"), (2, "b")]
    assert exact.loads(attrs(spans.spans[0])[semconv.CONTENT_OUTPUT]) == [(1, "a"), (2, "b")]


def test_an_exact_form_over_the_bound_is_replaced_by_a_marker(
    content_settings: Any, spans: CapturedSpans
) -> None:
    content_settings(max_exact_chars=50, max_content_chars=20)

    @tracer.skill
    def echo(text: str) -> str:
        return "short"

    echo("x" * 100)
    span_attributes = attrs(spans.spans[0])
    marker = json.loads(span_attributes[semconv.CONTENT_INPUT])
    assert exact.is_omitted(marker)
    assert marker == {"$type": "omitted", "chars": len('{"text":""}') + 100, "limit": 50}
    assert span_attributes[semconv.CONTENT_OUTPUT] == '"short"'
    assert len(span_attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]) == 20
    assert json.loads(span_attributes[semconv.CONTENT_TRUNCATED]) == [
        semconv.GEN_AI_TOOL_CALL_ARGUMENTS,
        semconv.CONTENT_INPUT,
    ]


def test_values_longer_than_the_display_cap_stay_whole_in_the_exact_form(
    content_settings: Any, spans: CapturedSpans
) -> None:
    content_settings(max_content_chars=10)
    find("A" * 40, Point(0, 0.0), since=datetime.date(2000, 1, 1))
    span_attributes = attrs(spans.spans[0])
    assert exact.loads(span_attributes[semconv.CONTENT_INPUT])["query"] == "A" * 40
    assert semconv.CONTENT_INPUT not in json.loads(span_attributes[semconv.CONTENT_TRUNCATED])


def test_the_exact_form_is_redacted_by_default(content_settings: Any, spans: CapturedSpans) -> None:
    find("ana@example.com", Point(0, 0.0), since=datetime.date(2000, 1, 1))
    span_attributes = attrs(spans.spans[0])
    assert exact.loads(span_attributes[semconv.CONTENT_INPUT])["query"] == REDACTED_EMAIL
    assert "ana@example.com" not in json.dumps(span_attributes)


def test_the_redact_hook_sees_exact_forms_under_their_key(
    content_settings: Any, spans: CapturedSpans
) -> None:
    seen: list[str] = []

    def hook(text: str, key: str) -> str:
        seen.append(key)
        return text.replace("Ana", "[NAME]")

    content_settings(redact=hook)
    find("Ana", Point(0, 0.0), since=datetime.date(2000, 1, 1))
    span_attributes = attrs(spans.spans[0])
    assert exact.loads(span_attributes[semconv.CONTENT_INPUT])["query"] == "[NAME]"
    assert exact.loads(span_attributes[semconv.CONTENT_OUTPUT])[0].name == "[NAME]"
    assert semconv.CONTENT_INPUT in seen and semconv.CONTENT_OUTPUT in seen


def test_opting_out_of_exact_redaction_keeps_the_exact_form_whole(
    content_settings: Any, spans: CapturedSpans
) -> None:
    content_settings(redact=lambda text, key: text.replace("Ana", "[NAME]"), redact_exact=False)
    find("Ana ana@example.com", Point(0, 0.0), since=datetime.date(2000, 1, 1))
    span_attributes = attrs(spans.spans[0])
    assert exact.loads(span_attributes[semconv.CONTENT_INPUT])["query"] == "Ana ana@example.com"
    display = json.loads(span_attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS])
    assert display["query"] == f"[NAME] {REDACTED_EMAIL}"  # the display form still is


def test_a_route_records_its_typed_choice(spans: CapturedSpans) -> None:
    @tracer.route
    def pick(q: str) -> Color:
        return Color.BLUE

    pick("x")
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.ROUTE_TARGET] == "blue"
    assert exact.loads(span_attributes[semconv.CONTENT_OUTPUT]) is Color.BLUE


# --- LLM requests -----------------------------------------------------------------------

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "people_search",
            "description": "Find people",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "answer", "schema": {"type": "object"}},
}


def test_an_openai_request_is_recorded_whole(
    openai_server: tuple[str, Any], spans: CapturedSpans
) -> None:
    url, script = openai_server
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
    tracer.instrument_openai()
    try:
        stream = client.chat.completions.create(
            model="gpt-5-mini",
            messages=[
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "who knows rust?"},
            ],
            tools=TOOLS,  # type: ignore[arg-type]
            tool_choice="auto",
            response_format=RESPONSE_FORMAT,  # type: ignore[arg-type]
            reasoning_effort="low",
            temperature=0.3,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={"X-Secret": "header"},
            timeout=30,
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    finally:
        tracer.uninstrument_openai()
        client.close()
    span_attributes = attrs(spans.spans[0])
    request = exact.loads(span_attributes[semconv.CONTENT_INPUT])
    assert request == {
        "model": "gpt-5-mini",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "who knows rust?"},
        ],
        "tools": TOOLS,
        "tool_choice": "auto",
        "response_format": RESPONSE_FORMAT,
        "reasoning_effort": "low",
        "temperature": 0.3,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    # The request as sent, field for field (the server's copy of the body).
    sent = script.bodies[0]
    assert {k: sent[k] for k in request} == request
    assert json.loads(span_attributes[semconv.GEN_AI_TOOL_DEFINITIONS]) == TOOLS
    assert span_attributes[semconv.GEN_AI_OUTPUT_TYPE] == "json"


def test_output_type_and_route_targets_are_recorded_with_capture_off(
    content_settings: Any, spans: CapturedSpans
) -> None:
    content_settings(capture_content=False)

    @tracer.llm(model="m")
    def ask(messages: list[dict[str, str]], response_format: dict[str, str]) -> str:
        return "{}"

    ask([{"role": "user", "content": "secret"}], response_format={"type": "json_object"})
    span_attributes = attrs(spans.spans[0])
    assert span_attributes[semconv.GEN_AI_OUTPUT_TYPE] == "json"
    assert semconv.CONTENT_INPUT not in span_attributes
    assert semconv.GEN_AI_TOOL_DEFINITIONS not in span_attributes


def test_an_llm_function_records_the_request_fields_it_takes(spans: CapturedSpans) -> None:
    class Answer(pydantic.BaseModel):
        text: str

    @tracer.llm(model="local")
    def ask(
        messages: list[dict[str, str]], n: int = 3, **kwargs: Any
    ) -> dict[str, Any]:  # ``n`` is not the OpenAI ``n`` here
        return {}

    ask([{"role": "user", "content": "hi"}], tools=TOOLS, response_format=Answer, other=1)
    request = exact.loads(attrs(spans.spans[0])[semconv.CONTENT_INPUT])
    assert set(request) == {"model", "messages", "tools", "response_format"}
    assert request["model"] == "local"
    # A local class cannot be looked up again: it comes back unresolved, named.
    assert isinstance(request["response_format"], exact.Unresolved)
    assert request["response_format"].cls.endswith("Answer")
