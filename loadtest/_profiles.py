"""Simulator profiles: capacity parameters per model name, from a JSON or TOML file.

A profile has an optional ``defaults`` table and a ``models`` table keyed by model name::

    [defaults]
    max_batch = 32

    [models."gpt-4o-mini"]
    tbt_base_ms = 8
    tbt_slope_ms = 0.25

    [models."o4-mini"]
    reasoning_tokens = 256

Layers, later wins: built-in defaults, the profile's ``defaults``, the command-line capacity
flags, then the model's own table. Any model name is served; names without a table of
their own get the defaults.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest._capacity import Capacity

__all__ = ["ProfileError", "SimulatorProfile", "load_profile"]

DEFAULT_MODEL = "agentflight-sim"


class ProfileError(ValueError):
    """A profile file that cannot be read or holds unknown or invalid parameters."""


@dataclass(frozen=True)
class SimulatorProfile:
    """The capacity of every model the simulator serves."""

    defaults: Capacity = field(default_factory=Capacity)
    models: Mapping[str, Capacity] = field(default_factory=dict)

    def for_model(self, name: str) -> Capacity:
        return self.models.get(name, self.defaults)

    def model_names(self) -> list[str]:
        return sorted(self.models) or [DEFAULT_MODEL]

    @classmethod
    def build(
        cls,
        data: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> SimulatorProfile:
        """A profile from parsed file ``data`` with command-line ``overrides`` applied."""
        data = dict(data or {})
        unknown = sorted(set(data) - {"defaults", "models"})
        if unknown:
            raise ProfileError(
                f"unknown profile section(s) {', '.join(unknown)}; expected 'defaults' and 'models'"
            )
        defaults_table = _table(data.get("defaults", {}), "defaults")
        models_table = _table(data.get("models", {}), "models")
        try:
            defaults = Capacity.from_mapping(defaults_table)
            defaults = Capacity.from_mapping(dict(overrides or {}), base=defaults)
        except ValueError as exc:
            raise ProfileError(f"defaults: {exc}") from None
        models: dict[str, Capacity] = {}
        for name, table in models_table.items():
            try:
                models[name] = Capacity.from_mapping(_table(table, f"models.{name}"), base=defaults)
            except ValueError as exc:
                raise ProfileError(f"models.{name}: {exc}") from None
        return cls(defaults=defaults, models=models)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ProfileError(f"{where} must be a table/object, got {type(value).__name__}")
    return dict(value)


def load_profile(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> SimulatorProfile:
    """Read a ``.json`` or ``.toml`` profile (or none) and apply ``overrides`` to its defaults."""
    data: Mapping[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ProfileError(f"cannot read profile {path}: {exc.strerror or exc}") from None
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(raw)
            else:
                data = tomllib.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
            raise ProfileError(f"profile {path} is not valid {kind}: {exc}") from None
        if not isinstance(data, Mapping):
            raise ProfileError(f"profile {path} must hold an object at the top level")
    return SimulatorProfile.build(data, overrides)
