"""agentflight loadtest: an OpenAI-compatible LLM simulator and Locust ramp tests with an SLO gate.

- The simulator: :func:`serve`, :func:`running_simulator` (a background thread) or
  :func:`create_app` (the ASGI app), with a :class:`SimulatorProfile` of per-model
  :class:`Capacity`; :func:`predict` gives the latencies its capacity model implies.
- The gate: :func:`run_gate` with :class:`GateOptions` runs Locust headless in a worker
  process (a ramp, a trace or recorded traffic replayed, or a capacity search) and returns
  the exit code.
- Stored runs (the ``loadtest_runs`` table, through the collector's store):
  :func:`save_run`, :func:`list_runs`, :func:`find_run`; :func:`print_runs` and
  :func:`print_run` are ``agentflight loadtest list`` and ``show``.
- Locust classes for your own locustfiles live in :mod:`loadtest.users` and
  :mod:`loadtest.shapes`. They import Locust, which gevent-monkey-patches the process, so
  this package never imports them itself.

The simulator, the gate and the stored runs load on first use: importing ``loadtest`` stays
cheap and safe to do before Locust's monkey-patching.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loadtest._capacity import Capacity, Prediction, predict
from loadtest._options import DEFAULT_SLO, DEFAULT_STAGES, GateOptions
from loadtest._profiles import ProfileError, SimulatorProfile, load_profile
from loadtest._slo import Objective, parse_slo
from loadtest._stages import Stage, parse_stages
from loadtest._stats import RequestResult
from loadtest._trace import TraceRow, example_trace_path, read_trace
from loadtest._units import InputError

if TYPE_CHECKING:
    from loadtest._gate import GateError, run_gate
    from loadtest._history import print_run, print_runs
    from loadtest._runs import find_run, list_runs, save_run
    from loadtest._serve import running_simulator, serve
    from loadtest._simulator import create_app

__all__ = [
    "DEFAULT_SLO",
    "DEFAULT_STAGES",
    "Capacity",
    "GateError",
    "GateOptions",
    "InputError",
    "Objective",
    "Prediction",
    "ProfileError",
    "RequestResult",
    "SimulatorProfile",
    "Stage",
    "TraceRow",
    "create_app",
    "example_trace_path",
    "find_run",
    "list_runs",
    "load_profile",
    "parse_slo",
    "parse_stages",
    "predict",
    "print_run",
    "print_runs",
    "read_trace",
    "run_gate",
    "running_simulator",
    "save_run",
    "serve",
]

_LAZY = {
    "create_app": "loadtest._simulator",
    "serve": "loadtest._serve",
    "running_simulator": "loadtest._serve",
    "run_gate": "loadtest._gate",
    "GateError": "loadtest._gate",
    "print_run": "loadtest._history",
    "print_runs": "loadtest._history",
    "find_run": "loadtest._runs",
    "list_runs": "loadtest._runs",
    "save_run": "loadtest._runs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'loadtest' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
