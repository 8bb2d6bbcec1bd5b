"""Peak host memory of single runs that try to make the host allocate.

    python benchmarks/host_memory.py

Each case runs in a fresh process: it warms the pool with one trivial run, reads
its peak RSS (`ru_maxrss`), runs the case once and reads the peak again. The growth
is set against the run's budget, `max_memory + max_inline_io_bytes` (here 50 MiB +
10 MiB, the defaults): the bound this project states is a growth under 2x that
budget for any single run. The ratios, not the MiB, are what to compare between
machines.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from typing import Any

import agent_tools as at

CASES: dict[str, str] = {
    "shared result, 34 levels (2**34 leaves)": "a = [1]\nfor _ in range(34):\n    a = [a, a]\na",
    "shared dict result, 40 levels": "a = {'k': 1}\nfor _ in range(40):\n    a = {'l': a, 'r': a}\na",
    "result near max_inline_io_bytes (9 MB str)": "'x' * 9_000_000",
    "result of 1M small ints": "list(range(1_000_000))",
    "60 calls with a 5 MB string": "s = 'x' * 5_000_000\nfor _ in range(60):\n    echo(s)\n0",
    "dict_keys-shaped 1 MB string to parallel_map": (
        's = "dict_keys([" + ", ".join(["1"] * 150_000) + "])"\nparallel_map(echo, s)'
    ),
    "parallel_map of 1,000 calls returning 10 KB": "len(parallel_map(kb, range(1000)))",
    "print flood past max_output_bytes": "while True:\n    print('p' * 10_000)",
    "heap past max_memory": "x = []\nwhile True:\n    x.append('m' * 100_000)",
}


def echo(value: Any) -> int:
    return len(value)


def kb(i: int) -> str:
    return str(i) * 10_000


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(name: str) -> dict[str, Any]:
    """Run one case in this process; what it cost."""
    warm = at.orchestrator_from_str("echo('a')", inputs={}, output=int, tasks=[echo])
    warm()
    before = peak_mib()
    template = at.orchestrator_from_str(CASES[name], inputs={}, output=Any, tasks=[echo, kb])
    try:
        record = at.run(template)
        outcome = f"ok ({len(record.calls)} calls)"
    except at.SandboxError as exc:
        outcome = type(exc).__name__
    after = peak_mib()
    budget_mib = (at.SandboxedConfig().max_memory + template.max_inline_io_bytes) / 2**20
    return {"case": name, "outcome": outcome, "growth_mib": after - before, "budget_mib": budget_mib}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(one(args.case)))
        return 0
    bound = 2.0
    worst = 0.0
    print(f"{'case':<48} {'outcome':<24} {'peak RSS growth':>16} {'x budget':>9}")
    for name in CASES:
        proc = subprocess.run(
            [sys.executable, __file__, "--case", name], capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0:
            print(f"{name:<48} FAILED: {proc.stderr.strip().splitlines()[-1:]}")
            return 1
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        ratio = row["growth_mib"] / row["budget_mib"]
        worst = max(worst, ratio)
        print(f"{name:<48} {row['outcome']:<24} {row['growth_mib']:>12.1f} MiB {ratio:>8.2f}x")
    print(f"worst: {worst:.2f}x the budget (max_memory + max_inline_io_bytes); bound: {bound:.1f}x")
    return 0 if worst < bound else 1


if __name__ == "__main__":
    sys.exit(main())
