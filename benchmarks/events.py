"""What live events cost: a run making 500 host calls, with no listener and with one,
against raw Monty making the same calls.

    python benchmarks/events.py [--repeat 15] [--calls 500]

Interleaved in blocks in one process, p50 of `--repeat` runs each:

- raw Monty: checkout + `feed_run` of the loop, `add` as its external function;
- agent-tools, no listener (`agent_tools.run(template)`): what every run pays now
  that events exist (nothing is built without a listener);
- agent-tools with a listener (`on_event=list.append`): 1,002 events per run (a
  start and an end per call, and the run's first and last).

Prints us per host call and the cost per event ((with - without) / events).
`--no-listener` measures raw Monty and the run with no listener only, which older
versions (before events) can run too, to compare what runs pay now with what they
paid then:

    git worktree add /tmp/before <commit>
    PYTHONPATH=/tmp/before python benchmarks/events.py --no-listener
    python benchmarks/events.py --no-listener

Nothing asserts.
"""

from __future__ import annotations

import argparse
import statistics
import time
import typing

import pydantic_monty

import agent_tools as at


def add(a: int, b: int) -> int:
    return a + b


def main(repeat: int, calls: int, with_listener: bool = True) -> None:
    code = f"t = 0\nfor i in range({calls}):\n    t = add(t, i)\nt"
    expected = sum(range(calls))
    template = at.orchestrator_from_str(code, inputs={}, output=int, tasks=[add])
    events: list[typing.Any] = []
    samples: dict[str, list[float]] = {"raw": [], "none": [], "listener": []}
    with pydantic_monty.Monty() as pool:

        def raw() -> None:
            with pool.checkout() as session:
                if session.feed_run(code, external_lookup={"add": add}) != expected:
                    raise SystemExit("raw Monty computed another value")

        def none() -> None:
            if at.run(template).result != expected:
                raise SystemExit("agent-tools computed another value")

        def listener() -> None:
            events.clear()
            run_with: typing.Any = at.run  # an older agent_tools may not take on_event
            if run_with(template, on_event=events.append).result != expected:
                raise SystemExit("agent-tools computed another value")

        runs = {"raw": raw, "none": none, "listener": listener}
        if not with_listener:
            del runs["listener"]
        for fn in runs.values():  # warm up
            for _ in range(3):
                fn()
        for block in range(repeat):
            order = list(runs.items())
            for name, fn in order if block % 2 == 0 else reversed(order):
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
    p50 = {name: statistics.median(values) for name, values in samples.items() if values}
    per_call = {name: value / calls * 1e6 for name, value in p50.items()}
    if not with_listener:
        print(f"{calls} host calls per run, p50 of {repeat} runs each")
        raw_us, none_us = per_call["raw"], per_call["none"]
        print(f"raw Monty {raw_us:.1f} us per host call; agent-tools, no listener {none_us:.1f} us")
        print(f"ratio {per_call['none'] / per_call['raw']:.2f}x raw")
        return
    n_events = len(events)
    per_event = (p50["listener"] - p50["none"]) / n_events * 1e6
    print(
        f"{calls} host calls per run, p50 of {repeat} runs each; {n_events} events per run with a listener\n"
    )
    print("| measurement | us per host call | vs raw Monty |")
    print("|---|---:|---:|")
    print(f"| raw Monty | {per_call['raw']:.1f} | |")
    print(
        f"| agent-tools, no listener | {per_call['none']:.1f} | {per_call['none'] / per_call['raw']:.2f}x |"
    )
    listener_ratio = per_call["listener"] / per_call["raw"]
    name = "agent-tools, listener (`on_event=list.append`)"
    print(f"| {name} | {per_call['listener']:.1f} | {listener_ratio:.2f}x |")
    print(f"\ncost per event: {per_event:.2f} us")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--no-listener", action="store_true", help="raw and no listener only")
    args = parser.parse_args()
    main(args.repeat, args.calls, not args.no_listener)
