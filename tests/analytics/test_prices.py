"""The price table: shipped defaults, name matching, charging rules, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics import PriceTable, load_prices


@pytest.fixture(scope="module")
def prices() -> PriceTable:
    return load_prices()


def test_shipped_defaults_are_dated_and_cover_common_providers(prices: PriceTable) -> None:
    assert prices.taken is not None and prices.taken.startswith("20")
    for model in ("gpt-4o", "gpt-4o-mini", "o3-mini", "claude-sonnet-4", "llama-3.1-8b-instruct"):
        assert model in prices.models
    assert list(prices.models) == sorted(prices.models)


def test_cost_charges_cached_and_reasoning_tokens_once(prices: PriceTable) -> None:
    # gpt-4o: input 2.50, cached 1.25, output 10.00, reasoning 10.00 per 1M tokens.
    cost = prices.cost(
        "gpt-4o",
        input_tokens=1_000_000,
        cached_tokens=400_000,
        output_tokens=200_000,
        reasoning_tokens=50_000,
    )
    expected = (600_000 * 2.50 + 400_000 * 1.25 + 150_000 * 10.0 + 50_000 * 10.0) / 1e6
    assert cost == pytest.approx(expected, rel=1e-12)


def test_reasoning_and_cached_prices_are_charged_at_their_own_rate(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "models:\n  m: {input: 1, cached_input: 0.1, output: 4, reasoning: 8}\n"
        "  plain: {input: 1, output: 4}\n"
    )
    table = load_prices(path)
    assert table.source == str(path)
    assert table.cost(
        "m", input_tokens=10, cached_tokens=3, output_tokens=20, reasoning_tokens=5
    ) == pytest.approx((7 * 1 + 3 * 0.1 + 15 * 4 + 5 * 8) / 1e6)
    # Without cached/reasoning prices, those tokens cost the input/output price.
    assert table.cost(
        "plain", input_tokens=10, cached_tokens=3, output_tokens=20, reasoning_tokens=5
    ) == pytest.approx((10 * 1 + 20 * 4) / 1e6)


def test_unknown_model_costs_none_not_zero(prices: PriceTable) -> None:
    assert prices.cost("my-finetune", input_tokens=10, output_tokens=10) is None
    assert prices.cost("", input_tokens=10) is None
    assert prices.unknown(["gpt-4o", "my-finetune", "x", "my-finetune"]) == ["my-finetune", "x"]


@pytest.mark.parametrize(
    ("name", "entry"),
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("GPT-4o", "gpt-4o"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("openai/gpt-4.1-mini", "gpt-4.1-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet"),
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct"),
        ("gpt-4o-audio-preview", None),  # no prefix guessing: a different product
        ("gpt-4o-mini-tts", None),
    ],
)
def test_model_names_match_exactly_then_without_path_and_date_suffix(
    prices: PriceTable, name: str, entry: str | None
) -> None:
    assert prices.resolve(name) == entry


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("models: [", "not valid YAML at line"),
        ("- a\n- b\n", "'models' mapping"),
        ("models: {}\n", "'models' is empty"),
        ("models:\n  m: 3\n", "model 'm': expected a mapping"),
        ("models:\n  m: {input: 1}\n", "model 'm': missing 'output'"),
        ("models:\n  m: {input: -1, output: 1}\n", "'input' must be a non-negative number"),
        ("models:\n  m: {input: x, output: 1}\n", "'input' must be a non-negative number"),
        ("models:\n  m: {input: .inf, output: 1}\n", "'input' must be a non-negative number"),
        ("models:\n  m: {input: 1, output: 1, cache: 1}\n", "unknown key 'cache'"),
        ("models:\n  M: {input: 1, output: 1}\n  m: {input: 1, output: 1}\n", "listed twice"),
    ],
)
def test_bad_file_is_a_value_error_naming_file_and_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"prices file .*bad\.yaml: ") as info:
        load_prices(path)
    assert problem in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"prices file .*nope\.yaml: cannot read it"):
        load_prices(tmp_path / "nope.yaml")
