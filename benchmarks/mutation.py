"""Mutation testing of the modules that carry the project's promises.

    pip install -e '.[mutation]'        # mutmut, pinned
    python benchmarks/mutation.py                       # every module below
    python benchmarks/mutation.py --module redaction    # one group of them
    python benchmarks/mutation.py --report-only         # score the last run again
    python benchmarks/mutation.py --survivors-only      # after adding tests
    python benchmarks/mutation.py --all                 # every mutant again

A run tests only the mutants without a result yet, so a stopped run goes on where
it stopped (mutmut itself runs every mutant it is named again).

Runs mutmut (configured under `[tool.mutmut]` in pyproject.toml; it works in a
copy, `mutants/`) on the mutants of each module, then reads mutmut's state files
(`mutants/agent_tools/<path>.py.meta`) and prints, per group of modules: mutants, killed,
survived (including those no test reached), timeout, equivalent and the score,
killed / (mutants - equivalent). Equivalent mutants are the ones listed, by name,
in `benchmarks/mutation_equivalents.md`, each with the reason it cannot change
behaviour. Exits 1 when a module scores under the bar (90%).

For `code_runner` and `execution` only the functions that carry a promise are
mutated and scored (see `MODULES`); mutmut names a mutant after its module and
function, e.g. `agent_tools.sandbox.classify.xǁClassifierǁ_classify__mutmut_3`.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = Path(__file__).resolve().parent / "mutation_equivalents.md"
BAR = 0.90

MODULES: dict[str, dict[str, tuple[str, ...]]] = {
    # promise -> its modules (under agent_tools) -> the functions mutated and scored
    # (mutmut's mangled names); () for all of a module's functions.
    "redaction": {
        "task.redaction.forms": (),
        "task.redaction.objects": (),
        "task.redaction.walk": (),
        "task.redaction.redactor": (),
    },
    "code_runner": {
        "tool.code_runner": (
            "x__json",
            "x__truncate",
            "x_format_result",
            "x__call_line",
            "x_format_error",
            "x__fatal",
            "xǁCodeRunnerǁreply",
        ),
    },
    "pipeline": {"task.pipeline": ()},
    "execution": {
        "sandbox.classify": (
            "xǁClassifierǁ_classify",
            "xǁClassifierǁ_runtime_error",
            "xǁClassifierǁ_raised_here",
            "x_blocks",
            "x__typing_error",
            "x__hint",
        ),
        "sandbox.fanout": (
            "xǁFanOutǁ_parallel_map",
            "xǁFanOutǁ_mapping",
            "x__options",
            "xǁFanOutǁ_map",
            "xǁFanOutǁ_fan_out",
            "xǁFanOutǁ_call_one",
            "xǁFanOutǁ_threads",
            "x__iterable",
        ),
    },
    "cache": {
        "task.cache.settings": (),
        "task.cache.keys": (),
        "task.cache.bounds": (),
        "task.cache.plain": (),
        "task.cache.reader": (),
        "task.cache.store": (),
    },
}

# mutmut's exit codes (mutmut.stats.status_by_exit_code); anything else is "suspicious".
_KILLED = {1, 3}
_SURVIVED = {0}
_NO_TESTS = {5, 33}
_TIMEOUT = {36, -24, 24, 152, 255}


def globs(group: str) -> list[str]:
    """The mutmut name patterns of the scored mutants of `group`."""
    patterns: list[str] = []
    for module, functions in MODULES[group].items():
        if not functions:
            patterns.append(f"agent_tools.{module}.*")
        else:
            patterns += [f"agent_tools.{module}.{function}__mutmut_*" for function in functions]
    return patterns


def equivalents(path: Path = EQUIVALENTS) -> set[str]:
    """The mutant names listed (in backquotes) in the equivalents file."""
    if not path.is_file():
        return set()
    return set(re.findall(r"`(agent_tools\.[^`\s]+__mutmut_\d+)`", path.read_text(encoding="utf-8")))


@dataclass
class Score:
    module: str
    mutants: int = 0
    killed: int = 0
    survived: int = 0
    no_tests: int = 0
    timeout: int = 0
    other: int = 0
    not_checked: int = 0
    equivalent: int = 0

    @property
    def score(self) -> float:
        scored = self.mutants - self.equivalent
        return self.killed / scored if scored else 1.0


def results(module: str) -> dict[str, int | None]:
    """The scored mutants of `module` in mutmut's state files, by name: the exit code
    of their tests, None for one not run yet. Empty before the first run."""
    exit_codes: dict[str, int | None] = {}
    for path in MODULES[module]:
        meta = ROOT / "mutants" / "agent_tools" / (path.replace(".", "/") + ".py.meta")
        if meta.is_file():
            exit_codes.update(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])
    patterns = globs(module)
    return {
        name: code
        for name, code in sorted(exit_codes.items())
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    }


def score(module: str, known: set[str], survivors: list[str]) -> Score:
    """Count the results of `module` from mutmut's state file; append surviving
    non-equivalent mutant names to `survivors`."""
    result = Score(module)
    for name, code in results(module).items():
        result.mutants += 1
        if name in known and code not in _KILLED:
            result.equivalent += 1
        elif code is None:
            result.not_checked += 1
        elif code in _KILLED:
            result.killed += 1
        elif code in _TIMEOUT:
            result.timeout += 1
        elif code in _SURVIVED or code in _NO_TESTS:
            if code in _SURVIVED:
                result.survived += 1
            else:
                result.no_tests += 1
        else:
            result.other += 1
        if code not in _KILLED and name not in known:
            survivors.append(name)
    return result


def run(module: str, max_children: int, names: list[str] | None = None) -> float:
    """Run mutmut on the scored mutants of `module` (or just `names`); the seconds it took."""
    start = time.monotonic()
    command = [
        str(Path(sys.executable).parent / "mutmut"),
        "run",
        "--max-children",
        str(max_children),
        *(names if names is not None else globs(module)),
    ]
    print(f"$ {' '.join(command)}", flush=True)
    subprocess.run(command, cwd=ROOT, check=False)
    return time.monotonic() - start


def table(scores: list[Score]) -> str:
    head = ("module", "mutants", "killed", "survived", "no tests", "timeout", "other", "equivalent", "score")
    rows = [head] + [
        (
            s.module,
            str(s.mutants),
            str(s.killed),
            str(s.survived),
            str(s.no_tests),
            str(s.timeout),
            str(s.other + s.not_checked),
            str(s.equivalent),
            f"{s.score:.1%}",
        )
        for s in scores
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--module", choices=sorted(MODULES), help="one module (default: all, in order)")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--report-only", action="store_true", help="score the last run, run nothing")
    parser.add_argument("--list-survivors", action="store_true", help="print the surviving mutants' names")
    parser.add_argument(
        "--all",
        action="store_true",
        help="run every mutant again (default: only those without a result, so a stopped run goes on)",
    )
    parser.add_argument(
        "--survivors-only",
        action="store_true",
        help="run again only the mutants the last run did not kill (after adding tests)",
    )
    args = parser.parse_args(argv)
    modules = [args.module] if args.module else list(MODULES)
    known = equivalents()
    if not args.report_only:
        for module in modules:
            names: list[str] | None = None  # None: all of the group's mutants
            if args.survivors_only:
                names = []
                score(module, known, names)
                if not names:
                    continue
            elif not args.all and (previous := results(module)):
                # mutmut runs every mutant it is given by name again: give it only those
                # without a result (after a change to a mutated function, mutmut resets
                # that function's results on its next run; run once more to test them).
                names = [name for name, code in previous.items() if code is None]
                if not names:
                    print(f"{module}: every mutant has a result (--all runs them again)", flush=True)
                    continue
            print(f"{module}: mutation run took {run(module, args.max_children, names):.0f} s", flush=True)
    survivors: list[str] = []
    scores = [score(module, known, survivors) for module in modules]
    print()
    print(table(scores))
    print("score = killed / (mutants - equivalent); 'no tests' count as survived, 'other' = suspicious,")
    print(f"segfault or not checked; equivalents from {EQUIVALENTS.relative_to(ROOT)}; bar {BAR:.0%}")
    if args.list_survivors and survivors:
        print("\nsurvivors (not listed as equivalent):")
        print("\n".join(f"  {name}" for name in survivors))
    failing = [s.module for s in scores if s.score < BAR or s.mutants == 0]
    if failing:
        print(f"under {BAR:.0%} (or never run): {', '.join(failing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
