"""Concurrency of LLM calls, from span start and end times (docs/analytics.md, "Load").

``concurrency`` of a call: the calls to the same model in flight at its start, across all
processes, services and projects, itself included. Every call is a +1 event at its start
and a -1 at its end; per model (and load-test run: each run is swept apart), the running
sum of the events up to the call's start, ends before starts at the same instant and
simultaneous starts counting each other, is its concurrency.

Only the calls a figure needs (its *targets*: a sample, the calls of some runs) get one, in
one query:

1. the window's events are summed per whole second, and a window-function running sum over
   those per-second totals (at most 86,400 a day per model, not every event) gives each
   second's *carry*: the calls in flight when it begins;
2. a target's concurrency is its second's carry plus the events of that second up to its
   start (``<=``, the same tie rule); only the seconds that hold a target keep their events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from analytics._filters import Filters, scope
from analytics._measures import END_NS, IS_LLM, MODEL, SAMPLE_KEY, START_NS

__all__ = ["EXPRESSIONS", "LOOKBACK_S", "concurrency_sql", "domain", "sweep_sql"]

LOOKBACK_S = 3600
"""Calls that started up to this long before the window still count in its concurrency."""

EXPRESSIONS = {
    "sample_key": SAMPLE_KEY,
    "end_ns": END_NS,
}
"""Expressions a caller may carry out with each target, by name (else a column)."""

_SECOND = "intDiv({ns}, 1000000000)"

_TARGETS = f"""
SELECT {MODEL} AS model, loadtest_run_id, cityHash64(model, loadtest_run_id) AS sweep_key,
       {START_NS} AS start_ns, {_SECOND.format(ns="start_ns")} AS second, {{payload}}
FROM {{{{db:Identifier}}}}.genai_spans
WHERE ({{targets}}) AND {IS_LLM}
"""

# Per sweep (model and load-test run) and second: the net of its events, the running sum of
# those before it (the carry), and, for the seconds that hold a target, its events' times,
# starts positive and ends negative.
_SWEEP = f"""
SELECT t.model AS model, t.loadtest_run_id AS loadtest_run_id, t.start_ns AS start_ns,
       {{outputs}},
       toUInt32(s.carry + arraySum(arrayMap(e -> if(abs(e) <= t.start_ns, sign(e), 0),
                                            s.events))) AS concurrency
FROM (
    SELECT sweep_key, second, events,
           sum(net) OVER (PARTITION BY sweep_key ORDER BY second
                          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - net AS carry
    FROM (
        SELECT sweep_key, second, sum(sign(event)) AS net,
               groupArrayIf(event, cityHash64(sweep_key, second) IN
                   (SELECT cityHash64(sweep_key, second) FROM ({{targets}}))) AS events
        FROM (
            SELECT cityHash64({MODEL}, loadtest_run_id) AS sweep_key,
                   {START_NS} AS s_ns, {END_NS} AS e_ns
            FROM {{{{db:Identifier}}}}.genai_spans
            WHERE {{domain}} AND {IS_LLM}
        )
        ARRAY JOIN [s_ns, -e_ns] AS event,
                   [{_SECOND.format(ns="s_ns")}, {_SECOND.format(ns="e_ns")}] AS second
        GROUP BY sweep_key, second
    )
) AS s
INNER JOIN ({{targets}}) AS t ON t.sweep_key = s.sweep_key AND t.second = s.second
"""


def concurrency_sql(
    filters: Filters | None,
    columns: Sequence[str],
    *,
    target: str = "1",
    all_sources: bool = False,
) -> str:
    """SQL of the window's LLM calls that ``filters`` and the condition ``target`` (over
    ``genai_spans`` columns) select, one row each: ``model``, ``loadtest_run_id``,
    ``start_ns``, ``columns`` (``genai_spans`` columns or :data:`EXPRESSIONS`) and
    ``concurrency``. ``all_sources``: load-test runs' calls too (each run swept apart).
    """
    targets = {"": f"({scope(filters, all_sources=all_sources)}) AND ({target})"}
    return sweep_sql(targets, columns, domain(filters, all_sources=all_sources))


def domain(filters: Filters | None, *, all_sources: bool) -> str:
    """The calls a sweep counts for targets selected by ``filters``: every LLM call of the
    window (and :data:`LOOKBACK_S` before it) of their models and sources."""
    f = filters or Filters()
    parts = [
        scope(
            Filters(loadtest_run=f.loadtest_run),
            all_sources=True,
            model="none",
            lookback_s=LOOKBACK_S,
            all_replays=True,
        )
    ]
    if not (all_sources or f.value("loadtest_run")):
        parts.append("loadtest_run_id = ''")  # production is swept apart from load tests
    if f.value("model"):
        # Targets are picked by request or response model; they are swept by their model.
        picked = scope(
            Filters(project=f.project, loadtest_run=f.loadtest_run, model=f.model),
            all_sources=True,
            all_replays=True,
        )
        parts.append(
            f"{MODEL} IN (SELECT DISTINCT {MODEL} FROM {{db:Identifier}}.genai_spans "
            f"WHERE {picked})"
        )
    return " AND ".join(parts)


def sweep_sql(targets: Mapping[str, str], columns: Sequence[str], domain: str) -> str:
    """:func:`concurrency_sql` for several sets of targets at once: ``targets`` maps a name
    to a condition over ``genai_spans`` (window and filters included); a call is swept when
    one holds, and each named set (name not empty) gets a Bool column of that name."""
    names = [c for c in columns if c not in ("model", "loadtest_run_id", "start_ns")]
    flags = [(name, cond) for name, cond in targets.items() if name]
    payload = [f"{EXPRESSIONS.get(c, c)} AS {c}" for c in names]
    payload += [f"toBool({cond}) AS {name}" for name, cond in flags]
    return _SWEEP.format(
        outputs=", ".join(f"t.{c} AS {c}" for c in [*names, *(n for n, _ in flags)]) or "1 AS one",
        targets=_TARGETS.format(
            payload=", ".join(payload) or "1 AS one",
            targets=" OR ".join(f"({cond})" for cond in targets.values()),
        ),
        domain=domain,
    )
