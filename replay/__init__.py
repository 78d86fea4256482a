"""agentflight replay: re-execute recorded agent traces against a new prompt or model.

    from collector import Store
    import replay

    options = replay.ReplayOptions(base_url="http://127.0.0.1:8000/v1", model="gpt-4o")
    with Store.connect() as store:
        report = replay.run(store, options, agent="job_assistant", fail_if="similarity<0.8")
    print(report.summary, report.passed)

Agent replay imports the agent's recorded entry point and calls it with its recorded inputs;
recorded skill results stand in for live calls and LLM calls go to the target with the
overrides. LLM-call replay re-issues each recorded request. See docs/replay.md.
"""

from ._diff import TraceResult, similarity
from ._engine import AGENT_MODE, LLM_MODE, Replayer, ReplayOptions
from ._errors import RecordedSkillError, ReplayDivergence, ReplayError, ReplayInputError
from ._failif import Condition, parse_fail_if
from ._load import load_trace, select_traces
from ._model import Step, TraceTree
from ._report import RunReport, summarise
from ._run import parse_since, run
from ._runs import load_run, save_run
from ._stubs import POLICIES

__all__ = [
    "AGENT_MODE",
    "LLM_MODE",
    "POLICIES",
    "Condition",
    "RecordedSkillError",
    "ReplayDivergence",
    "ReplayError",
    "ReplayInputError",
    "ReplayOptions",
    "Replayer",
    "RunReport",
    "Step",
    "TraceResult",
    "TraceTree",
    "load_run",
    "load_trace",
    "parse_fail_if",
    "parse_since",
    "run",
    "save_run",
    "select_traces",
    "similarity",
    "summarise",
]
