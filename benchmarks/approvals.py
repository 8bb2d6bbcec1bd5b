"""What a pause for approval costs: a run holding 1 MB of sandbox state pauses at a
call, is kept, and resumes, against the same run with no pause.

    python benchmarks/approvals.py [--repeat 30] [--state-mb 1]

The code builds a string of `--state-mb` MB and a list of 10,000 numbers, then
calls `gate(n)` and returns a value computed from all three. Measured in one
process, interleaved, p50 of `--repeat` runs each:

- no pause: `gate` needs no approval (the run is fed step by step all the same,
  as any run naming a function with an approval rule is; and fed plainly, for
  reference);
- paused: `gate` needs approval. "pause" is `agent_tools.run` up to the record
  that waits (the run, Monty's dump of the suspended sandbox, and keeping it in
  the store); "resume" is `agent_tools.resume(token, approve=True)` to the final
  record (claiming it, loading the dump into a fresh sandbox, the call, the rest
  of the code). With the in-memory store and with `SQLiteApprovalStore`.

Prints the snapshot's size and each time with its ratio to the run with no pause.
Nothing asserts.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import agent_tools as at

CODE = """\
blob = "x" * (state_mb * 1_000_000)
numbers = [i * i for i in range(10_000)]
g = gate(7)
[len(blob), sum(numbers), g]
"""


def plain_gate(n: int) -> int:
    return n + 1


@at.requires_approval
def approved_gate(n: int) -> int:
    return n + 1


def never(call: at.ApprovalRequest) -> bool:
    return False


@at.requires_approval(when=never)
def stepped_gate(n: int) -> int:
    return n + 1


def main(repeat: int, state_mb: int) -> None:
    def template(gate: Callable[[int], int]) -> at.CodeTaskTemplate:
        gate.__name__ = "gate"
        return at.orchestrator_from_str(CODE, inputs={"state_mb": int}, output=list, tasks=[gate])

    plain = template(plain_gate)
    stepped = template(stepped_gate)
    paused = template(approved_gate)
    expected = [state_mb * 1_000_000, sum(i * i for i in range(10_000)), 8]
    samples: dict[str, list[float]] = {
        k: [] for k in ("plain", "stepped", "pause", "resume", "pause sqlite", "resume sqlite")
    }
    snapshot_bytes = 0
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = at.SQLiteApprovalStore(Path(tmp) / "paused.db")
        memory = at.MemoryApprovalStore()

        def paused_run(store: at.ApprovalStore) -> tuple[float, float]:
            at.set_approval_store(store)
            start = time.perf_counter()
            record = at.run(paused, state_mb=state_mb)
            mid = time.perf_counter()
            assert record.pending is not None
            done = paused.resume(record.pending.token, approve=True, store=store)
            end = time.perf_counter()
            if done.result != expected:
                raise SystemExit(f"the resumed run returned {done.result!r}")
            return mid - start, end - mid

        for _ in range(3):  # warm up every path
            assert at.run(plain, state_mb=state_mb).result == expected
            assert at.run(stepped, state_mb=state_mb).result == expected
            paused_run(memory)
            paused_run(sqlite)
        at.set_approval_store(memory)
        record = at.run(paused, state_mb=state_mb)
        assert record.pending is not None
        snapshot_bytes = len(memory.peek(record.pending.token).snapshot)
        for block in range(repeat):
            order = ["plain", "stepped", "memory", "sqlite"]
            for what in order if block % 2 == 0 else reversed(order):
                if what in ("plain", "stepped"):
                    start = time.perf_counter()
                    result = at.run(plain if what == "plain" else stepped, state_mb=state_mb).result
                    samples[what].append(time.perf_counter() - start)
                    if result != expected:
                        raise SystemExit(f"{what} returned {result!r}")
                else:
                    pause, resume = paused_run(memory if what == "memory" else sqlite)
                    suffix = "" if what == "memory" else " sqlite"
                    samples["pause" + suffix].append(pause)
                    samples["resume" + suffix].append(resume)
        at.set_approval_store(None)
    p50 = {k: statistics.median(v) * 1000 for k, v in samples.items()}
    base = p50["stepped"]
    print(f"state: {state_mb} MB string + 10,000 numbers; Monty's snapshot: {snapshot_bytes:,} bytes")
    print(f"p50 of {repeat} runs each, ms; ratio to the same run with no pause\n")
    print("| measurement | ms | vs no pause |")
    print("|---|---:|---:|")
    rows = [
        ("no pause (fed step by step, as runs with an approval rule are)", p50["stepped"]),
        ("no pause, fed plainly (no function with an approval rule)", p50["plain"]),
        ("pause: run to the call, dump, keep (memory store)", p50["pause"]),
        ("resume: claim, load, call, finish (memory store)", p50["resume"]),
        ("pause + resume (memory store)", p50["pause"] + p50["resume"]),
        ("pause (SQLite store)", p50["pause sqlite"]),
        ("resume (SQLite store)", p50["resume sqlite"]),
        ("pause + resume (SQLite store)", p50["pause sqlite"] + p50["resume sqlite"]),
    ]
    for name, value in rows:
        print(f"| {name} | {value:.2f} | {value / base:.2f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--state-mb", type=int, default=1)
    args = parser.parse_args()
    main(args.repeat, args.state_mb)
