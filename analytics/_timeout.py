"""Timeout risk per agent with a deadline: observed, projected at load multipliers, the
multiplier that breaks the p99 run, and where the slowest runs spend their time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from analytics._concurrency import domain, sweep_sql
from analytics._filters import Filters, Window, scope, scope_params, window
from analytics._fit import LineFit
from analytics._load import FIT_FIELDS, FIT_POINTS, fit_sample, lines_from
from analytics._measures import END_NS, IS_ERROR, SAMPLE_KEY, START_NS, frame
from analytics._project import Law, critical_paths, project_calls, run_critical_path
from collector import Store

__all__ = [
    "BUDGET_PARTS",
    "CALL_FIELDS",
    "MAX_MULTIPLIER",
    "RISK_COLUMNS",
    "RiskSample",
    "fits_and_risk",
    "law_filters",
    "risk_frame",
    "risk_sample",
    "timeout_risk",
]

MAX_MULTIPLIER = 10.0
MAX_RUNS = 5_000
"""Runs re-timed per agent: a deterministic hash sample of about this many when it has more."""
BUDGET_PARTS = ("ttft_ms", "visible_output_ms", "reasoning_ms", "skills_ms", "other_ms")
RISK_COLUMNS = (
    "agent",
    "timeout_ms",
    "runs",
    "timed_out",
    "observed_rate",
    "projected",
    "breaking_multiplier",
    "slow_run_budget",
    "sampled_runs",
)

CALL_FIELDS = (
    "trace_key",
    "end_ns",
    "duration_ms",
    "ttft_ms",
    "tbt_mean_ms",
    "output_tokens",
    "reasoning_tokens",
)
_AGENTS = f"""
SELECT agent_name AS agent, count() AS runs,
       countIf(duration_ms > timeout_ms) AS timed_out,
       quantileExact(0.5)(timeout_ms) AS deadline_ms,
       countIf({IS_ERROR}) AS errors
FROM {{{{db:Identifier}}}}.genai_spans
WHERE {{scope}} AND operation = 'invoke_agent' AND agent_name != '' AND timeout_ms IS NOT NULL
GROUP BY agent_name
ORDER BY agent_name
"""
_RUNS = f"""
SELECT span_id AS run_id, trace_key, agent_name AS agent,
       {START_NS} AS start_ns, {END_NS} AS end_ns, duration_ms, toFloat64(timeout_ms) AS timeout_ms
FROM {{{{db:Identifier}}}}.genai_spans
WHERE {{scope}} AND operation = 'invoke_agent' AND agent_name != '' AND timeout_ms IS NOT NULL
  AND {SAMPLE_KEY} <= transform(agent_name, {{{{agents:Array(String)}}}},
                                {{{{agent_cuts:Array(UInt64)}}}}, toUInt64(0))
"""
_IN_RUNS = "trace_key IN (SELECT trace_key FROM ({runs}))"
_SKILLS = f"""
SELECT trace_key, {START_NS} AS start_ns, {END_NS} AS end_ns, duration_ms
FROM {{{{db:Identifier}}}}.genai_spans
WHERE {{scope}} AND operation = 'execute_tool' AND {{in_runs}}
"""


@dataclass(frozen=True, slots=True)
class RiskSample:
    """The runs a timeout projection re-times, and how to find their LLM calls."""

    agents: pl.DataFrame
    runs: pl.DataFrame
    skills: pl.DataFrame
    calls_where: str
    """The LLM calls of the sampled runs: a condition over ``genai_spans``."""
    params: dict[str, Any]


def timeout_risk(
    store: Store,
    since: datetime,
    until: datetime,
    filters: Filters | None = None,
    multipliers: Sequence[float] = (1.5, 2, 3),
    *,
    lines: dict[tuple[str, str, str], LineFit] | None = None,
) -> pl.DataFrame:
    """One row per agent whose runs have a deadline (``timeout_ms``).

    ``observed_rate``: runs longer than their deadline over runs. ``projected``: a struct
    of the rate at each multiplier (field names ``"1.5"``, ``"2"``, ``"3"``), re-timing a
    deterministic hash sample of about 5,000 runs per agent (``sampled_runs``).
    ``breaking_multiplier``: the smallest multiplier (to 0.01, up to 10) at which the
    projected p99 run exceeds the deadline. ``slow_run_budget``: the mean split of the
    slowest 1 % of runs (at least one) into TTFT, visible output, reasoning, skills and
    the rest. ``lines``: the fitted laws, when the caller has them (see ``fit_lines``).
    Columns: :data:`RISK_COLUMNS`.
    """
    mults = _multipliers(multipliers)
    win = window(since, until)
    if lines is not None:
        sample = risk_sample(store, win, filters)
        if sample is None:
            return pl.DataFrame(schema=_schema(mults))
        inner = law_filters(filters)
        sql = sweep_sql({"": sample.calls_where}, CALL_FIELDS, domain(inner, all_sources=False))
        return risk_frame(sample, frame(store, sql, sample.params), lines, mults)
    _, risk = fits_and_risk(store, win, filters, law_filters(filters), mults)
    return risk


def fits_and_risk(
    store: Store,
    win: Window,
    filters: Filters | None,
    fit_filters: Filters | None,
    multipliers: Sequence[float],
) -> tuple[dict[tuple[str, str, str], LineFit], pl.DataFrame]:
    """The fitted lines of ``fit_filters``' calls (as ``fit_lines``) and ``timeout_risk``
    of ``filters``, with one concurrency sweep for the fits' sample, the sample of the
    laws that re-time runs (the project's calls, when those differ) and the re-timed runs'
    calls. Queries that do not wait for one another's results run side by side: the fits'
    sample sizes with the agents, then the sweep with the sampled runs and their skills."""
    mults = _multipliers(multipliers)
    laws_filters = law_filters(filters)
    same = laws_filters.describe() == (fit_filters or Filters()).describe()
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="agentflight-risk") as pool:
        planned = {
            "for_fit": pool.submit(fit_sample, store, win, fit_filters, FIT_POINTS, prefix="fit_")
        }
        if not same:
            planned["for_laws"] = pool.submit(
                fit_sample, store, win, laws_filters, FIT_POINTS, prefix="laws_"
            )
        plan = _risk_plan(store, win, filters)
        waiting = None if plan is None else _sampled(store, plan, pool)
        plans = {name: future.result() for name, future in planned.items()}
        targets = {name: fit[0] if fit else "0" for name, fit in plans.items()}
        targets["for_risk"] = plan.calls_where if plan else "0"
        params = scope_params(win, filters)
        for fit_plan in plans.values():
            params |= fit_plan[1] if fit_plan else {}
        params |= plan.params if plan else {}
        f = fit_filters or Filters()
        calls = pl.DataFrame()
        if any(cond != "0" for cond in targets.values()):
            columns = list(dict.fromkeys([*FIT_FIELDS, *CALL_FIELDS]))
            sweep = domain(Filters(loadtest_run=f.loadtest_run), all_sources=True)
            calls = frame(store, sweep_sql(targets, columns, sweep), params)
        sample = None if waiting is None else waiting()
    lines = _fitted(calls, "for_fit")
    if sample is None:
        return lines, pl.DataFrame(schema=_schema(mults))
    laws = lines if same else _fitted(calls, "for_laws")
    return lines, risk_frame(sample, calls.filter("for_risk"), laws, mults)


def _fitted(calls: pl.DataFrame, flag: str) -> dict[tuple[str, str, str], LineFit]:
    if calls.is_empty():
        return {}
    return lines_from(calls.filter(flag).rename({"concurrency": "load"}), FIT_POINTS)


def law_filters(filters: Filters | None) -> Filters:
    """The filters of the calls whose fits re-time runs: the project's, and the sources'."""
    f = filters or Filters()
    return Filters(project=f.project, loadtest_run=f.loadtest_run, replay_run=f.replay_run)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What selects a risk sample: the agents with a deadline, the queries of their sampled
    runs and skill calls, the condition of those runs' LLM calls, and the parameters."""

    agents: pl.DataFrame
    runs_sql: str
    skills_sql: str
    calls_where: str
    params: dict[str, Any]


def _risk_plan(store: Store, win: Window, filters: Filters | None) -> _Plan | None:
    params = scope_params(win, filters)
    run_scope = scope(filters, model="trace")
    agents = frame(store, _AGENTS.format(scope=run_scope), params)
    if agents.is_empty():
        return None
    params |= {
        "agents": agents["agent"].to_list(),
        "agent_cuts": [min(2**64 - 1, int(min(1.0, MAX_RUNS / n) * 2**64)) for n in agents["runs"]],
    }
    inner = law_filters(filters)
    runs_sql = _RUNS.format(scope=run_scope)
    in_runs = _IN_RUNS.format(runs=runs_sql)
    return _Plan(
        agents=agents,
        runs_sql=runs_sql,
        skills_sql=_SKILLS.format(scope=scope(inner), in_runs=in_runs),
        calls_where=f"({scope(inner)}) AND {in_runs}",
        params=params,
    )


def _sampled(store: Store, plan: _Plan, pool: ThreadPoolExecutor) -> Callable[[], RiskSample]:
    """Starts the plan's two queries on ``pool``; the returned function waits for them."""
    runs = pool.submit(frame, store, plan.runs_sql, plan.params)
    skills = pool.submit(frame, store, plan.skills_sql, plan.params)
    return lambda: RiskSample(
        plan.agents, runs.result(), skills.result(), plan.calls_where, plan.params
    )


def risk_sample(store: Store, win: Window, filters: Filters | None) -> RiskSample | None:
    """The agents with a deadline, a hash sample of their runs and those runs' skill calls;
    None when no run has a deadline."""
    plan = _risk_plan(store, win, filters)
    if plan is None:
        return None
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="agentflight-risk") as pool:
        return _sampled(store, plan, pool)()


def risk_frame(
    sample: RiskSample,
    calls: pl.DataFrame,
    lines: dict[tuple[str, str, str], LineFit],
    multipliers: Sequence[float],
) -> pl.DataFrame:
    """:func:`timeout_risk`'s frame, from its sample and the sampled runs' LLM calls (with
    their concurrency: :data:`CALL_FIELDS`)."""
    mults = _multipliers(multipliers)
    parts = _parts(sample.runs, calls, sample.skills)
    rows = []
    for agent in sample.agents.iter_rows(named=True):
        mine = sample.runs.filter(pl.col("agent") == agent["agent"])
        ids = set(mine["run_id"].to_list())
        rows.append(
            _agent_row(agent, mine, parts.filter(pl.col("run_id").is_in(ids)), lines, mults)
        )
    return pl.DataFrame(rows, schema=_schema(mults))


def _multipliers(multipliers: Sequence[float]) -> list[float]:
    mults = [float(m) for m in multipliers]
    if not mults or any(not np.isfinite(m) or m < 1 for m in mults):
        raise ValueError(f"multipliers must be numbers >= 1, got {list(multipliers)!r}")
    return mults


def _parts(runs: pl.DataFrame, calls: pl.DataFrame, skills: pl.DataFrame) -> pl.DataFrame:
    """The LLM and skill calls that start inside each sampled run (same trace)."""
    llm = calls.select(
        kind=pl.lit("llm"),
        trace_key="trace_key",
        model="model",
        start_ns="start_ns",
        end_ns="end_ns",
        duration_ms="duration_ms",
        concurrency=pl.col("concurrency").cast(pl.Float64),
        ttft_ms="ttft_ms",
        tbt_ms="tbt_mean_ms",
        output_tokens=pl.col("output_tokens").cast(pl.UInt64),
        reasoning_tokens=pl.col("reasoning_tokens").cast(pl.UInt64),
    )
    tools = skills.select(
        kind=pl.lit("skill"),
        trace_key="trace_key",
        model=pl.lit(""),
        start_ns="start_ns",
        end_ns="end_ns",
        duration_ms="duration_ms",
        concurrency=pl.lit(None, pl.Float64),
        ttft_ms=pl.lit(None, pl.Float64),
        tbt_ms=pl.lit(None, pl.Float64),
        output_tokens=pl.lit(0, pl.UInt64),
        reasoning_tokens=pl.lit(0, pl.UInt64),
    )
    both = pl.concat([llm, tools], how="vertical_relaxed")
    spans = runs.select("run_id", "trace_key", run_start="start_ns", run_end="end_ns")
    return (
        both.join(spans, on="trace_key")
        .filter(
            (pl.col("start_ns") >= pl.col("run_start")) & (pl.col("start_ns") < pl.col("run_end"))
        )
        .drop("trace_key", "run_start", "run_end")
    )


def _schema(mults: list[float]) -> dict[str, pl.DataType | type[pl.DataType]]:
    return {
        "agent": pl.String,
        "timeout_ms": pl.Float64,
        "runs": pl.UInt64,
        "timed_out": pl.UInt64,
        "observed_rate": pl.Float64,
        "projected": pl.Struct({_key(m): pl.Float64 for m in mults}),
        "breaking_multiplier": pl.Float64,
        "slow_run_budget": pl.Struct({p: pl.Float64 for p in BUDGET_PARTS}),
        "sampled_runs": pl.UInt64,
    }


def _key(m: float) -> str:
    """``1.5`` -> ``"1.5"``, ``2.0`` -> ``"2"``."""
    return f"{m:g}"


def _laws(
    lines: dict[tuple[str, str, str], LineFit], models: list[str]
) -> tuple[list[Law], list[Law]]:
    ttft: list[Law] = []
    tbt: list[Law] = []
    for model in models:
        for metric, out in (("ttft_ms", ttft), ("tbt_ms", tbt)):
            prod = lines.get((model, "", metric))
            tests = [
                f for (mo, run, me), f in lines.items() if mo == model and run and me == metric
            ]
            test = max(tests, key=lambda f: f.x_hi, default=None)
            out.append(Law(prod, test))
    return ttft, tbt


def _agent_row(
    agent: dict[str, Any],
    runs: pl.DataFrame,
    parts: pl.DataFrame,
    lines: dict[tuple[str, str, str], LineFit],
    mults: list[float],
) -> dict[str, object]:
    runs = runs.sort("run_id")
    run_index = {rid: i for i, rid in enumerate(runs["run_id"].to_list())}
    durations = runs["duration_ms"].to_numpy().astype(np.float64)
    deadlines = runs["timeout_ms"].to_numpy().astype(np.float64)
    llm = parts.filter(pl.col("kind") == "llm")
    models = sorted(set(llm["model"].to_list()))
    ttft_laws, tbt_laws = _laws(lines, models)
    on_path = _llm_path(llm)
    call_run = np.array([run_index[r] for r in llm["run_id"].to_list()], dtype=np.int64)
    model_index = np.array([models.index(m) for m in llm["model"].to_list()], dtype=np.int64)
    concurrency = llm["concurrency"].fill_null(1.0).to_numpy().astype(np.float64)
    duration = llm["duration_ms"].to_numpy().astype(np.float64)
    tokens = llm["output_tokens"].to_numpy().astype(np.float64)

    def projected_runs(m: float) -> np.ndarray:
        added, _ = project_calls(m, concurrency, duration, tokens, ttft_laws, tbt_laws, model_index)
        grown = np.zeros(len(durations))
        np.add.at(grown, call_run[on_path], added[on_path])
        return durations + grown

    def rate(m: float) -> float:
        return float(np.mean(projected_runs(m) > deadlines)) if len(durations) else 0.0

    deadline = float(agent["deadline_ms"])

    def breaks(m: float) -> bool:
        p99 = np.percentile(np.minimum(projected_runs(m), 1e300), 99)
        return bool(p99 > deadline)

    return {
        "agent": agent["agent"],
        "timeout_ms": deadline,
        "runs": agent["runs"],
        "timed_out": agent["timed_out"],
        "observed_rate": agent["timed_out"] / agent["runs"] if agent["runs"] else None,
        "projected": {_key(m): rate(m) for m in mults},
        "breaking_multiplier": _breaking(breaks),
        "slow_run_budget": _budget(runs, parts),
        "sampled_runs": len(durations),
    }


def _llm_path(llm: pl.DataFrame) -> np.ndarray:
    """For each LLM call: whether it is on its run's critical path (over LLM calls)."""
    return critical_paths(
        llm["run_id"].to_numpy(), llm["start_ns"].to_numpy(), llm["end_ns"].to_numpy()
    )


def _breaking(breaks: Callable[[float], bool]) -> float | None:
    """The smallest multiplier in [1, 10] at which ``breaks`` holds (bisection, to 0.01)."""
    if breaks(1.0):
        return 1.0
    if not breaks(MAX_MULTIPLIER):
        return None
    lo, hi = 1.0, MAX_MULTIPLIER
    while hi - lo > 0.005:
        mid = (lo + hi) / 2
        if breaks(mid):
            hi = mid
        else:
            lo = mid
    return round(hi, 2)


def _budget(runs: pl.DataFrame, parts: pl.DataFrame) -> dict[str, float] | None:
    """Mean split of the slowest 1 % of runs along their critical path of LLM and skill calls."""
    if runs.is_empty():
        return None
    n = max(1, int(np.ceil(runs.height * 0.01)))
    slow = runs.sort("duration_ms", descending=True).head(n)
    totals = dict.fromkeys(BUDGET_PARTS, 0.0)
    by_run = parts.filter(pl.col("run_id").is_in(slow["run_id"].implode())).partition_by(
        "run_id", as_dict=True
    )
    for run in slow.iter_rows(named=True):
        mine = by_run.get((run["run_id"],))
        split = dict.fromkeys(BUDGET_PARTS, 0.0)
        if mine is not None:
            on = run_critical_path(mine["start_ns"].to_numpy(), mine["end_ns"].to_numpy())
            for row, picked in zip(mine.iter_rows(named=True), on, strict=True):
                if picked:
                    _split(row, split)
        split["other_ms"] = max(0.0, run["duration_ms"] - sum(split.values()))
        for key in BUDGET_PARTS:
            totals[key] += split[key]
    return {key: round(value / n, 3) for key, value in totals.items()}


def _split(row: dict[str, Any], split: dict[str, float]) -> None:
    duration = float(row["duration_ms"])
    if row["kind"] == "skill":
        split["skills_ms"] += duration
        return
    reasoning_tokens = float(row["reasoning_tokens"] or 0)
    output = float(row["output_tokens"] or 0)
    ttft, tbt = row["ttft_ms"], row["tbt_ms"]
    if ttft is not None:
        reasoning = min(reasoning_tokens * float(tbt or 0.0), float(ttft))
        split["reasoning_ms"] += reasoning
        split["ttft_ms"] += float(ttft) - reasoning
        split["visible_output_ms"] += max(0.0, duration - float(ttft))
    else:
        reasoning = duration * reasoning_tokens / output if output > 0 else 0.0
        split["reasoning_ms"] += reasoning
        split["visible_output_ms"] += duration - reasoning
