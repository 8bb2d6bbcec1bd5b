"""The terminal tables of `python -m evals run` at any width: every line fits, no number is cut
(145 never shows as "1", nothing ends in an ellipsis), every run shows PASS or FAIL, and the
columns a narrow terminal leaves out are named, with where to find them (results.json).

The first tests print made-up results at 40 to 200 columns; the last ones run the real command
in a subprocess, with COLUMNS set and with its output piped."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from evals.accounting import RequestCount
from evals.report import print_table
from evals.results import Mode, RunSummary, TaskResult
from evals.tables import Column, Row, choose_layout, render

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = [60, 80, 100, 120, 200]
LONG_REASON = "expected ['alpha', 'beta', 'gamma'], got ['alpha', 'beta'] (one item missing from the answer)"


def run(
    task_id: str, mode: Mode, *, requests: int, tokens: int, passed: bool = True, calls: int = 3
) -> TaskResult:
    definitions = tokens // 2
    return TaskResult(
        task_id=task_id,
        domain=task_id.split("-")[0],
        mode=mode,
        repeat=1,
        tags=["multi-step"],
        passed=passed,
        reason="ok" if passed else LONG_REASON,
        answer="x",
        model_requests=requests,
        input_tokens=tokens // 3,
        output_tokens=17,
        host_calls=calls,
        run_code_retries=0 if passed else 2,
        sandbox_seconds=0.25,
        wall_seconds=12.5,
        system_tokens=68 * requests,
        definition_tokens=definitions,
        message_tokens=tokens - definitions - 68 * requests - 40,
        response_tokens=40,
        tools_offered=1 if mode != "tools" else 120,
        per_request=[RequestCount(definitions=definitions // requests)] * requests,
    )


def summary(oracle: bool = False) -> RunSummary:
    """Long task ids, numbers of one to nine digits, every mode, and a failure with a long reason."""
    return RunSummary(
        model="oracle" if oracle else "openai:gpt-4.1-mini",
        oracle=oracle,
        modes=["tools", "code", "code-search"],
        repeat=1,
        results=[
            run("enterprise-platform-hours-on-pulsar", "tools", requests=145, tokens=1_234_567, calls=145),
            run("enterprise-platform-hours-on-pulsar", "code", requests=2, tokens=11_908),
            run("enterprise-platform-hours-on-pulsar", "code-search", requests=3, tokens=10_168),
            run("stats-high-revenue-days-by-region", "tools", requests=3, tokens=98_765),
            run("stats-high-revenue-days-by-region", "code", requests=7, tokens=4_321, passed=False),
            run("stats-high-revenue-days-by-region", "code-search", requests=3, tokens=1_707),
        ],
    )


def printed(s: RunSummary, width: int) -> str:
    out = StringIO()
    print_table(s, Console(file=out, width=width, color_system=None))
    return out.getvalue()


def results_table(text: str) -> list[str]:
    """The lines of the results table: from its title to the first blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("results (one row per run)"))
    end = next(i for i in range(start, len(lines)) if not lines[i].strip())
    return lines[start + 1 : end]


@pytest.mark.parametrize("width", [40, *WIDTHS])
@pytest.mark.parametrize("oracle", [False, True])
def test_every_line_fits_and_no_number_is_cut(width: int, oracle: bool) -> None:
    s = summary(oracle)
    text = printed(s, width)
    assert max(cell_len(line) for line in text.splitlines()) <= width
    assert "…" not in text and "..." not in text
    words = set(text.split())
    for r in s.results:
        # the columns that always stay, each number whole
        assert f"{r.tokens:,}" in words, (r.task_id, r.mode, r.tokens)
        assert str(r.model_requests) in words
    assert "145" in words and "1,234,567" in words
    # every run says PASS or FAIL, and the failure says why, whole (wrapped, never cut)
    table = results_table(text)
    verdicts = [w for line in table for w in line.split() if w in {"PASS", "FAIL"}]
    assert sorted(verdicts) == sorted("PASS" if r.passed else "FAIL" for r in s.results)
    assert " ".join(text.split()).count(" ".join(LONG_REASON.split())) >= 1


@pytest.mark.parametrize("width", WIDTHS)
def test_left_out_columns_are_named_with_where_to_find_them(width: int) -> None:
    text = printed(summary(), width)
    notes = re.findall(r"\((\d+) columns too narrow for: ([^;]+); ([^)]+)\)", " ".join(text.split()))
    table = " ".join(results_table(text))
    for shown_width, left_out, where in notes:
        assert int(shown_width) == width
        assert "results.json" in where
        assert left_out.split(", ")
    if width >= 200:
        assert not notes  # room for everything
        for header in ("wall s", "sandbox s", "retries", "usage in", "usage out", "host calls"):
            assert header in table
    else:
        assert notes  # the results table has 15 columns: something is left out, and said so


def test_wide_terminals_get_one_line_per_run_with_its_task() -> None:
    for line in results_table(printed(summary(), 200))[2:]:
        assert line.split()[0].startswith(("enterprise-", "stats-")) or line.lstrip().startswith("↳")


def test_the_failures_are_listed_last_one_line_each() -> None:
    text = printed(summary(), 80)
    tail = " ".join(text.split()).split("failed runs (1;", 1)[1]
    assert "FAIL stats-high-revenue-days-by-region (code mode, run 1): expected" in tail


def test_layouts() -> None:
    columns = [
        Column("task", numeric=False),
        Column("mode", numeric=False),
        Column("tokens"),
        Column("extra"),
    ]
    rows = [
        Row(["a-rather-long-task-id", "code", "1,234,567", "9"]),
        Row(["a-rather-long-task-id", "tools", "145", "10"], note="why it failed"),
    ]
    wide = choose_layout(columns, rows, 60, ["extra"], group=True)
    assert (wide.kind, wide.dropped) == ("flat", [])
    grouped = choose_layout(columns, rows, 30, ["extra"], group=True)
    assert (grouped.kind, grouped.dropped) == ("grouped", [])
    dropped = choose_layout(columns, rows, 24, ["extra"], group=True)
    assert (dropped.kind, dropped.dropped) == ("grouped", ["extra"])
    stacked = choose_layout(columns, rows, 12, ["extra"], group=True)
    assert stacked.kind == "stacked"
    for width, layout in ((60, wide), (30, grouped), (24, dropped), (12, stacked)):
        lines = [line.plain for line in render(columns, rows, width, layout)]
        text = "\n".join(lines)
        assert "1,234,567" in text.split() and "145" in text.split()
        assert "why it failed" in " ".join(text.split())
        if layout.kind != "stacked":
            assert max(cell_len(line) for line in lines) <= width


# -- the real command --------------------------------------------------------------------------

TASKS = ["enterprise-platform-hours-on-pulsar", "stats-high-revenue-days-by-region"]


def run_cli(tmp_path: Path, columns: int | None) -> tuple[str, list[dict[str, object]]]:
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES"}}
    env["PYTHONPATH"] = str(ROOT)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    out = tmp_path / "out"
    args = ["--mode", "all", "--out", str(out), "--concurrency", "2"]
    for task in TASKS:
        args += ["--task", task]
    proc = subprocess.run(
        [sys.executable, "-m", "evals", "run", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,  # no terminal anywhere: a pipe, as in CI or `| cat`
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, json.loads((out / "results.json").read_text())["results"]


@pytest.mark.parametrize("columns", [*WIDTHS, None], ids=[*(f"COLUMNS={w}" for w in WIDTHS), "piped"])
def test_the_command_at_every_width(tmp_path: Path, columns: int | None) -> None:
    stdout, results = run_cli(tmp_path, columns)
    width = columns or 200  # piped with no terminal to measure: room for the whole table
    assert max(cell_len(line) for line in stdout.splitlines()) <= width
    assert "…" not in stdout
    words = set(stdout.split())
    assert len(results) == 2 * 3
    for r in results:
        assert f"{r['tokens']:,}" in words and str(r["model_requests"]) in words
    table = results_table(stdout)
    assert sum(line.split().count("PASS") for line in table) == len(results)
    # every column of the results table is shown, or named as left out (and where it is)
    header = " ".join(line for line in table[:3] if "requests" in line.split() or line.strip() == "task")
    left_out = re.search(r"\((\d+) columns too narrow for: ([^;]+); ([^)]+)\)", " ".join(stdout.split()))
    named = left_out.group(2).split(", ") if left_out else []
    for column in RESULT_COLUMNS:
        assert (column in header) != (column in named), (column, header, named)
    if left_out:
        assert int(left_out.group(1)) == width and "results.json" in left_out.group(3)
    if width >= 200:
        assert not named
    if width <= 80:
        assert named


RESULT_COLUMNS = [
    "task",
    "mode",
    "result",
    "requests",
    "tools",
    "sys",
    "defs",
    "msgs",
    "resp",
    "tokens",
    "host calls",
    "retries",
    "sandbox s",
    "wall s",
]
"""The results table's columns for the oracle (no reported usage) with one repetition."""
