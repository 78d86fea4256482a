"""The capacity model and the profiles that configure it."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

import loadtest
from loadtest import Capacity, ProfileError, SimulatorProfile, load_profile, predict


def test_prefill_grows_with_prompt_and_tbt_with_active_sequences() -> None:
    capacity = Capacity(
        max_batch=8, prefill_base_ms=10, prefill_ms_per_token=0.1, tbt_base_ms=5, tbt_slope_ms=2
    )
    assert capacity.prefill_ms(0) == 10
    assert capacity.prefill_ms(1000) == pytest.approx(110)
    assert capacity.tbt_ms(1) == 7
    assert capacity.tbt_ms(8) == 21
    assert capacity.tbt_ms(50) == 21  # never more than max_batch decode together


def test_prediction_below_the_batch_size_has_no_queue() -> None:
    capacity = Capacity(max_batch=8, prefill_base_ms=20, prefill_ms_per_token=0, tbt_base_ms=10)
    capacity = Capacity.from_mapping({"tbt_slope_ms": 1.0}, base=capacity)
    one = predict(capacity, 1, prompt_tokens=100, output_tokens=11)
    eight = predict(capacity, 8, prompt_tokens=100, output_tokens=11)
    assert one.queue_ms == eight.queue_ms == 0
    assert one.ttft_ms == eight.ttft_ms == 20
    assert (one.tbt_ms, eight.tbt_ms) == (11, 18)
    assert eight.e2e_ms == 20 + 10 * 18


def test_prediction_beyond_the_batch_size_queues_whole_services() -> None:
    capacity = Capacity(max_batch=4, prefill_base_ms=40, prefill_ms_per_token=0, tbt_base_ms=10)
    capacity = Capacity.from_mapping({"tbt_slope_ms": 2}, base=capacity)
    eight = predict(capacity, 8, prompt_tokens=1, output_tokens=20)
    service = 40 + 19 * 18
    assert eight.tbt_ms == 18
    assert eight.queue_ms == pytest.approx(service)  # 8 clients on 4 slots wait one service
    assert eight.ttft_ms == pytest.approx(service + 40)
    assert eight.requests_per_s == pytest.approx(4000 / service)


def test_reasoning_tokens_delay_the_first_visible_token() -> None:
    capacity = Capacity(reasoning_tokens=10, tbt_base_ms=10, tbt_slope_ms=0, prefill_base_ms=5)
    capacity = Capacity.from_mapping({"prefill_ms_per_token": 0}, base=capacity)
    prediction = predict(capacity, 1, prompt_tokens=1, output_tokens=5)
    assert prediction.ttft_ms == 5 + 10 * 10
    assert prediction.e2e_ms == 5 + 14 * 10


def test_output_length_is_fixed_or_drawn_and_a_seed_repeats_it() -> None:
    assert Capacity(output_tokens=50).sample_output_tokens(random.Random(1)) == 50
    spread = Capacity(output_tokens=100, output_tokens_sigma=0.8, output_tokens_max=300)
    first = [spread.sample_output_tokens(random.Random(f"7:{i}")) for i in range(200)]
    again = [spread.sample_output_tokens(random.Random(f"7:{i}")) for i in range(200)]
    assert first == again
    assert min(first) >= 1 and max(first) <= 300
    assert 60 < sorted(first)[100] < 160  # the median is near 100
    assert len(set(first)) > 50


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_batch": 0}, "max_batch"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"tbt_base_ms": -1}, "tbt_base_ms"),
        ({"tbt_base_ms": "fast"}, "must be a number"),
        ({"max_batch": 2.5}, "integer"),
        ({"batch": 4}, "unknown capacity parameter"),
    ],
)
def test_bad_capacity_values_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Capacity.from_mapping(values)


def test_profile_layers_builtin_file_defaults_flags_then_model_table(tmp_path: Path) -> None:
    path = tmp_path / "profile.toml"
    path.write_text(
        "[defaults]\nmax_batch = 32\ntbt_base_ms = 9\n\n"
        '[models."big-model"]\ntbt_base_ms = 40\nreasoning_tokens = 64\n'
    )
    profile = load_profile(path, {"tbt_base_ms": 12, "error_rate": 0.1})
    default = profile.for_model("anything-else")
    assert (default.max_batch, default.tbt_base_ms, default.error_rate) == (32, 12, 0.1)
    big = profile.for_model("big-model")
    assert (big.max_batch, big.tbt_base_ms, big.reasoning_tokens, big.error_rate) == (
        32,
        40,
        64,
        0.1,
    )
    assert big.prefill_base_ms == Capacity().prefill_base_ms
    assert profile.model_names() == ["big-model"]


def test_json_profiles_work_too(tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({"models": {"m": {"max_batch": 2}}}))
    assert load_profile(path).for_model("m").max_batch == 2
    assert SimulatorProfile().model_names() == ["agentflight-sim"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.toml", "[models.m]\nmax_batch = 0\n", "models.m: max_batch"),
        ("p.toml", "[models.m]\nspeed = 3\n", "models.m: unknown capacity parameter"),
        ("p.toml", "[extras]\n", "unknown profile section"),
        ("p.toml", "models = 3\n", "models must be a table"),
        ("p.toml", "[models\n", "not valid TOML"),
        ("p.json", "{", "not valid JSON"),
        ("p.json", "[1]", "object at the top level"),
    ],
)
def test_bad_profiles_say_what_is_wrong(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ProfileError, match=message):
        load_profile(path)


def test_a_missing_profile_is_a_profile_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read profile"):
        load_profile(tmp_path / "absent.toml")


def test_importing_loadtest_stays_light_and_unpatched() -> None:
    """Locust monkey-patches whoever imports it: ``import loadtest`` must not."""
    code = (
        "import sys, loadtest\n"
        "heavy = ('locust', 'gevent', 'fastapi', 'uvicorn', 'rich', 'httpx', 'tracer')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
    for name in loadtest.__all__:  # the lazy ones load on first use
        assert getattr(loadtest, name) is not None
