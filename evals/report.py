"""What an eval run found, for a terminal and as files: a table, aggregates, charts, one HTML page.

The question the evals answer is whether code mode (one `run_code` tool) does as well
as plain tool calling with fewer model round trips and tokens. So beside pass rates by
mode, by domain and by tag, the report puts the savings first: for every task run in a
code mode and in tools mode, how many model requests and tokens the code mode saved
(tools minus code; positive means the code mode used fewer).

Tokens are the harness's own count (accounting.py), the same for every model and mode:
per request, the instructions ("system"), the definition of every tool offered
("definitions": name, description, JSON schema), the history sent ("messages") and the
model's answer ("responses"); "tokens" is their sum over the run's requests. Every
output names the counting method. The usage the model itself reported is kept beside it
(results.json; the tables show it for a real model).

With `--repeat N` a task has N results per mode; aggregates count every result, and
per-task figures (savings, charts) use the mean over the repetitions.

An oracle run (the offline stand-in for a model) proves the harness works, not that a
model does; every output says so, so nobody quotes its numbers as a model's.

The terminal tables fit any width with no number cut (tables.py): a narrow terminal leaves the
least needed columns out and says which, and results.json has them all. The failed runs are
listed last, one line each. report.html holds every run's transcript (transcript.py) in a
collapsed `<details>`, linked from its row, and the charts (charts.py) at their own size.
"""

# matplotlib types its **kwargs as unknown, which strict pyright flags on every plotting call.
# pyright: reportUnknownMemberType=false

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from statistics import fmean
from typing import Any

import matplotlib.pyplot as plt  # charts.py chose the Agg backend: charts are only written to files
from matplotlib.figure import Figure
from rich.console import Console
from rich.text import Text

from .charts import (
    DPI,
    TaskBars,
    chart_style,
    pass_rate_figure,
    per_task_figure,
    png_size,
    tokens_by_part_figure,
)
from .results import Mode, RunSummary, TaskResult
from .tables import Column, Row, choose_layout, render
from .transcript import clip

__all__ = [
    "CHART_FILES",
    "ORACLE_NOTE",
    "TOKEN_LEGEND",
    "TOKEN_PARTS",
    "aggregate",
    "chart_figures",
    "print_table",
    "render_html",
    "run_anchors",
    "token_note",
    "write_reports",
]

ORACLE_NOTE = (
    "model: oracle (offline) — a perfect model replaying the reference solutions: its figures measure "
    "what the oracle does, nothing more; this run tests the harness, not a model"
)

CHART_FILES = {
    "tokens_by_part": "tokens_by_part.png",
    "pass_rate_by_tag": "pass_rate_by_tag.png",
    "per_task": "per_task.png",
}
"""The charts `write_reports` draws, by name, and their file names in the output directory, in the
order report.html shows them: mean tokens per run by part and mode; pass rate by tag and mode; per
task (a row each, under its domain), model requests, tokens (log scale) and each code mode's
tokens divided by tools mode's (log scale)."""

TOKEN_PARTS = ("system", "definitions", "messages", "responses")
"""The parts the token count is split into, in the order the tables show them."""

_PART_FIELDS = {
    "system": "system_tokens",
    "definitions": "definition_tokens",
    "messages": "message_tokens",
    "responses": "response_tokens",
}


# -- aggregates ------------------------------------------------------------------------------


def _tokens(r: TaskResult) -> int:
    """The harness's count for the run, tool definitions included (see `TaskResult.tokens`)."""
    return r.tokens


def _part(r: TaskResult, part: str) -> int:
    return int(getattr(r, _PART_FIELDS[part]))


def token_note(summary: RunSummary) -> str:
    """How the tokens were counted, as every output says it."""
    return (
        "tokens: counted by the harness for every model request: system (instructions), definitions "
        "(name, description and JSON schema of every tool offered), messages (the history sent) and "
        f"responses (what the model wrote); {summary.token_method}"
    )


def _modes(summary: RunSummary) -> list[Mode]:
    """The run's modes in its own order, plus any that only appear in the results."""
    modes: list[Mode] = list(summary.modes)
    for r in summary.results:
        if r.mode not in modes:
            modes.append(r.mode)
    return modes


def _task_ids(summary: RunSummary) -> list[str]:
    """Task ids in the order the run first met them."""
    return list(dict.fromkeys(r.task_id for r in summary.results))


def _stats(results: Sequence[TaskResult]) -> dict[str, Any]:
    n = len(results)
    passed = sum(r.passed for r in results)

    def mean(values: Iterable[float]) -> float:
        values = list(values)
        return fmean(values) if values else 0.0

    total_requests = sum(r.model_requests for r in results)
    stats: dict[str, Any] = {
        "tasks": n,
        "passed": passed,
        "pass_rate": passed / n if n else 0.0,
        "mean_requests": mean(r.model_requests for r in results),
        "total_requests": total_requests,
        "mean_tokens": mean(_tokens(r) for r in results),
        "total_tokens": sum(_tokens(r) for r in results),
    }
    for part in TOKEN_PARTS:
        stats[f"mean_{part}_tokens"] = mean(_part(r, part) for r in results)
        stats[f"total_{part}_tokens"] = sum(_part(r, part) for r in results)
    stats["definition_tokens_per_request"] = (
        stats["total_definitions_tokens"] / total_requests if total_requests else 0.0
    )
    # Characters, beside the estimated tokens: a cross-check that no tokenizer can skew.
    definition_chars = sum(c.definition_chars for r in results for c in r.per_request)
    stats["definition_chars_per_request"] = definition_chars / total_requests if total_requests else 0.0
    stats["total_chars"] = sum(
        c.system_chars + c.definition_chars + c.message_chars + c.response_chars
        for r in results
        for c in r.per_request
    )
    stats.update(
        {
            "mean_tools_offered": mean(r.tools_offered for r in results),
            "mean_input_tokens": mean(r.input_tokens for r in results),
            "mean_output_tokens": mean(r.output_tokens for r in results),
            "mean_reported_tokens": mean(r.input_tokens + r.output_tokens for r in results),
            "total_reported_tokens": sum(r.input_tokens + r.output_tokens for r in results),
            "mean_host_calls": mean(r.host_calls for r in results),
            "total_host_calls": sum(r.host_calls for r in results),
            "total_run_code_retries": sum(r.run_code_retries for r in results),
            "mean_wall_seconds": mean(r.wall_seconds for r in results),
        }
    )
    return stats


def _per_task_means(summary: RunSummary) -> dict[str, dict[str, dict[str, float]]]:
    """task id -> mode -> mean requests, tokens and pass rate over that task's repetitions."""
    grouped: dict[str, dict[str, list[TaskResult]]] = {}
    for r in summary.results:
        grouped.setdefault(r.task_id, {}).setdefault(r.mode, []).append(r)
    return {
        task_id: {
            mode: {
                "requests": fmean(r.model_requests for r in rs),
                "tokens": fmean(_tokens(r) for r in rs),
                "pass_rate": sum(r.passed for r in rs) / len(rs),
                **{part: fmean(_part(r, part) for r in rs) for part in TOKEN_PARTS},
            }
            for mode, rs in by_mode.items()
        }
        for task_id, by_mode in grouped.items()
    }


def _pass_at_k(results: list[TaskResult]) -> float:
    """Share of tasks with at least one passing repetition (pass@k, k = --repeat)."""
    tasks: dict[str, bool] = {}
    for r in results:
        tasks[r.task_id] = tasks.get(r.task_id, False) or r.passed
    return sum(tasks.values()) / len(tasks) if tasks else 0.0


def aggregate(summary: RunSummary) -> dict[str, Any]:
    """The run in numbers: by mode, by domain and by tag (then mode), and the code modes' savings.

    Shape:
    - `by_mode[mode]`, `by_domain[domain][mode]` and `by_tag[tag][mode]`: tasks (results counted),
      passed, pass_rate, mean_/total_requests, mean_/total_tokens (the harness's count, definitions
      included), mean_/total_<part>_tokens for each part of `TOKEN_PARTS`,
      definition_tokens_per_request, mean_/total_reported_tokens (the model's own usage),
      mean_/total_host_calls, ...
    - `savings`: code mode against tools mode, over the tasks run in both: `per_task[task_id]` with
      each mode's mean requests and tokens and `requests_saved` / `tokens_saved` (tools minus code),
      and `total` with their sums, the tools-mode totals they are out of, and `tasks`.
    - `savings_by_mode[mode]`: the same for every mode but tools (`code`, `code-search`), the
      keys still named `code_*`.
    """
    modes = _modes(summary)
    by_mode = {m: _stats([r for r in summary.results if r.mode == m]) for m in modes}
    for m in modes:
        by_mode[m]["pass_at_k"] = _pass_at_k([r for r in summary.results if r.mode == m])

    domains = list(dict.fromkeys(r.domain for r in summary.results))
    by_domain = {
        domain: {m: _stats([r for r in summary.results if r.mode == m and r.domain == domain]) for m in modes}
        for domain in domains
    }
    tags = sorted({t for r in summary.results for t in r.tags})
    by_tag = {
        tag: {m: _stats([r for r in summary.results if r.mode == m and tag in r.tags]) for m in modes}
        for tag in tags
    }
    means = _per_task_means(summary)
    savings_by_mode = {m: _savings(means, m) for m in modes if m != "tools"}
    return {
        "by_mode": by_mode,
        "by_domain": by_domain,
        "by_tag": by_tag,
        "savings": savings_by_mode.get("code") or _savings(means, "code"),
        "savings_by_mode": savings_by_mode,
    }


def _savings(means: dict[str, dict[str, dict[str, float]]], mode: str) -> dict[str, Any]:
    """`mode` against tools mode over the tasks run in both (see `aggregate`)."""
    per_task: dict[str, dict[str, Any]] = {}
    for task_id, by_mode in means.items():
        if mode not in by_mode or "tools" not in by_mode:
            continue
        code, tools = by_mode[mode], by_mode["tools"]
        per_task[task_id] = {
            "code_requests": code["requests"],
            "tools_requests": tools["requests"],
            "requests_saved": tools["requests"] - code["requests"],
            "code_tokens": code["tokens"],
            "tools_tokens": tools["tokens"],
            "tokens_saved": tools["tokens"] - code["tokens"],
            "code_pass_rate": code["pass_rate"],
            "tools_pass_rate": tools["pass_rate"],
        }
    total = {
        "tasks": len(per_task),
        "requests_saved": sum(t["requests_saved"] for t in per_task.values()),
        "tokens_saved": sum(t["tokens_saved"] for t in per_task.values()),
        "tools_requests": sum(t["tools_requests"] for t in per_task.values()),
        "code_requests": sum(t["code_requests"] for t in per_task.values()),
        "tools_tokens": sum(t["tools_tokens"] for t in per_task.values()),
        "code_tokens": sum(t["code_tokens"] for t in per_task.values()),
    }
    return {"per_task": per_task, "total": total}


# -- formatting ------------------------------------------------------------------------------


def _num(value: float) -> str:
    """Whole numbers without decimals, means with one: the tables stay narrow and exact."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _signed(value: float) -> str:
    return ("+" if value > 0 else "") + _num(value)


def _pct(rate: float) -> str:
    return f"{rate * 100:.0f}%"


def _result_text(r: TaskResult) -> str:
    return "PASS" if r.passed else f"FAIL: {r.reason}"


def _reported(summary: RunSummary) -> bool:
    """Whether the tables show the model's own usage: not for the oracle, whose "usage" is
    pydantic-ai's placeholder estimate (no instructions, no tool definitions)."""
    return not summary.oracle


_TOKEN_HEADERS = ["sys", "defs", "msgs", "resp", "tokens"]

TOKEN_LEGEND = (
    "tokens over a run's requests: sys = instructions, defs = tool definitions offered (name, description, "
    "JSON schema), msgs = the history sent, resp = the model's responses; tokens = their sum; "
    "defs/req = definition tokens per request; tools = tool definitions per request"
)


def _result_columns(summary: RunSummary) -> list[str]:
    return [
        "task",
        "mode",
        "repeat",
        "result",
        "requests",
        "tools",
        *_TOKEN_HEADERS,
        *(["usage in", "usage out"] if _reported(summary) else []),
        "host calls",
        "retries",
        "sandbox s",
        "wall s",
    ]


def _result_row(summary: RunSummary, r: TaskResult) -> list[str]:
    return [
        r.task_id,
        r.mode,
        str(r.repeat),
        _result_text(r),
        _num(r.model_requests),
        _num(r.tools_offered),
        *(_num(_part(r, part)) for part in TOKEN_PARTS),
        _num(r.tokens),
        *([_num(r.input_tokens), _num(r.output_tokens)] if _reported(summary) else []),
        _num(r.host_calls),
        _num(r.run_code_retries),
        f"{r.sandbox_seconds:.2f}",
        f"{r.wall_seconds:.2f}",
    ]


def _agg_columns(summary: RunSummary) -> list[str]:
    """Counts, then means per run (requests, tokens by part, host calls)."""
    return [
        "tasks",
        "passed",
        "pass rate",
        "requests",
        *_TOKEN_HEADERS,
        "defs/req",
        *(["usage tok"] if _reported(summary) else []),
        "host calls",
    ]


def _agg_row(summary: RunSummary, stats: dict[str, Any]) -> list[str]:
    return [
        _num(stats["tasks"]),
        _num(stats["passed"]),
        _pct(stats["pass_rate"]),
        _num(stats["mean_requests"]),
        *(_num(stats[f"mean_{part}_tokens"]) for part in TOKEN_PARTS),
        _num(stats["mean_tokens"]),
        _num(round(stats["definition_tokens_per_request"])),
        *([_num(stats["mean_reported_tokens"])] if _reported(summary) else []),
        _num(stats["mean_host_calls"]),
    ]


def _change(saved: float, out_of: float, noun: str) -> str:
    """`saved` (tools minus a code mode) as "7 fewer model requests (-54%)" or "90 more tokens (+3%)",
    the percentage of tools mode's `out_of`."""
    if saved == 0:
        return f"as many {noun}"
    noun = noun.removesuffix("s") if abs(saved) == 1 else noun
    amount = f"{_num(abs(saved))} {'fewer' if saved >= 0 else 'more'} {noun}"
    return f"{amount} ({-saved / out_of * 100:+.0f}%)" if out_of else amount


def _savings_line(total: dict[str, Any], mode: str = "code") -> str:
    if not total["tasks"]:
        return f"savings: no task was run in both {mode} mode and tools mode"
    return (
        f"{mode} mode against tools mode, over {total['tasks']} tasks run in both: "
        f"{_change(total['requests_saved'], total['tools_requests'], 'model requests')} and "
        f"{_change(total['tokens_saved'], total['tools_tokens'], 'tokens')}, tool definitions included"
    )


def _notes(summary: RunSummary) -> list[str]:
    """What a reader must know to read the figures: how tokens were counted, what each code mode
    asked for, which modes were skipped and why."""
    notes = [token_note(summary)]
    for mode, options in summary.mode_options.items():
        given = ", ".join(f"{k}={v!r}" for k, v in options.items())
        notes.append(
            f"{mode} mode: CodeToolset({given})"
            if given
            else f"{mode} mode: CodeToolset() (this agent_tools has no catalog option: the full catalog)"
        )
    notes += [f"{mode} mode {why}" for mode, why in summary.skipped_modes.items()]
    return notes


# -- terminal --------------------------------------------------------------------------------

_RESULT_DROPPABLE = [
    "wall s",
    "sandbox s",
    "retries",
    "usage out",
    "usage in",
    "tools",
    "host calls",
    "resp",
    "sys",
    "msgs",
    "defs",
]
"""The results table's columns a narrow terminal leaves out, the least needed first: the task, mode,
result, requests and total tokens always stay."""

_AGG_DROPPABLE = ["usage tok", "host calls", "defs/req", "passed", "resp", "sys", "msgs", "defs"]
"""The same for the tables by mode, domain and tag: tasks, pass rate, requests and tokens stay."""

WHERE_ALL_COLUMNS = "every column is in results.json and report.html"


def _print_table(
    console: Console,
    title: str,
    columns: list[Column],
    rows: list[Row],
    droppable: list[str],
    *,
    group: bool = False,
) -> None:
    """One table laid out for the console's width (tables.py), and which columns it left out."""
    width = console.width
    layout = choose_layout(columns, rows, width, droppable, group=group)
    console.print(Text(title, style="bold"), soft_wrap=True)
    for line in render(columns, rows, width, layout):
        console.print(line, soft_wrap=True, highlight=False)
    if layout.dropped:
        console.print(
            f"({width} columns too narrow for: {', '.join(layout.dropped)}; {WHERE_ALL_COLUMNS})",
            markup=False,
            highlight=False,
        )
    console.print()


def _agg_rows(summary: RunSummary, rows: list[tuple[list[str], dict[str, Any]]]) -> list[Row]:
    return [Row([*labels, *_agg_row(summary, stats)]) for labels, stats in rows]


def print_table(summary: RunSummary, console: Console | None = None) -> None:
    """Print every result, the aggregates by mode, domain and tag, the savings and the notes to `console`.

    Every table fits the console's width with no number cut: columns are left out (and named) or
    the rows stacked when it is narrow (see tables.py); results.json and report.html have them all.
    """
    console = console or Console()
    agg = aggregate(summary)
    if summary.oracle:
        console.print(f"[bold yellow]{ORACLE_NOTE}[/]", markup=True, highlight=False)
    else:
        console.print(f"model: {summary.model}", markup=False, highlight=False)
    for mode, why in summary.skipped_modes.items():
        console.print(f"[bold red]{mode} mode {why}[/]", markup=True, highlight=False)
    console.print()

    names = _result_columns(summary)
    keep = [i for i, name in enumerate(names) if name != "repeat" or summary.repeat > 1]
    columns = [Column(names[i], numeric=names[i] not in {"task", "mode", "result"}) for i in keep]
    rows: list[Row] = []
    for r in summary.results:
        cells = _result_row(summary, r)
        cells[names.index("result")] = "PASS" if r.passed else "FAIL"  # the reason goes under the row
        rows.append(
            Row(
                [cells[i] for i in keep], style=None if r.passed else "red", note="" if r.passed else r.reason
            )
        )
    _print_table(console, "results (one row per run)", columns, rows, _RESULT_DROPPABLE, group=True)
    console.print(TOKEN_LEGEND, markup=False, highlight=False)
    console.print()

    agg_columns = [Column(name) for name in _agg_columns(summary)]
    _print_table(
        console,
        "by mode (means per run)",
        [Column("mode", numeric=False), *agg_columns],
        _agg_rows(summary, [([m], stats) for m, stats in agg["by_mode"].items()]),
        _AGG_DROPPABLE,
    )
    for title, key, groups in (
        ("by domain (means per run)", "domain", agg["by_domain"]),
        ("by tag (means per run)", "tag", agg["by_tag"]),
    ):
        _print_table(
            console,
            title,
            [Column(key, numeric=False), Column("mode", numeric=False), *agg_columns],
            _agg_rows(
                summary,
                [
                    ([group, mode], stats)
                    for group, per_mode in groups.items()
                    for mode, stats in per_mode.items()
                    if stats["tasks"]
                ],
            ),
            _AGG_DROPPABLE,
            group=True,
        )

    savings = agg["savings_by_mode"] or {"code": agg["savings"]}
    for mode, saved in savings.items():
        console.print(_savings_line(saved["total"], mode), markup=False, highlight=False)
    for note in _notes(summary):
        console.print(note, markup=False, highlight=False)
    failed = [r for r in summary.results if not r.passed]
    if failed:
        # Last, one line each with the task: what a CI log shows at its end, and what grep finds.
        console.print()
        console.print(
            f"failed runs ({len(failed)}; their transcripts are in report.html and results.json):",
            style="bold red",
            markup=False,
            highlight=False,
        )
        for r in failed:
            line = f"FAIL {r.task_id} ({r.mode} mode, run {r.repeat}): {r.reason}"
            console.print(line, style="red", markup=False, highlight=False)
    if summary.oracle:
        console.print(f"[bold yellow]{ORACLE_NOTE}[/]", markup=True, highlight=False)


# -- charts ----------------------------------------------------------------------------------


def chart_figures(summary: RunSummary, agg: dict[str, Any] | None = None) -> dict[str, Figure]:
    """The charts of `CHART_FILES`, by name, drawn (charts.py) but not saved; the caller closes them
    (`plt.close`). Call it inside `charts.chart_style()` for the report's fonts."""
    agg = agg if agg is not None else aggregate(summary)
    modes = _modes(summary)
    tags = list(agg["by_tag"])
    means = _per_task_means(summary)
    domains = {r.task_id: r.domain for r in summary.results}
    # by domain, in the order the run met them, then by task id
    order = list(dict.fromkeys(domains.values()))
    task_ids = sorted(_task_ids(summary), key=lambda t: (order.index(domains[t]), t))
    figures: dict[str, Figure] = {}
    try:
        figures["tokens_by_part"] = tokens_by_part_figure(
            [str(m) for m in modes],
            {part: [agg["by_mode"][m][f"mean_{part}_tokens"] for m in modes] for part in TOKEN_PARTS},
        )
        figures["pass_rate_by_tag"] = pass_rate_figure(
            tags,
            [str(m) for m in modes],
            {
                m: [
                    agg["by_tag"][t][m]["pass_rate"] * 100 if agg["by_tag"][t][m]["tasks"] else math.nan
                    for t in tags
                ]
                for m in modes
            },
        )
        figures["per_task"] = per_task_figure(
            [
                TaskBars(
                    task_id=t,
                    domain=domains[t],
                    requests={m: v["requests"] for m, v in means[t].items()},
                    tokens={m: v["tokens"] for m, v in means[t].items()},
                    pass_rate={m: v["pass_rate"] for m, v in means[t].items()},
                )
                for t in task_ids
            ],
            [str(m) for m in modes],
        )
    except BaseException:
        for figure in figures.values():
            plt.close(figure)
        raise
    return figures


def _write_charts(summary: RunSummary, agg: dict[str, Any], outdir: Path) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    with chart_style():
        figures = chart_figures(summary, agg)
        try:
            for name, filename in CHART_FILES.items():
                paths[name] = outdir / filename
                figures[name].savefig(paths[name], format="png", dpi=DPI)
        finally:
            for figure in figures.values():
                plt.close(figure)
    return paths


# -- HTML ------------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; color: #222;
       margin: 2em auto; max-width: 1400px; padding: 0 24px; }
h1 { font-size: 1.5em; margin-bottom: 0.3em; } h2 { font-size: 1.25em; margin-top: 2em; }
h3 { font-size: 1.05em; margin: 1.4em 0 0.4em; } h4 { margin: 1em 0 0.3em; }
nav { margin: 0.8em 0; } nav a { margin-right: 1em; }
a { color: #1f5fa8; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; position: sticky; top: 0; white-space: nowrap; }
table.results td:nth-child(-n+2) { white-space: nowrap; }
.tablebox { overflow: auto; max-height: 85vh; margin: 0.5em 0 1em; border-bottom: 1px solid #ccc; }
.tablebox table { margin: 0; }
table.results { font-size: 13px; } table.results th, table.results td { padding: 2px 6px; }
div.result.fail { min-width: 12em; max-width: 24em; }
table.calls { width: 100%; } table.calls td:nth-child(-n+2) { white-space: nowrap; }
table.calls td:nth-child(3) { min-width: 12em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.fail td { background: #fdecec; }
.note { border: 2px solid #d9a400; background: #fff8db; padding: 0.6em 1em; font-weight: bold; }
.skipped { border: 2px solid #c0504d; background: #fdecec; padding: 0.6em 1em; }
.savings { font-size: 1.1em; } .meta { color: #555; }
.headline li { font-size: 1.05em; margin: 0.2em 0; }
figure { margin: 0.5em 0 1.5em; } figcaption { color: #555; margin-bottom: 0.4em; }
img { max-width: 100%; height: auto; display: block; }
.badge { display: inline-block; min-width: 3em; text-align: center; font-weight: bold;
         border-radius: 3px; padding: 0 4px; font-size: 0.9em; }
.badge.pass { background: #e3f3e6; color: #1d6b33; } .badge.fail { background: #fbdada; color: #a01d1d; }
details.run { border: 1px solid #ddd; border-radius: 4px; margin: 0.3em 0; }
details.run[open] { border-color: #999; }
details.run > summary { cursor: pointer; padding: 4px 8px; }
details.run > div { padding: 0 1em 0.8em; }
details.fail > summary { background: #fdecec; }
ol.transcript { list-style: none; padding: 0; margin: 0; }
ol.transcript li { border-left: 4px solid #ccc; margin: 0.4em 0; padding: 0.2em 0.6em; }
ol.transcript li.user { border-color: #888; } ol.transcript li.model { border-color: #2f6fb3; }
ol.transcript li.call { border-color: #2f6fb3; background: #f3f7fc; }
ol.transcript li.return { border-color: #3a9a5b; } ol.transcript li.retry { border-color: #e0892b; }
ol.transcript li.error { border-color: #c0504d; background: #fdecec; }
.who { font-size: 0.85em; color: #555; font-weight: bold; }
pre { margin: 0.2em 0; white-space: pre-wrap; overflow-wrap: anywhere;
      font: 12.5px/1.4 ui-monospace, monospace; }
table.calls td { font: 12.5px/1.4 ui-monospace, monospace; }
table.calls td:nth-child(n+3) { overflow-wrap: anywhere; }
.clipped { color: #a05a00; font-style: italic; }
"""

HTML_TEXT_LIMIT = 4000
"""A transcript's text (a message, a tool's return, a host call's result) longer than this is cut in
report.html, saying how much was left out; results.json has it whole."""


class _Html(str):
    """A table cell that is markup already (a link), not text to escape."""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: str) -> str:
    return value if isinstance(value, _Html) else _e(value)


def _html_table(
    header: list[str], rows: Iterable[tuple[list[str], str]], numeric_from: int, *, css: str = ""
) -> str:
    """A table of escaped cells (`_Html` cells as they are); `rows` are (cells, css class); cells from
    `numeric_from` on align right."""
    out = [f'<table class="{_e(css)}">' if css else "<table>", "<thead><tr>"]
    out += [f"<th>{_e(h)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for cells, row_css in rows:
        out.append(f'<tr class="{_e(row_css)}">' if row_css else "<tr>")
        for i, cell in enumerate(cells):
            out.append(
                f'<td class="num">{_cell(cell)}</td>' if i >= numeric_from else f"<td>{_cell(cell)}</td>"
            )
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _html_savings(mode: str, saved: dict[str, Any]) -> list[str]:
    total = saved["total"]
    prefix = "" if mode == "code" else f"{mode}-"
    parts = [f"<h3>{_e(mode)} mode against tools mode</h3>"]
    if not total["tasks"]:
        return [*parts, f"<p>{_e(_savings_line(total, mode))}</p>"]
    parts.append(
        "<p>Model requests saved in total: "
        f'<strong id="{prefix}requests-saved">{_e(_num(total["requests_saved"]))}'
        f"</strong> (tools mode {_e(_num(total['tools_requests']))}, {_e(mode)} mode "
        f"{_e(_num(total['code_requests']))}); tokens saved in total (definitions included): "
        f'<strong id="{prefix}tokens-saved">{_e(_num(total["tokens_saved"]))}</strong> (tools mode '
        f"{_e(_num(total['tools_tokens']))}, {_e(mode)} mode {_e(_num(total['code_tokens']))}).</p>"
    )
    rows = [
        (
            [
                task_id,
                _num(s["tools_requests"]),
                _num(s["code_requests"]),
                _signed(s["requests_saved"]),
                _num(s["tools_tokens"]),
                _num(s["code_tokens"]),
                _signed(s["tokens_saved"]),
                _pct(s["tools_pass_rate"]),
                _pct(s["code_pass_rate"]),
            ],
            "",
        )
        for task_id, s in saved["per_task"].items()
    ]
    header = [
        "task",
        "tools requests",
        f"{mode} requests",
        "requests saved",
        "tools tokens",
        f"{mode} tokens",
        "tokens saved",
        "tools pass",
        f"{mode} pass",
    ]
    parts.append(
        f"<details><summary>per task ({_e(len(rows))} tasks)</summary>"
        f"{_html_table(header, rows, numeric_from=1)}</details>"
    )
    return parts


def run_anchors(summary: RunSummary) -> list[str]:
    """The id of each result's transcript in report.html (`run-<task>-<mode>-<repeat>`), in order."""
    anchors: list[str] = []
    seen: set[str] = set()
    for r in summary.results:
        base = "run-" + re.sub(r"[^A-Za-z0-9_-]+", "_", f"{r.task_id}-{r.mode}-{r.repeat}")
        anchor, n = base, 1
        while anchor in seen:
            n += 1
            anchor = f"{base}-{n}"
        seen.add(anchor)
        anchors.append(anchor)
    return anchors


def _pre(text: str, css: str = "") -> str:
    clipped = clip(text, HTML_TEXT_LIMIT)
    shown, rest = (clipped, "") if clipped == text else (text[:HTML_TEXT_LIMIT], clipped[HTML_TEXT_LIMIT:])
    more = f'<span class="clipped">{_e(rest)}: whole in results.json</span>' if rest else ""
    return f'<pre class="{_e(css)}">{_e(shown)}{more}</pre>' if css else f"<pre>{_e(shown)}{more}</pre>"


def _html_entry(entry: dict[str, Any]) -> str:
    kind = str(entry.get("kind", ""))
    tool = str(entry.get("tool") or "")
    text = str(entry.get("text", ""))
    if kind == "call":
        if "code" in entry:
            body, who = _pre(str(entry["code"]), "code"), f"model → {tool}: the code"
        else:
            body, who = _pre(str(entry.get("args", ""))), f"model → {tool}"
        return f'<li class="call"><div class="who">{_e(who)}</div>{body}</li>'
    who = {
        "user": ("user", "user"),
        "system": ("system prompt", "user"),
        "text": ("model", "model"),
        "thinking": ("model (thinking)", "model"),
        "return": (f"{tool} returned", "return"),
        "retry": (f"{tool or 'the answer'} failed, sent back to the model to retry", "retry"),
        "error": ("the run stopped with an error", "error"),
    }.get(kind, (kind, ""))
    return f'<li class="{who[1]}"><div class="who">{_e(who[0])}</div>{_pre(text)}</li>'


def _html_calls(calls: list[dict[str, Any]]) -> str:
    rows: list[tuple[list[str], str]] = []
    for i, call in enumerate(calls, 1):
        args = ", ".join(f"{k}={v}" for k, v in dict(call.get("args", {})).items())
        outcome = f"error: {call['error']}" if "error" in call else str(call.get("result", ""))
        rows.append(
            (
                [
                    str(i),
                    str(call.get("function", "")),
                    clip(args, HTML_TEXT_LIMIT),
                    clip(outcome, HTML_TEXT_LIMIT),
                ],
                "fail" if "error" in call else "",
            )
        )
    return _html_table(["#", "function", "arguments", "result or error"], rows, numeric_from=99, css="calls")


def _badge(passed: bool) -> str:
    return '<span class="badge pass">PASS</span>' if passed else '<span class="badge fail">FAIL</span>'


def _count(n: float, noun: str) -> str:
    return f"{_num(n)} {noun if n == 1 else noun + 's'}"


def _html_transcript(r: TaskResult, anchor: str) -> str:
    status = "pass" if r.passed else "fail"
    figures = f"{_count(r.model_requests, 'model request')}, {_count(r.host_calls, 'host call')}, "
    figures += _count(r.tokens, "token")
    parts = [
        f'<details class="run {status}" id="{_e(anchor)}">',
        f"<summary>{_badge(r.passed)} <strong>{_e(r.task_id)}</strong>"
        f" · {_e(r.mode)} mode · run {_e(r.repeat)} — {_e(figures)}</summary><div>",
    ]
    if not r.passed:
        parts.append(f"<p><strong>Why it failed:</strong> {_e(r.reason)}</p>")
    parts.append(f"<p><strong>Answer:</strong></p>{_pre(r.answer or '(none)')}")
    parts.append(f"<h4>Messages ({_e(len(r.transcript))})</h4>")
    if r.transcript:
        parts.append('<ol class="transcript">' + "".join(_html_entry(e) for e in r.transcript) + "</ol>")
    else:
        parts.append("<p>(no message was recorded)</p>")
    parts.append(f"<h4>Host calls ({_e(len(r.calls))})</h4>")
    parts.append(_html_calls(r.calls) if r.calls else "<p>(none)</p>")
    parts.append("</div></details>")
    return "".join(parts)


def _html_chart(name: str, png: bytes) -> str:
    width, height = png_size(png)
    encoded = base64.b64encode(png).decode("ascii")
    caption = _CHART_CAPTIONS.get(name, name.replace("_", " "))
    return (
        f'<figure id="chart-{_e(name)}"><figcaption>{_e(caption)}</figcaption>'
        f'<img alt="{_e(name.replace("_", " "))}" width="{width}" height="{height}" '
        f'src="data:image/png;base64,{encoded}"></figure>'
    )


_CHART_CAPTIONS = {
    "tokens_by_part": "Mean tokens per run, by what the requests carried, per mode.",
    "pass_rate_by_tag": "Pass rate by tag, per mode.",
    "per_task": (
        "Per task, under its domain: model requests, tokens (log scale), and each code mode's tokens "
        "divided by tools mode's (log scale; left of 1x a code mode used fewer tokens). "
        "Hatched bars are failed runs; a task not run in a mode has no bar."
    ),
}


def render_html(summary: RunSummary, agg: dict[str, Any], charts: dict[str, bytes]) -> str:
    """The whole report as one page: CSS inline, charts as data: URIs, every text escaped, and each
    run's transcript (messages, code, host calls, errors) collapsed under the results."""
    anchors = run_anchors(summary)
    failed = [(r, a) for r, a in zip(summary.results, anchors, strict=True) if not r.passed]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Nothing to fetch: a stray tag in a task's answer could not load anything either.
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        f"<title>{_e(f'eval report: {summary.model}')}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Eval report: {_e(summary.model)}</h1>",
    ]
    if summary.oracle:
        parts.append(f'<p class="note">{_e(ORACLE_NOTE)}</p>')
    for mode, why in summary.skipped_modes.items():
        parts.append(f'<p class="skipped" id="skipped-{_e(mode)}">{_e(f"{mode} mode {why}")}</p>')
    parts.append(
        '<p class="meta">'
        f"modes: {_e(', '.join(summary.modes))} · repeat: {_e(summary.repeat)} · "
        f"started: {_e(summary.started_at or '-')} · wall: {_e(f'{summary.wall_seconds:.1f}')} s · "
        f"results: {_e(len(summary.results))} · failed: {_e(len(failed))}</p>"
    )
    sections = [
        ("summary", "Summary"),
        *([("failures", f"Failed runs ({len(failed)})")] if failed else []),
        ("charts", "Charts"),
        ("savings", "Savings per task"),
        ("by-domain", "By domain"),
        ("by-tag", "By tag"),
        ("per-task", "Per task"),
        ("results", "Results and transcripts"),
    ]
    parts.append("<nav>" + "".join(f'<a href="#{i}">{_e(t)}</a>' for i, t in sections) + "</nav>")
    parts.append('<ul class="meta" id="notes">')
    parts += [f"<li>{_e(note)}</li>" for note in _notes(summary)]
    parts.append("</ul>")

    savings = agg["savings_by_mode"] or {"code": agg["savings"]}
    agg_columns = _agg_columns(summary)
    parts.append('<h2 id="summary">Summary: by mode (means per run)</h2>')
    parts.append(
        _html_table(
            ["mode", *agg_columns],
            [([mode, *_agg_row(summary, stats)], "") for mode, stats in agg["by_mode"].items()],
            numeric_from=1,
        )
    )
    parts.append(f'<p class="meta" id="legend">{_e(TOKEN_LEGEND)}</p>')
    parts.append('<ul class="headline">')
    parts += [
        f'<li class="savings">{_e(_savings_line(saved["total"], mode))}</li>'
        for mode, saved in savings.items()
    ]
    parts.append("</ul>")

    if failed:
        parts.append(f'<h2 id="failures">Failed runs ({_e(len(failed))})</h2><ul>')
        parts += [
            f'<li><a href="#{_e(a)}">{_e(f"{r.task_id} · {r.mode} mode · run {r.repeat}")}</a>: '
            f"{_e(r.reason)}</li>"
            for r, a in failed
        ]
        parts.append("</ul>")

    parts.append('<h2 id="charts">Charts</h2>')
    parts += [_html_chart(name, png) for name, png in charts.items() if name != "per_task"]

    parts.append('<h2 id="savings">Savings of the code modes, per task</h2>')
    for mode, saved in savings.items():
        parts += _html_savings(mode, saved)

    for title, anchor, key, groups in (
        ("By domain (means per run)", "by-domain", "domain", agg["by_domain"]),
        ("By tag (means per run)", "by-tag", "tag", agg["by_tag"]),
    ):
        parts.append(f'<h2 id="{anchor}">{title}</h2>')
        parts.append(
            _html_table(
                [key, "mode", *agg_columns],
                [
                    ([group, mode, *_agg_row(summary, stats)], "")
                    for group, per_mode in groups.items()
                    for mode, stats in per_mode.items()
                    if stats["tasks"]
                ],
                numeric_from=2,
            )
        )
    parts.append('<h2 id="per-task">Per task</h2>')
    parts += [_html_chart(name, png) for name, png in charts.items() if name == "per_task"]

    parts.append('<h2 id="results">Results and transcripts</h2>')
    parts.append(
        "<p>One row per run. Its transcript (the messages, the code the model wrote, what each call "
        "returned or why it failed, and every host call) is under the table, collapsed: click the "
        "task to go to it, then its line to open it.</p>"
    )
    columns = _result_columns(summary)
    keep = [i for i, name in enumerate(columns) if name != "repeat" or summary.repeat > 1]
    rows: list[tuple[list[str], str]] = []
    for r, a in zip(summary.results, anchors, strict=True):
        cells = _result_row(summary, r)
        cells[columns.index("task")] = _Html(f'<a href="#{_e(a)}" title="its transcript">{_e(r.task_id)}</a>')
        reason = "" if r.passed else f" {_e(r.reason)}"
        css = "result" if r.passed else "result fail"
        cells[columns.index("result")] = _Html(f'<div class="{css}">{_badge(r.passed)}{reason}</div>')
        rows.append(([cells[i] for i in keep], "" if r.passed else "fail"))
    # A box that scrolls both ways, its header row staying in view: the page itself never scrolls
    # sideways, however many columns (a real model adds two) or however narrow the window.
    parts.append('<div class="tablebox">')
    parts.append(
        _html_table(
            [columns[i] for i in keep],
            rows,
            numeric_from=keep.index(columns.index("result")) + 1,
            css="results",
        )
    )
    parts.append("</div>")
    parts.append('<h3 id="transcripts">Transcripts</h3>')
    parts += [_html_transcript(r, a) for r, a in zip(summary.results, anchors, strict=True)]
    if summary.oracle:
        parts.append(f'<p class="note">{_e(ORACLE_NOTE)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _write_text(path: Path, text: str) -> None:
    """Replace `path` whole, so a reader never sees half a report."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        # mkstemp makes the file private (0600); a report is as readable as any file written here
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(summary: RunSummary, outdir: Path) -> dict[str, Path]:
    """Write results.json, the PNG charts and report.html to `outdir`; return their paths by name.

    Names: "results", "html", and the chart names of `CHART_FILES`.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    agg = aggregate(summary)

    paths: dict[str, Path] = {"results": outdir / "results.json"}
    data = {**summary.to_dict(), "token_note": token_note(summary), "aggregates": agg}
    if summary.oracle:
        data["oracle_note"] = ORACLE_NOTE
    _write_text(paths["results"], json.dumps(data, indent=2) + "\n")

    charts = _write_charts(summary, agg, outdir)
    paths.update(charts)

    paths["html"] = outdir / "report.html"
    _write_text(paths["html"], render_html(summary, agg, {n: p.read_bytes() for n, p in charts.items()}))
    return paths
