"""How many host-call gaps adaptive colocation should measure before it decides.

    python benchmarks/colocation_samples.py [--busy N] [--runs 40] [--repeat 12]

Runs `CodeRunner([add]).run(...)` on snippets making 3, 10 and 30 host calls, with
the adaptive colocation deciding after 16, 4, 2 and 1 gaps (`Colocation.samples`),
interleaved in blocks in one process; `--busy N` starts N processes that spin for
the whole measurement (a loaded machine). Prints the p50 run time in microseconds
per setting. The default (`Colocation.samples`, see `agent_tools/sandbox/affinity.py`)
is what this measured best on the whole. Nothing asserts.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import time

import agent_tools
from agent_tools.sandbox.affinity import Colocation
from agent_tools.sandbox.pool import get_runtime

SETTINGS = (16, 4, 2, 1)
CALLS = (3, 10, 30)


def add(a: int, b: int) -> int:
    return a + b


def main(busy: int, runs: int, repeat: int) -> None:
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        runner = agent_tools.CodeRunner([add])
        runner.run("add(1, 2)")
        colocation = get_runtime().colocation
        if colocation is None or not colocation.adaptive:
            raise SystemExit("adaptive colocation is off here (not Linux, or AGENT_TOOLS_COLOCATE is set)")
        default = Colocation().samples
        serials = itertools.count()
        print(f"busy={busy}; p50 us per run; the default decides after {default} gaps")
        print("| host calls | " + " | ".join(f"after {s}" for s in SETTINGS) + " |")
        print("|---:|" + "---:|" * len(SETTINGS))
        for calls in CALLS:
            code = f"t = 0\nfor i in range({calls}):\n    t = add(t, i)\nt"
            samples: dict[int, list[float]] = {s: [] for s in SETTINGS}
            for block in range(repeat):
                for setting in SETTINGS if block % 2 == 0 else reversed(SETTINGS):
                    colocation.samples = setting
                    start = time.perf_counter()
                    for _ in range(runs):
                        reply = runner.run(f"serial = {next(serials)}\n{code}")
                        if not reply.ok:
                            raise SystemExit(reply.text)
                    samples[setting].append((time.perf_counter() - start) / runs * 1e6)
            cells = " | ".join(f"{statistics.median(samples[s]):,.0f}" for s in SETTINGS)
            print(f"| {calls} | {cells} |")
        colocation.samples = default
    finally:
        for spinner in spinners:
            spinner.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--busy", type=int, default=0)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=12)
    args = parser.parse_args()
    main(args.busy, args.runs, args.repeat)
