"""What the fast pre-flight check catches, and costs, against Monty's full type check.

Run, from the repository root:

    .venv/bin/python benchmarks/preflight.py [--runs N]

Every program runs through a template twice: with `SandboxedConfig(preflight=True)`
(the fast check, `agent_tools.sandbox.preflight`) and with
`SandboxedConfig(type_check=True)` (Monty's full type checker, the fast check off).

- Wrong programs: the corpus of tests/preflight_corpus.py (`WRONG`, the mistakes
  models make with tool calls, and `SUBTLE`, those the fast check lets through by
  design). A program is caught when the check refuses it before any host call.
- Valid programs: the corpus's `VALID` and every eval task's reference program
  (evals/datasets/*.yaml, over its domain's functions). A program is falsely refused
  when a check refuses it (TypeCheckError, or a syntax error from the checker) while
  it runs correctly unchecked.
- Time: the fast check alone (`check_code`, p50 over every program), and a whole
  trivial run with each check against one without (p50 of `--runs` runs, each of new
  code so that no cache answers it).

Prints a table, then the same as markdown, then which programs each check misses or
refuses.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.preflight_corpus, evals

import agent_tools as at
from agent_tools.sandbox.functions import HostFunction, register
from agent_tools.sandbox.preflight import check_code
from evals.domains import functions_for
from evals.schema import load_datasets
from tests.preflight_corpus import SUBTLE, VALID, WRONG, Host

CHECKS: dict[str, at.SandboxedConfig] = {
    "fast": at.SandboxedConfig(preflight=True),
    "full": at.SandboxedConfig(type_check=True),
}
UNCHECKED = at.SandboxedConfig()


@dataclass(frozen=True)
class Program:
    group: str
    """"wrong", "subtle", "valid" (the corpus's) or "eval" (a reference program)."""
    label: str
    code: str
    functions: Callable[[], tuple[list[Callable[..., Any]], Callable[[], int]]]
    """Fresh registered functions for one run, and how many host calls they have had."""
    expected: Any = None


def _corpus_functions() -> tuple[list[Callable[..., Any]], Callable[[], int]]:
    host = Host()
    return host.functions(), lambda: len(host.calls)


def _eval_functions(
    domain: str, names: list[str]
) -> Callable[[], tuple[list[Callable[..., Any]], Callable[[], int]]]:
    def make() -> tuple[list[Callable[..., Any]], Callable[[], int]]:
        return functions_for(domain, names), lambda: 0  # valid programs: only refusals count

    return make


def programs() -> list[Program]:
    out = [Program("wrong", w.label, w.code, _corpus_functions) for w in WRONG]
    out += [Program("subtle", s.label, s.code, _corpus_functions) for s in SUBTLE]
    out += [Program("valid", v.label, v.code, _corpus_functions, v.expected) for v in VALID]
    out += [
        Program("eval", t.id, t.reference_program, _eval_functions(t.domain, t.functions))
        for t in load_datasets()
    ]
    return out


@dataclass
class Outcome:
    refused: bool
    """Refused before any host call."""
    detail: str
    """"ran", or the first complaint or error."""
    result: Any = None


def run(program: Program, config: at.SandboxedConfig) -> Outcome:
    functions, calls = program.functions()
    template = at.orchestrator_from_str(
        program.code, inputs={}, output=Any, tasks=functions, plugin_config=config
    )
    try:
        result = template()
    except (at.TypeCheckError, at.SandboxSyntaxError) as error:
        first = getattr(error, "diagnostics", "").split("\n", 1)[0] or error.message
        return Outcome(calls() == 0, first)
    except at.SandboxError as error:
        return Outcome(False, f"{type(error).__name__}: {error.message}")
    return Outcome(False, "ran", result)


@dataclass
class Tally:
    caught: list[str] = field(default_factory=list[str])
    missed: list[str] = field(default_factory=list[str])
    refused: list[str] = field(default_factory=list[str])
    passed: int = 0


def accuracy(all_programs: list[Program]) -> tuple[dict[str, Tally], list[str]]:
    tallies = {name: Tally() for name in CHECKS}
    broken: list[str] = []
    for program in all_programs:
        if program.group in ("wrong", "subtle"):
            for name, config in CHECKS.items():
                outcome = run(program, config)
                tally = tallies[name]
                (tally.caught if outcome.refused else tally.missed).append(
                    f"{program.label} [{program.group}]"
                )
            continue
        unchecked = run(program, UNCHECKED)
        if unchecked.detail != "ran" or (program.group == "valid" and unchecked.result != program.expected):
            broken.append(f"{program.label}: {unchecked.detail} {unchecked.result!r}")
            continue
        for name, config in CHECKS.items():
            outcome = run(program, config)
            if outcome.detail == "ran":
                tallies[name].passed += 1
            else:
                tallies[name].refused.append(f"{program.label} [{program.group}]: {outcome.detail}")
    return tallies, broken


def _median_seconds(fn: Callable[[], object], reps: int) -> float:
    samples: list[float] = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def check_times(all_programs: list[Program], reps: int = 25) -> list[float]:
    """Per program, the median time of `check_code` alone."""
    registered: dict[str, dict[str, HostFunction]] = {}
    times: list[float] = []
    for program in all_programs:
        key = program.group if program.group != "eval" else f"eval:{program.label}"
        functions = registered.get(key)
        if functions is None:
            functions = registered[key] = register(program.functions()[0])
        times.append(_median_seconds(lambda c=program.code, f=functions: check_code(c, f), reps))
    return times


def run_times(runs: int) -> dict[str, float]:
    """p50 of a whole trivial run: unchecked, with the fast check, with the full check."""
    configs = {"off": UNCHECKED, **CHECKS}
    host = Host()
    templates = {
        name: [
            at.orchestrator_from_str(
                f"serial = {i}\nc = get_customer(1)\nc['name']",
                inputs={},
                output=Any,
                tasks=host.functions(),
                plugin_config=config,
            )
            for i in range(runs + 5)
        ]
        for name, config in configs.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in configs}
    names = list(configs)
    for i in range(runs + 5):  # interleaved, each first in turn, so that drift hits all three alike
        for name in names[i % 3 :] + names[: i % 3]:
            template = templates[name][i]
            started = time.perf_counter()
            template()
            if i >= 5:  # the first few warm the worker pool
                samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}


def _ms(seconds: float, sign: str = "") -> str:
    digits = 3 if abs(seconds) < 0.01 else 1
    return f"{seconds * 1e3:{sign}.{digits}f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100, help="trivial runs timed per setting (default 100)")
    args = parser.parse_args()

    all_programs = programs()
    wrong = [p for p in all_programs if p.group in ("wrong", "subtle")]
    n_wrong_corpus = sum(p.group == "wrong" for p in all_programs)
    tallies, broken = accuracy(all_programs)
    n_valid = tallies["fast"].passed + len(tallies["fast"].refused)
    check = statistics.median(check_times(all_programs))
    runs = run_times(args.runs)

    fast, full = tallies["fast"], tallies["full"]
    rows = [
        (
            f"wrong programs caught before any host call (N={len(wrong)})",
            f"{len(fast.caught)}/{len(wrong)}",
            f"{len(full.caught)}/{len(wrong)}",
        ),
        (
            f"  of them the corpus's typical mistakes (N={n_wrong_corpus})",
            f"{sum('[wrong]' in c for c in fast.caught)}/{n_wrong_corpus}",
            f"{sum('[wrong]' in c for c in full.caught)}/{n_wrong_corpus}",
        ),
        (
            f"valid programs falsely refused (N={n_valid})",
            f"{len(fast.refused)}/{n_valid}",
            f"{len(full.refused)}/{n_valid}",
        ),
        ("p50 time of the check (see below)", _ms(check), _ms(runs["full"] - runs["off"])),
        (
            f"p50 of a trivial run (unchecked: {_ms(runs['off'])})",
            f"{_ms(runs['fast'])} ({_ms(runs['fast'] - runs['off'], '+')})",
            f"{_ms(runs['full'])} ({_ms(runs['full'] - runs['off'], '+')})",
        ),
    ]
    head = ("", "fast pre-flight", "Monty full type check")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print(
        "\ntime of the check: fast, `check_code` alone (p50 over the programs); full, a trivial run "
        "with it minus one without\n"
    )

    print("| | fast pre-flight | Monty full type check |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row[0].strip()} | {row[1]} | {row[2]} |")
    print()

    for name, tally in tallies.items():
        print(f"wrong programs the {name} check lets run ({len(tally.missed)}):")
        for label in tally.missed:
            print(f"  - {label}")
        print(f"valid programs the {name} check refuses ({len(tally.refused)}):")
        for line in tally.refused:
            print(f"  - {line}")
    if broken:
        print(f"valid programs that do not run even unchecked ({len(broken)}): fix the corpus")
        for line in broken:
            print(f"  - {line}")


if __name__ == "__main__":
    main()
