"""The LLM price table: USD per 1M tokens by model, from YAML (shipped defaults or a file).

How tokens are charged (docs/analytics.md, "Cost"): token counts follow OpenAI's usage report,
where cached tokens are part of the input tokens and reasoning tokens part of the output
tokens. So a call costs

    (input - cached) * input + cached * cached_input
    + (output - reasoning) * output + reasoning * reasoning      (prices per 1M tokens)

and nothing is charged twice.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ModelPrice", "PriceTable", "load_prices"]

PER_TOKENS = 1_000_000
_FIELDS = ("input", "cached_input", "output", "reasoning")
_REQUIRED = ("input", "output")

# Name normalisation, applied in order when the exact name is not in the table.
_PATH = re.compile(r"^.*/")  # "openai/gpt-4o", "meta-llama/Llama-3.1-8B-Instruct"
_VENDOR = re.compile(r"^(?:[a-z]+\.)+(?=[a-z])")  # Bedrock: "us.anthropic.claude-..."
# One trailing version or date suffix; stripped repeatedly.
_SUFFIX = re.compile(
    r"(?:-v\d+(?::\d+)?"  # Bedrock "-v1:0"
    r"|@\d{8}|@latest"  # Vertex "@20240620"
    r"|-\d{4}-\d{2}-\d{2}"  # OpenAI "-2024-07-18"
    r"|-\d{8}"  # Anthropic "-20241022"
    r"|-\d{4}"  # "-0613", "-0125"
    r"|-latest)$"
)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per 1M tokens of each kind."""

    input: float
    cached_input: float
    output: float
    reasoning: float

    def cost(
        self,
        *,
        input_tokens: float,
        cached_tokens: float = 0,
        output_tokens: float = 0,
        reasoning_tokens: float = 0,
    ) -> float:
        cached = min(max(cached_tokens, 0), max(input_tokens, 0))
        reasoning = min(max(reasoning_tokens, 0), max(output_tokens, 0))
        return (
            (max(input_tokens, 0) - cached) * self.input
            + cached * self.cached_input
            + (max(output_tokens, 0) - reasoning) * self.output
            + reasoning * self.reasoning
        ) / PER_TOKENS


@dataclass(frozen=True)
class PriceTable:
    """Prices by model name; see :meth:`resolve` for how names are matched."""

    prices: Mapping[str, ModelPrice]
    taken: str | None = None
    """The date the prices were taken (the shipped table has one)."""
    source: str = ""
    """Where the table came from: ``"defaults"`` or the file's path."""
    _cache: dict[str, str | None] = field(default_factory=dict, repr=False, compare=False)

    @property
    def models(self) -> tuple[str, ...]:
        """The model names the table prices, sorted."""
        return tuple(sorted(self.prices))

    def resolve(self, model: str) -> str | None:
        """The table entry that prices ``model``, or None.

        Matched exactly first; then, lowercased, with a leading ``org/`` path and a leading
        dotted vendor prefix (``us.anthropic.``) removed, and trailing version or date
        suffixes (``-2024-07-18``, ``-20241022``, ``-0613``, ``-latest``, ``@20240620``,
        ``-v1:0``) removed one at a time, the first name in the table wins:
        ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``.
        """
        if model in self._cache:
            return self._cache[model]
        found: str | None = model if model in self.prices else None
        if found is None and model:
            name = _VENDOR.sub("", _PATH.sub("", model.strip().lower()))
            while found is None:
                if name in self.prices:
                    found = name
                    break
                shorter = _SUFFIX.sub("", name)
                if shorter == name or not shorter:
                    break
                name = shorter
        self._cache[model] = found
        return found

    def price(self, model: str) -> ModelPrice | None:
        key = self.resolve(model)
        return None if key is None else self.prices[key]

    def cost(
        self,
        model: str,
        *,
        input_tokens: int,
        cached_tokens: int = 0,
        output_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> float | None:
        """USD for one call (or a sum of calls) of ``model``; None when the model is unknown."""
        price = self.price(model)
        if price is None:
            return None
        return price.cost(
            input_tokens=input_tokens,
            cached_tokens=cached_tokens,
            output_tokens=output_tokens,
            reasoning_tokens=reasoning_tokens,
        )

    def unknown(self, models: Iterable[str]) -> list[str]:
        """The distinct names among ``models`` that the table cannot price, sorted."""
        return sorted({m for m in models if self.resolve(m) is None})


def load_prices(path: str | Path | None = None) -> PriceTable:
    """Load a price table from YAML; ``None`` loads the shipped defaults.

    Raises ValueError naming the file and the problem when the file is unreadable or
    malformed.
    """
    if path is None:
        text = resources.files("analytics").joinpath("prices.yaml").read_text("utf-8")
        return _parse(text, "defaults")
    source = str(path)
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ValueError(f"prices file {source}: cannot read it ({reason})") from None
    return _parse(text, source)


def _parse(text: str, source: str) -> PriceTable:
    def fail(problem: str) -> ValueError:
        return ValueError(f"prices file {source}: {problem}")

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise fail(f"not valid YAML{where}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), dict):
        raise fail("expected a mapping with a 'models' mapping of model -> prices")
    if not doc["models"]:
        raise fail("'models' is empty")
    taken = doc.get("taken")
    prices: dict[str, ModelPrice] = {}
    for name, entry in doc["models"].items():
        if not isinstance(name, str) or not name.strip():
            raise fail(f"model name {name!r} is not a non-empty string")
        key = name.strip().lower()
        if key in prices:
            raise fail(f"model {name!r} is listed twice")
        prices[key] = _model_price(name, entry, fail)
    return PriceTable(prices, taken=None if taken is None else str(taken), source=source)


def _model_price(name: str, entry: Any, fail: Any) -> ModelPrice:
    if not isinstance(entry, dict):
        raise fail(f"model {name!r}: expected a mapping of {', '.join(_FIELDS)}")
    extra = sorted(set(map(str, entry)) - set(_FIELDS))
    if extra:
        raise fail(f"model {name!r}: unknown key {extra[0]!r} (expected {', '.join(_FIELDS)})")
    values: dict[str, float] = {}
    for key in _FIELDS:
        if key not in entry:
            if key in _REQUIRED:
                raise fail(f"model {name!r}: missing {key!r}")
            continue
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
            raise fail(f"model {name!r}: {key!r} must be a non-negative number, got {value!r}")
        values[key] = float(value)
    return ModelPrice(
        input=values["input"],
        cached_input=values.get("cached_input", values["input"]),
        output=values["output"],
        reasoning=values.get("reasoning", values["output"]),
    )


def _finite(value: float) -> bool:
    return math.isfinite(value) and value >= 0
