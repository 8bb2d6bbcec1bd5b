"""Core overhead of agent_tools against raw pydantic-monty, measured in one run.

    python benchmarks/bench_core.py [--quick]

Every figure of ours is reported as a ratio to a raw pydantic-monty baseline taken
in the same process, with baseline and ours interleaved in alternating blocks so
that noise from a shared machine hits both alike. Nothing here asserts: each
target is printed as met or missed.

1. p50 latency of a trivial snippet (`x + y`).
2. Microseconds per host call, over a loop making 500 calls (sync and async `add`).
3. The same loop through `flyte.sandbox.orchestrate_local`, if flyte is installed.
4. Throughput of 50 concurrent runs that each make 10 host calls.
5. The loop of 2 with colocation forced off and forced on (Linux CPU pinning; the
   default, used by 2 and 3, is adaptive).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import inspect
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pydantic_monty

import agent_tools
from agent_tools import CodeTaskTemplate, orchestrator_from_str

TRIVIAL = "x + y"
LOOP_CALLS = 500
LOOP = f"t = 0\nfor i in range({LOOP_CALLS}):\n    t = add(t, i)\nt"
LOOP_RESULT = sum(range(LOOP_CALLS))
BURST_RUNS = 50
BURST_CALLS = 10
BURST = f"t = x\nfor i in range({BURST_CALLS}):\n    t = add(t, i)\nt"
BURST_RESULT = 1 + sum(range(BURST_CALLS))

TARGET_TRIVIAL = 1.15
TARGET_SYNC_CALL = 1.2
TARGET_ASYNC_CALL = 1.5
TARGET_FLYTE_SPEEDUP = 3.0


def add(a: int, b: int) -> int:
    return a + b


async def add_async(a: int, b: int) -> int:
    return a + b


@dataclass(frozen=True)
class Settings:
    trivial_iterations: int
    block: int
    loop_repetitions: int
    burst_rounds: int


QUICK = Settings(trivial_iterations=100, block=10, loop_repetitions=5, burst_rounds=2)
FULL = Settings(trivial_iterations=300, block=20, loop_repetitions=15, burst_rounds=10)


@dataclass
class Row:
    """One line of the results table."""

    section: str
    name: str
    value: float
    unit: str
    ratio: float | None = None
    ratio_to: str = ""
    target: str = ""
    met: bool | None = None


# -- timing helpers -------------------------------------------------------------------


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def interleaved(
    runners: dict[str, Callable[[], object]], iterations: int, block: int
) -> dict[str, list[float]]:
    """Time each runner `iterations` times, in blocks of `block` runs, rotating which
    runner goes first from one block to the next."""
    samples: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for index in range(-(-iterations // block)):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            runner = runners[name]
            count = min(block, iterations - len(samples[name]))
            samples[name].extend(timed(runner) for _ in range(count))
    return samples


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def check(value: Any, expected: Any, what: str) -> None:
    if value != expected:
        raise RuntimeError(f"{what} returned {value!r}, expected {expected!r}")


# -- the measurements -------------------------------------------------------------------


def raw_loop(pool: pydantic_monty.Monty) -> Callable[[], object]:
    """The raw-Monty baseline of the 500-call loop: checkout() + feed_run(external_lookup)."""

    def raw() -> object:
        with pool.checkout() as session:
            return session.feed_run(LOOP, external_lookup={"add": add})

    return raw


def checked_loops(runners: dict[str, Callable[[], object]], settings: Settings) -> dict[str, list[float]]:
    """Check that each runner's loop returns the right sum, then time them interleaved."""
    for name, runner in runners.items():
        check(runner(), LOOP_RESULT, f"{name} loop")
    return interleaved(runners, settings.loop_repetitions, 1)


def bench_trivial(pool: pydantic_monty.Monty, settings: Settings) -> tuple[list[Row], float, float]:
    template = orchestrator_from_str(TRIVIAL, inputs={"x": int, "y": int}, output=int)

    def raw() -> object:
        with pool.checkout() as session:
            return session.feed_run(TRIVIAL, inputs={"x": 1, "y": 2})

    def ours() -> object:
        return template(x=1, y=2)

    check(raw(), 3, "raw trivial")
    check(ours(), 3, "ours trivial")
    interleaved({"raw": raw, "ours": ours}, 30, 10)  # warm-up
    samples = interleaved({"raw": raw, "ours": ours}, settings.trivial_iterations, settings.block)
    raw_p50, ours_p50 = p50(samples["raw"]), p50(samples["ours"])
    ratio = ours_p50 / raw_p50
    rows = [
        Row("1. trivial `x + y`", "raw monty p50", raw_p50 * 1e6, "us"),
        Row(
            "1. trivial `x + y`",
            "ours p50",
            ours_p50 * 1e6,
            "us",
            ratio,
            "raw",
            f"<= {TARGET_TRIVIAL}x raw",
            ratio <= TARGET_TRIVIAL,
        ),
    ]
    return rows, raw_p50, ours_p50


def bench_host_calls(
    pool: pydantic_monty.Monty, settings: Settings, raw_trivial: float, ours_trivial: float
) -> tuple[list[Row], float]:
    sync_template = orchestrator_from_str(LOOP, inputs={}, output=int, tasks=[add])
    async_template = orchestrator_from_str(LOOP, inputs={}, output=int, tasks={"add": add_async})

    loop = asyncio.new_event_loop()
    runners: dict[str, Callable[[], object]] = {
        "raw": raw_loop(pool),
        "ours sync": lambda: sync_template(),
        "ours async": lambda: async_template(),
        "ours async aio": lambda: loop.run_until_complete(async_template.aio()),
    }
    try:
        samples = checked_loops(runners, settings)
    finally:
        loop.close()
    total = {name: p50(values) / LOOP_CALLS * 1e6 for name, values in samples.items()}
    trivial = {name: ours_trivial for name in samples} | {"raw": raw_trivial}
    net = {name: (p50(samples[name]) - trivial[name]) / LOOP_CALLS * 1e6 for name in samples}

    section = f"2. {LOOP_CALLS} host calls"
    sync_ratio = net["ours sync"] / net["raw"]
    async_ratio = net["ours async"] / net["ours sync"]
    rows = [
        Row(section, "raw monty, net us/call", net["raw"], "us/call"),
        Row(
            section,
            "ours sync add, net us/call",
            net["ours sync"],
            "us/call",
            sync_ratio,
            "raw",
            f"<= {TARGET_SYNC_CALL}x raw",
            sync_ratio <= TARGET_SYNC_CALL,
        ),
        Row(
            section,
            "ours async add, net us/call",
            net["ours async"],
            "us/call",
            async_ratio,
            "ours sync",
            f"<= {TARGET_ASYNC_CALL}x ours sync",
            async_ratio <= TARGET_ASYNC_CALL,
        ),
        Row(
            section,
            "ours async add via .aio, net us/call",
            net["ours async aio"],
            "us/call",
            net["ours async aio"] / net["ours sync"],
            "ours sync",
        ),
        Row(section, "raw monty, total/500", total["raw"], "us/call"),
        Row(
            section,
            "ours sync add, total/500",
            total["ours sync"],
            "us/call",
            total["ours sync"] / total["raw"],
            "raw",
        ),
        Row(
            section,
            "ours async add, total/500",
            total["ours async"],
            "us/call",
            total["ours async"] / total["ours sync"],
            "ours sync",
        ),
        Row(
            section,
            "ours async add via .aio, total/500",
            total["ours async aio"],
            "us/call",
            total["ours async aio"] / total["ours sync"],
            "ours sync",
        ),
    ]
    return rows, total["ours sync"]


def bench_flyte(settings: Settings, ours_sync_total: float) -> tuple[list[Row], float] | str:
    if importlib.util.find_spec("flyte") is None:
        return "flyte not installed: skipped"
    try:
        import flyte.sandbox  # pyright: ignore[reportMissingImports]
    except ImportError as exc:
        return f"flyte installed but flyte.sandbox is not importable ({exc}): skipped"
    orchestrate_local: Callable[..., Any] | None = getattr(flyte.sandbox, "orchestrate_local", None)  # pyright: ignore
    if orchestrate_local is None:
        return "flyte installed but it has no flyte.sandbox.orchestrate_local: skipped"

    async def once() -> float:
        started = time.perf_counter()
        result = orchestrate_local(LOOP, inputs={}, tasks=[add])
        if inspect.isawaitable(result):
            result = await result
        elapsed = time.perf_counter() - started
        check(result, LOOP_RESULT, "flyte loop")
        return elapsed

    async def many() -> list[float]:
        await once()  # warm-up
        return [await once() for _ in range(settings.loop_repetitions)]

    per_call = p50(asyncio.run(many())) / LOOP_CALLS * 1e6
    speedup = per_call / ours_sync_total
    return (
        [
            Row(f"3. flyte, {LOOP_CALLS} calls", "flyte orchestrate_local, total/500", per_call, "us/call"),
            Row(
                f"3. flyte, {LOOP_CALLS} calls",
                "ours sync speedup over flyte",
                speedup,
                "x",
                target=f">= {TARGET_FLYTE_SPEEDUP}x faster",
                met=speedup >= TARGET_FLYTE_SPEEDUP,
            ),
        ],
        per_call,
    )


def bench_colocation_modes(
    pool: pydantic_monty.Monty, settings: Settings, flyte_per_call: float | None
) -> list[Row]:
    """The 500-call loop with colocation forced off (`configure(colocate=False)`) and
    forced on (`colocate=True`), each against raw Monty measured in the same blocks;
    sections 2 and 3 ran with the default, adaptive colocation."""
    rows: list[Row] = []
    section = f"5. {LOOP_CALLS} calls by colocation setting"
    for mode, label in [(False, "colocate=False"), (True, "colocate=True")]:
        agent_tools.configure(colocate=mode)
        template = orchestrator_from_str(LOOP, inputs={}, output=int, tasks=[add])
        runners: dict[str, Callable[[], object]] = {"raw": raw_loop(pool), "ours": template}
        try:
            samples = checked_loops(runners, settings)
        finally:
            agent_tools.configure()
        total = {name: p50(values) / LOOP_CALLS * 1e6 for name, values in samples.items()}
        rows += [
            Row(section, f"raw monty, total/500 (next to {label})", total["raw"], "us/call"),
            Row(
                section,
                f"ours sync add, {label}, total/500",
                total["ours"],
                "us/call",
                total["ours"] / total["raw"],
                "raw",
            ),
        ]
        if flyte_per_call is not None:
            rows.append(Row(section, f"ours {label} speedup over flyte", flyte_per_call / total["ours"], "x"))
    return rows


def bench_throughput(pool: pydantic_monty.Monty, settings: Settings) -> list[Row]:
    template: CodeTaskTemplate = orchestrator_from_str(BURST, inputs={"x": int}, output=int, tasks=[add])
    threads = ThreadPoolExecutor(max_workers=BURST_RUNS, thread_name_prefix="bench")

    def raw_one() -> object:
        with pool.checkout() as session:
            return session.feed_run(BURST, inputs={"x": 1}, external_lookup={"add": add})

    def threaded(fn: Callable[[], object]) -> Callable[[], object]:
        def burst() -> object:
            results = [f.result() for f in [threads.submit(fn) for _ in range(BURST_RUNS)]]
            for value in results:
                check(value, BURST_RESULT, "burst run")
            return results

        return burst

    async def gather() -> list[Any]:
        return await asyncio.gather(*(template.aio(x=1) for _ in range(BURST_RUNS)))

    loop = asyncio.new_event_loop()

    def ours_aio() -> object:
        results = loop.run_until_complete(gather())
        for value in results:
            check(value, BURST_RESULT, "aio burst run")
        return results

    runners: dict[str, Callable[[], object]] = {
        "raw": threaded(raw_one),
        "ours aio": ours_aio,
        "ours threads": threaded(lambda: template(x=1)),
    }
    try:
        for runner in runners.values():  # warm-up: spawn every worker and thread once
            runner()
        samples = interleaved(runners, settings.burst_rounds, 1)
    finally:
        loop.close()
        threads.shutdown()
    rate = {name: BURST_RUNS / p50(values) for name, values in samples.items()}
    section = f"4. {BURST_RUNS} concurrent runs"
    return [
        Row(section, "raw monty, 50 threads", rate["raw"], "runs/s"),
        Row(
            section,
            "ours asyncio.gather(.aio)",
            rate["ours aio"],
            "runs/s",
            rate["ours aio"] / rate["raw"],
            "raw",
        ),
        Row(
            section,
            "ours, 50 threads",
            rate["ours threads"],
            "runs/s",
            rate["ours threads"] / rate["raw"],
            "raw",
        ),
    ]


# -- output ---------------------------------------------------------------------------


def machine_info() -> list[tuple[str, str]]:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        ("cpu count", str(os.cpu_count())),
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("platform", platform.platform()),
        ("pydantic-monty", importlib.metadata.version("pydantic-monty")),
        ("agent_tools", agent_tools.__version__),
        ("load average", load),
    ]


def fmt_value(row: Row) -> str:
    return f"{row.value:,.2f}" if row.value < 100 else f"{row.value:,.0f}"


def fmt_ratio(row: Row) -> str:
    return f"{row.ratio:.2f}x {row.ratio_to}" if row.ratio is not None else ""


def fmt_met(row: Row) -> str:
    if row.met is None:
        return ""
    return "MET" if row.met else "MISSED"


def print_table(rows: list[Row]) -> None:
    header = ("measurement", "value", "unit", "ratio", "target", "status")
    lines = [
        (f"{row.section}: {row.name}", fmt_value(row), row.unit, fmt_ratio(row), row.target, fmt_met(row))
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    for line in [header, tuple("-" * w for w in widths), *lines]:
        print(
            "  ".join(
                cell.ljust(w) if i != 1 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )


def print_markdown(rows: list[Row]) -> None:
    print("| Measurement | Value | vs baseline | Target |")
    print("|---|---:|---:|---|")
    for row in rows:
        status = f"{row.target} ({fmt_met(row).lower()})" if row.target else ""
        print(f"| {row.section}: {row.name} | {fmt_value(row)} {row.unit} | {fmt_ratio(row)} | {status} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer iterations, for a smoke run")
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="keep N other processes spinning meanwhile, to measure a loaded machine",
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(0, args.busy))
    ]
    try:
        run(args.quick, settings, args.busy)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def run(quick: bool, settings: Settings, busy: int) -> None:

    print("# agent_tools core benchmark" + (" (--quick)" if quick else ""))
    for key, value in machine_info():
        print(f"{key:>15}: {value}")
    print(f"{'busy processes':>15}: {busy}")
    print()

    started = time.perf_counter()
    rows: list[Row] = []
    notes: list[str] = []
    with pydantic_monty.Monty() as pool:
        trivial_rows, raw_trivial, ours_trivial = bench_trivial(pool, settings)
        rows += trivial_rows
        call_rows, ours_sync_total = bench_host_calls(pool, settings, raw_trivial, ours_trivial)
        rows += call_rows
        flyte = bench_flyte(settings, ours_sync_total)
        flyte_per_call: float | None = None
        if isinstance(flyte, str):
            notes.append(flyte)
        else:
            rows += flyte[0]
            flyte_per_call = flyte[1]
        rows += bench_throughput(pool, settings)
        if sys.platform == "linux":
            rows += bench_colocation_modes(pool, settings, flyte_per_call)
        else:
            notes.append("colocation needs Linux CPU affinity: section 5 skipped")
    agent_tools.shutdown()

    print_table(rows)
    print()
    print(
        f"net us/call = (p50 of the {LOOP_CALLS}-call run - p50 of the trivial run) / {LOOP_CALLS}; "
        f"total/500 = p50 of the run / {LOOP_CALLS}."
    )
    print(
        f"iterations: trivial {settings.trivial_iterations} each (blocks of {settings.block}), "
        f"loop {settings.loop_repetitions} each, burst {settings.burst_rounds} rounds each; "
        f"wall time {time.perf_counter() - started:.1f}s"
    )
    for note in notes:
        print(note)
    print()
    print_markdown(rows)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
