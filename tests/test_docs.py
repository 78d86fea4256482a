"""The docs name every setting the code reads, and no setting the code does not read."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT

PACKAGES = ("tracer", "collector", "loadtest", "analytics", "replay", "dashboards", "agentflight")
SETTING = re.compile(r"AGENTFLIGHT_[A-Z_]+[A-Z]")


def names(paths: list[str]) -> set[str]:
    return {name for path in paths for name in SETTING.findall((REPO_ROOT / path).read_text())}


def test_every_environment_variable_is_documented_and_real() -> None:
    code = names(
        [str(p.relative_to(REPO_ROOT)) for pkg in PACKAGES for p in (REPO_ROOT / pkg).rglob("*.py")]
        + ["tests/reliability/harness.py"]  # AGENTFLIGHT_SOAK, set by `make soak`
    )
    docs = names(
        ["README.md", *(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "docs").glob("*.md"))]
    )
    assert code - docs == set(), "read by the code but not documented"
    assert docs - code == set(), "documented but not read by the code"


def test_the_readme_links_only_to_docs_that_exist() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert links
    assert [link for link in links if not (REPO_ROOT / link).exists()] == []
