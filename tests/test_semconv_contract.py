"""One attribute contract: what the view reads is named in semconv and documented once."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT
from tracer import semconv

DOC = (REPO_ROOT / "docs" / "attributes.md").read_text()
VIEW_SQL = "\n".join(
    p.read_text() for p in sorted((REPO_ROOT / "collector" / "migrations").glob("*.sql"))
)
ATTRIBUTE_NAMES = {
    value
    for name, value in vars(semconv).items()
    if name.isupper() and isinstance(value, str) and not name.startswith("OP_") and "." in value
}


def test_every_attribute_the_view_reads_is_a_semconv_name() -> None:
    read = set(re.findall(r"(?:Span|Resource)Attributes\['([^']+)'\]", VIEW_SQL))
    assert read, "the view reads no attribute?"
    assert read - ATTRIBUTE_NAMES == set()


def test_every_semconv_name_is_documented_in_the_attribute_table() -> None:
    documented = set(re.findall(r"^\| `([^`]+)`", DOC, flags=re.MULTILINE))
    assert ATTRIBUTE_NAMES - documented == set()


def test_waste_causes_are_documented() -> None:
    assert all(f"`{cause}`" in DOC for cause in semconv.WASTE_CAUSES)
