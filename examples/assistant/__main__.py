"""``python -m examples.assistant``: the demo assistant under a rising ramp of traffic."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import tracer
from examples.assistant.agents import answer, configure_llm
from examples.assistant.skills import configure_web_search
from examples.assistant.traffic import Behaviour, Ramp, run_traffic
from examples.assistant.websearch import WebSearchServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.assistant", description=__doc__)
    parser.add_argument("--collector", required=True, help="OTLP/HTTP endpoint for the spans")
    parser.add_argument("--llm", required=True, help="OpenAI-compatible base URL (…/v1)")
    parser.add_argument("--duration", type=float, default=None, help="seconds (default: forever)")
    parser.add_argument("--base-rate", type=float, default=0.6, help="runs/s at the first step")
    parser.add_argument("--stage-seconds", type=float, default=None, help="length of each step")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ask", help="answer one question and exit, instead of traffic")
    args = parser.parse_args(argv)

    tracer.configure(service_name="jobs-assistant", endpoint=args.collector)
    tracer.instrument_openai()
    configure_llm(args.llm)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with WebSearchServer(seed=args.seed) as search:
        configure_web_search(search.url)
        if args.ask:
            print(answer(args.ask))
        else:
            stage = args.stage_seconds or (args.duration / 4 if args.duration else 30.0)
            ramp = Ramp(base_rate=args.base_rate, stage_seconds=stage)
            print(f"traffic: {len(ramp.multipliers)} steps of {stage:.0f} s, "
                  f"{ramp.base_rate:.1f} to {ramp.base_rate * ramp.multipliers[-1]:.1f} runs/s",
                  flush=True)  # fmt: skip

            def run(question: str, behaviour: Behaviour) -> object:
                return answer(question, behaviour.patience, behaviour.regenerate)

            tally = run_traffic(
                run, ramp, args.duration, stop, seed=args.seed,
                report=lambda line: print(line, flush=True),
            )  # fmt: skip
            print(f"traffic: done: {tally.started} runs, {tally.failed} failed, "
                  f"{tally.shed} shed", flush=True)  # fmt: skip
    tracer.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
