"""``--fail-if "route_agreement<95%,similarity<0.8,cost_delta>10%,..."``: gate conditions on
the batch summary.

Each condition is ``NAME OP VALUE`` with ``OP`` one of ``< <= > >= == !=``:

- ``route_agreement``, ``similarity`` (the mean similarity): fractions in [0, 1]; ``95%``
  and ``0.95`` mean the same;
- ``tokens_delta``, ``cost_delta``, ``p95_latency_delta``: percentages, written with ``%``;
- ``divergences``, ``errors``, ``traces``: counts.

A condition whose figure is unknown (no price for a model, no trace with an output) does not
hold; the report lists it as not evaluated.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ._errors import ReplayInputError

__all__ = ["Condition", "parse_fail_if"]

_OPS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
# name -> (summary key, kind)
_FIGURES: Final = {
    "route_agreement": ("route_agreement", "fraction"),
    "similarity": ("mean_similarity", "fraction"),
    "mean_similarity": ("mean_similarity", "fraction"),
    "tokens_delta": ("tokens_delta_pct", "percent"),
    "cost_delta": ("cost_delta_pct", "percent"),
    "p95_latency_delta": ("p95_latency_delta_pct", "percent"),
    "divergences": ("divergences", "count"),
    "errors": ("errors", "count"),
    "traces": ("traces", "count"),
}
_CONDITION = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|==|!=|<|>)\s*(-?[0-9.]+)\s*(%?)\s*$")


@dataclass(frozen=True)
class Condition:
    """One parsed condition: ``key`` of the summary compared with ``threshold``."""

    text: str
    key: str
    op: str
    threshold: float

    def holds(self, summary: Mapping[str, Any]) -> bool | None:
        """Whether the condition holds; ``None`` when the figure is unknown."""
        value = summary.get(self.key)
        if value is None:
            return None
        return _OPS[self.op](value, self.threshold)


def parse_fail_if(text: str | None) -> list[Condition]:
    """The conditions of a ``--fail-if`` value; ``ReplayInputError`` naming a bad one."""
    if not text:
        return []
    conditions = []
    for part in text.split(","):
        if not part.strip():
            continue
        match = _CONDITION.match(part)
        if match is None:
            raise ReplayInputError(
                f"--fail-if: cannot read {part.strip()!r}; write NAME<VALUE, e.g. similarity<0.8"
            )
        name, op, number, percent = match.groups()
        if name not in _FIGURES:
            raise ReplayInputError(
                f"--fail-if: unknown figure {name!r}; one of {', '.join(sorted(_FIGURES))}"
            )
        key, kind = _FIGURES[name]
        try:
            value = float(number)
        except ValueError:
            raise ReplayInputError(f"--fail-if: {number!r} is not a number") from None
        if kind == "fraction" and percent:
            value /= 100
        elif kind == "percent" and not percent:
            raise ReplayInputError(f"--fail-if: {name} is a percentage; write {name}{op}{number}%")
        elif kind == "count" and percent:
            raise ReplayInputError(f"--fail-if: {name} is a count; write {name}{op}{number}")
        conditions.append(Condition(part.strip(), key, op, value))
    return conditions
