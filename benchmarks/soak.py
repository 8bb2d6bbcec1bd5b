"""Soak: many mixed executions on one pool, watching memory, workers and results.

    python benchmarks/soak.py            # 10,000 runs
    python benchmarks/soak.py --runs 500 # the CI version (tests/test_soak.py)

The mix: successes with host calls, trivial successes, errors in the code, time
limits, wall-clock timeouts (a CPU loop and a host function that sleeps: both kill
the run's worker), memory limits, errors raised by a registered function, and output
over the print cap (which kills the worker too). Every outcome is checked
against what that kind of run must give; a single wrong one is a failure. Reports
runs per second, p50/p99 latency, host RSS and the number of Monty workers at
start (after warm-up), middle and end. Bounds: RSS growth after warm-up under 10%,
workers never above the pool cap, zero wrong results.
"""

from __future__ import annotations

import argparse
import functools
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import agent_tools as at
from agent_tools.sandbox.pool import get_runtime, worker_pids


def add(a: int, b: int) -> int:
    return a + b


def fail(n: int) -> int:
    raise ValueError(f"tool failed on {n}")


def nap(n: int) -> int:
    time.sleep(0.5)
    return n


@dataclass(frozen=True)
class Kind:
    name: str
    template: at.CodeTaskTemplate
    check: Callable[[int, Any], bool]
    """Given the run's input and its outcome (a result or an exception), is it right?"""


def _kinds() -> list[Kind]:
    config = at.SandboxedConfig(timeout_ms=50, max_output_bytes=10_000)

    def make(code: str, output: Any = int, **kw: Any) -> at.CodeTaskTemplate:
        return at.orchestrator_from_str(
            code, inputs={"n": int}, output=output, tasks=[add, fail, nap], plugin_config=config, **kw
        )

    small_heap = at.SandboxedConfig(timeout_ms=2_000, max_memory=2_000_000)

    return [
        Kind("ok", make("s = 0\nfor i in range(5):\n    s = add(s, i)\ns + n"), lambda n, r: r == 10 + n),
        Kind(
            "code error",
            make("x = add(n, 1)\nx / 0"),
            lambda n, r: isinstance(r, at.SandboxRuntimeError) and r.exc_type == "ZeroDivisionError",
        ),
        Kind("time limit", make("while True:\n    pass"), lambda n, r: isinstance(r, at.TimeLimitError)),
        Kind(
            "tool error",
            make("fail(n)"),
            lambda n, r: isinstance(r, at.HostFunctionError) and f"tool failed on {n}" in r.message,
        ),
        Kind("trivial", make("n * 2"), lambda n, r: r == 2 * n),
        Kind(
            "wall clock (cpu)",
            at.orchestrator_from_str(
                "while True:\n    pass",
                inputs={"n": int},
                plugin_config=at.SandboxedConfig(timeout_ms=5_000),
                timeout=0.03,
            ),
            lambda n, r: isinstance(r, at.TimeLimitError) and "wall clock" in r.message,
        ),
        Kind(
            "wall clock (host)",
            make("nap(n)", timeout=0.03),
            lambda n, r: isinstance(r, at.TimeLimitError) and "wall clock" in r.message,
        ),
        Kind(
            "memory limit",
            at.orchestrator_from_str(
                "x = []\nwhile True:\n    x.append('z' * 10000)", inputs={"n": int}, plugin_config=small_heap
            ),
            lambda n, r: isinstance(r, at.MemoryLimitError),
        ),
        Kind("healthy", make("add(n, 1)"), lambda n, r: r == n + 1),
        Kind(
            "print flood",
            make("while True:\n    print('x' * 100)"),
            lambda n, r: isinstance(r, at.OutputLimitError),
        ),
    ]


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def worker_count() -> int:
    return len(worker_pids())


@dataclass
class Soak:
    runs: int
    threads: int = 8
    latencies: list[float] = field(default_factory=lambda: [])
    wrong: list[str] = field(default_factory=lambda: [])
    samples: dict[str, tuple[int, int]] = field(default_factory=lambda: {})
    trajectory: list[int] = field(default_factory=lambda: [])
    """Host RSS after each tenth of the runs."""
    max_workers_seen: int = 0
    seconds: float = 0.0

    def run(self) -> None:
        kinds = _kinds()
        lock = threading.Lock()
        done = 0
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(0.05):
                count = worker_count()
                with lock:
                    self.max_workers_seen = max(self.max_workers_seen, count)

        def job(i: int) -> None:
            nonlocal done
            self._one(kinds, i)
            with lock:
                done += 1
                if done == self.runs // 2:
                    self.samples["middle"] = (rss_bytes(), worker_count())
                if done % max(1, self.runs // 10) == 0:
                    self.trajectory.append(rss_bytes())

        # The same threads and watcher serve the warm-up and the measured runs, and
        # work is fed through a small queue: a new thread brings a new malloc arena,
        # and futures made up front for every run would read as growth.
        work: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=self.threads * 2)

        def worker() -> None:
            while (item := work.get()) is not None:
                item()
                work.task_done()
            work.task_done()

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(self.threads)]
        watcher = threading.Thread(target=watch, daemon=True)
        for thread in [*threads, watcher]:
            thread.start()
        for i in range(max(200, self.runs // 10)):  # warm-up: workers, plans, arenas
            work.put(functools.partial(self._one, kinds, i))
        work.join()
        self.wrong.clear()
        self.latencies.clear()
        self.samples["start"] = (rss_bytes(), worker_count())
        started = time.perf_counter()
        for i in range(self.runs):
            work.put(functools.partial(job, i))
        work.join()
        self.seconds = time.perf_counter() - started
        for _ in threads:
            work.put(None)
        stop.set()
        for thread in [*threads, watcher]:
            thread.join()
        self.samples["end"] = (rss_bytes(), worker_count())

    def _one(self, kinds: list[Kind], i: int) -> None:
        kind = kinds[i % len(kinds)]
        started = time.perf_counter()
        outcome: Any
        try:
            outcome = kind.template(n=i)
        except at.SandboxError as exc:
            outcome = exc
        self.latencies.append(time.perf_counter() - started)
        if not kind.check(i, outcome):
            self.wrong.append(f"run {i} ({kind.name}): {outcome!r}"[:300])

    @property
    def rss_growth(self) -> float:
        return self.samples["end"][0] / self.samples["start"][0] - 1

    def report(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000
        p99 = lat[int(len(lat) * 0.99) - 1] * 1000
        cap = get_runtime().settings.resolved_max_workers()
        lines = [
            f"runs: {self.runs} in {self.seconds:.1f} s = {self.runs / self.seconds:.0f} runs/s "
            f"({self.threads} threads)",
            f"latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms",
        ]
        for point in ("start", "middle", "end"):
            rss, workers = self.samples.get(point, (0, 0))
            lines.append(f"{point:>6}: host RSS {rss / 2**20:.1f} MiB, workers {workers}")
        lines += [
            f"RSS growth after warm-up: {self.rss_growth * 100:+.1f}% (bound: under 10%)",
            "RSS by tenths (MiB): " + ", ".join(f"{r / 2**20:.1f}" for r in self.trajectory),
            f"workers: at most {self.max_workers_seen} seen, pool cap {cap}",
            f"wrong results: {len(self.wrong)}",
            *self.wrong[:10],
        ]
        return "\n".join(lines)

    def ok(self) -> bool:
        cap = get_runtime().settings.resolved_max_workers()
        return not self.wrong and self.max_workers_seen <= cap and self.rss_growth < 0.10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    soak = Soak(runs=args.runs, threads=args.threads)
    soak.run()
    print(soak.report())
    print("bounds met" if soak.ok() else "BOUNDS NOT MET")
    return 0 if soak.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
