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
"""

# matplotlib types its **kwargs as unknown, which strict pyright flags on every plotting call.
# pyright: reportUnknownMemberType=false

from __future__ import annotations

import base64
import html
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from statistics import fmean
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: charts are only ever written to files

import matplotlib.pyplot as plt  # the backend is chosen above, before pyplot is imported
from rich import box
from rich.console import Console
from rich.table import Table

from .results import Mode, RunSummary, TaskResult

__all__ = [
    "CHART_FILES",
    "ORACLE_NOTE",
    "TOKEN_LEGEND",
    "TOKEN_PARTS",
    "aggregate",
    "print_table",
    "render_html",
    "token_note",
    "write_reports",
]

ORACLE_NOTE = (
    "model: oracle (offline) — a perfect model replaying the reference solutions: its figures measure "
    "what the oracle does, nothing more; this run tests the harness, not a model"
)

CHART_FILES = {
    "pass_rate_by_tag": "pass_rate_by_tag.png",
    "requests_per_task": "requests_per_task.png",
    "tokens_per_task": "tokens_per_task.png",
    "tokens_by_part": "tokens_by_part.png",
}
"""The charts `write_reports` draws, by name, and their file names in the output directory."""

TOKEN_PARTS = ("system", "definitions", "messages", "responses")
"""The parts the token count is split into, in the order the tables show them."""

_PART_FIELDS = {
    "system": "system_tokens",
    "definitions": "definition_tokens",
    "messages": "message_tokens",
    "responses": "response_tokens",
}

_MODE_COLORS = {"code": "#2f6fb3", "tools": "#e0892b", "code-search": "#3a9a5b"}
_PART_COLORS = {"system": "#8c8c8c", "definitions": "#c0504d", "messages": "#4f81bd", "responses": "#9bbb59"}


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


def _agg_table(
    title: str, keys: list[str], summary: RunSummary, rows: list[tuple[list[str], dict[str, Any]]]
) -> Table:
    table = Table(title=title, title_justify="left")
    for name in [*keys, *_agg_columns(summary)]:
        table.add_column(name, justify="left" if name in keys else "right", no_wrap=name in keys)
    for labels, stats in rows:
        table.add_row(*labels, *_agg_row(summary, stats))
    return table


_DROPPABLE = ["wall s", "sandbox s", "retries", "usage out", "usage in", "tools", "host calls"]
"""The results table's columns the terminal leaves out first, when it is too narrow."""


def _too_wide(columns: list[str], rows: list[list[str]], dropped: set[str], width: int) -> set[str]:
    """The columns of `_DROPPABLE` to leave out so the results table fits `width` (the task id may fold
    to 24 characters and a failure's reason to 4; each column takes 3 more: padding and rule)."""

    def needed(skip: set[str]) -> int:
        total = 0
        for i, name in enumerate(columns):
            if name in skip:
                continue
            cell = max([len(name), *(len(row[i]) for row in rows)])
            total += 3 + {"task": min(cell, 24), "result": max(4, min(len(name), cell))}.get(name, cell)
        return total

    out: set[str] = set()
    for name in _DROPPABLE:
        if needed(dropped | out) <= width:
            break
        if name in columns:
            out.add(name)
    return out


def print_table(summary: RunSummary, console: Console | None = None) -> None:
    """Print every result, the aggregates by mode, domain and tag, the savings and the notes to `console`."""
    console = console or Console()
    agg = aggregate(summary)
    if summary.oracle:
        console.print(f"[bold yellow]{ORACLE_NOTE}[/]", markup=True, highlight=False)
    else:
        console.print(f"model: {summary.model}", markup=False, highlight=False)
    for mode, why in summary.skipped_modes.items():
        console.print(f"[bold red]{mode} mode {why}[/]", markup=True, highlight=False)

    columns = _result_columns(summary)
    rows = [_result_row(summary, r) for r in summary.results]
    dropped = {"repeat"} if summary.repeat <= 1 else set[str]()
    dropped |= _too_wide(columns, rows, dropped, console.width)
    keep = [i for i, name in enumerate(columns) if name not in dropped]
    # One row per run and many columns: no vertical rules, and the least needed columns left out
    # when the terminal is too narrow (they are all in report.html and results.json).
    results = Table(title="results", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in (columns[i] for i in keep):
        numeric = name not in {"task", "mode", "result"}
        results.add_column(
            name,
            justify="right" if numeric else "left",
            no_wrap=name not in {"task", "result"},
            overflow="fold",
            min_width=4 if name == "result" else None,
            max_width=48 if name == "result" else None,
        )
    for r, row in zip(summary.results, rows, strict=True):
        results.add_row(*(row[i] for i in keep), style=None if r.passed else "red")
    console.print(results)
    if dropped - {"repeat"}:
        left_out = ", ".join(c for c in columns if c in dropped and c != "repeat")
        console.print(f"(too narrow for: {left_out}; see report.html)", markup=False, highlight=False)
    console.print(TOKEN_LEGEND, markup=False, highlight=False)

    console.print(
        _agg_table(
            "by mode (means per run)",
            ["mode"],
            summary,
            [([m], stats) for m, stats in agg["by_mode"].items()],
        )
    )
    console.print(
        _agg_table(
            "by domain (means per run)",
            ["domain", "mode"],
            summary,
            [
                ([domain, mode], stats)
                for domain, per_mode in agg["by_domain"].items()
                for mode, stats in per_mode.items()
                if stats["tasks"]
            ],
        )
    )
    console.print(
        _agg_table(
            "by tag (means per run)",
            ["tag", "mode"],
            summary,
            [
                ([tag, mode], stats)
                for tag, per_mode in agg["by_tag"].items()
                for mode, stats in per_mode.items()
                if stats["tasks"]
            ],
        )
    )

    savings = agg["savings_by_mode"] or {"code": agg["savings"]}
    for mode, saved in savings.items():
        console.print(_savings_line(saved["total"], mode), markup=False, highlight=False)
    for note in _notes(summary):
        console.print(note, markup=False, highlight=False)
    if summary.oracle:
        console.print(f"[bold yellow]{ORACLE_NOTE}[/]", markup=True, highlight=False)


# -- charts ----------------------------------------------------------------------------------


def _grouped_bars(
    path: Path,
    title: str,
    ylabel: str,
    groups: list[str],
    series: dict[str, list[float]],
    *,
    percent: bool = False,
) -> None:
    """One bar per series within each group; written to `path` and closed.

    A NaN value draws no bar: a task not run in a mode must not look like a zero.
    """
    width = max(6.0, min(0.6 * len(groups) + 2.5, 24.0))
    fig, ax = plt.subplots(figsize=(width, 4.2))
    try:
        n = max(len(series), 1)
        bar = 0.8 / n
        for i, (name, values) in enumerate(series.items()):
            xs = [g + (i - (n - 1) / 2) * bar for g in range(len(groups))]
            ax.bar(xs, values, bar, label=name, color=_MODE_COLORS.get(name))
        _finish(ax, fig, path, title, ylabel, groups, bool(series), percent=percent)
    finally:
        plt.close(fig)


def _stacked_bars(
    path: Path, title: str, ylabel: str, groups: list[str], parts: dict[str, list[float]]
) -> None:
    """One bar per group, stacked from `parts` (in order); written to `path` and closed."""
    width = max(6.0, min(1.2 * len(groups) + 3.0, 24.0))
    fig, ax = plt.subplots(figsize=(width, 4.2))
    try:
        bottoms = [0.0] * len(groups)
        for name, values in parts.items():
            ax.bar(range(len(groups)), values, 0.6, bottom=bottoms, label=name, color=_PART_COLORS.get(name))
            bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
        _finish(ax, fig, path, title, ylabel, groups, bool(parts))
    finally:
        plt.close(fig)


def _finish(
    ax: Any,
    fig: Any,
    path: Path,
    title: str,
    ylabel: str,
    groups: list[str],
    legend: bool,
    *,
    percent: bool = False,
) -> None:
    rotate = len(groups) > 4 or any(len(g) > 14 for g in groups)
    ax.set_xticks(
        range(len(groups)), groups, rotation=30 if rotate else 0, ha="right" if rotate else "center"
    )
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if percent:
        ax.set_ylim(0, 105)
    if not groups:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    if legend and groups:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)


def _write_charts(summary: RunSummary, agg: dict[str, Any], outdir: Path) -> dict[str, Path]:
    modes = _modes(summary)
    paths = {name: outdir / filename for name, filename in CHART_FILES.items()}

    tags = list(agg["by_tag"])
    _grouped_bars(
        paths["pass_rate_by_tag"],
        "pass rate by tag",
        "pass rate (%)",
        tags,
        {
            m: [
                agg["by_tag"][t][m]["pass_rate"] * 100 if agg["by_tag"][t][m]["tasks"] else math.nan
                for t in tags
            ]
            for m in modes
        },
        percent=True,
    )

    means = _per_task_means(summary)
    task_ids = _task_ids(summary)
    for name, key, title in (
        ("requests_per_task", "requests", "model requests per task"),
        ("tokens_per_task", "tokens", "tokens per task (system + definitions + messages + responses)"),
    ):
        _grouped_bars(
            paths[name],
            title,
            key,
            task_ids,
            {m: [means[t][m][key] if m in means[t] else math.nan for t in task_ids] for m in modes},
        )
    _stacked_bars(
        paths["tokens_by_part"],
        "mean tokens per run, by part",
        "tokens",
        [str(m) for m in modes],
        {part: [agg["by_mode"][m][f"mean_{part}_tokens"] for m in modes] for part in TOKEN_PARTS},
    )
    return paths


# -- HTML ------------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; color: #222;
       margin: 2em auto; max-width: 1200px; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.fail td { background: #fdecec; }
.note { border: 2px solid #d9a400; background: #fff8db; padding: 0.6em 1em; font-weight: bold; }
.skipped { border: 2px solid #c0504d; background: #fdecec; padding: 0.6em 1em; }
.savings { font-size: 1.1em; } .meta { color: #555; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _html_table(header: list[str], rows: Iterable[tuple[list[str], str]], numeric_from: int) -> str:
    """A table of escaped cells; `rows` are (cells, css class); cells from `numeric_from` on align right."""
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for cells, css in rows:
        out.append(f'<tr class="{_e(css)}">' if css else "<tr>")
        for i, cell in enumerate(cells):
            out.append(f'<td class="num">{_e(cell)}</td>' if i >= numeric_from else f"<td>{_e(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _html_savings(mode: str, saved: dict[str, Any]) -> list[str]:
    total = saved["total"]
    prefix = "" if mode == "code" else f"{mode}-"
    parts = [f"<h3>{_e(mode)} mode against tools mode</h3>"]
    parts.append(f'<p class="savings">{_e(_savings_line(total, mode))}</p>')
    if not total["tasks"]:
        return parts
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
    parts.append(_html_table(header, rows, numeric_from=1))
    return parts


def render_html(summary: RunSummary, agg: dict[str, Any], charts: dict[str, bytes]) -> str:
    """The whole report as one page: CSS inline, charts as data: URIs, every text escaped."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
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
        f"results: {_e(len(summary.results))}</p>"
    )
    parts.append('<ul class="meta" id="notes">')
    parts += [f"<li>{_e(note)}</li>" for note in _notes(summary)]
    parts.append("</ul>")

    parts.append("<h2>Savings of the code modes</h2>")
    for mode, saved in (agg["savings_by_mode"] or {"code": agg["savings"]}).items():
        parts += _html_savings(mode, saved)

    agg_columns = _agg_columns(summary)
    parts.append(f'<p class="meta" id="legend">{_e(TOKEN_LEGEND)}</p>')
    parts.append("<h2>By mode (means per run)</h2>")
    parts.append(
        _html_table(
            ["mode", *agg_columns],
            [([mode, *_agg_row(summary, stats)], "") for mode, stats in agg["by_mode"].items()],
            numeric_from=1,
        )
    )
    for title, key, groups in (
        ("By domain (means per run)", "domain", agg["by_domain"]),
        ("By tag (means per run)", "tag", agg["by_tag"]),
    ):
        parts.append(f"<h2>{title}</h2>")
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

    parts.append("<h2>Charts</h2>")
    for name, png in charts.items():
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(f'<img alt="{_e(name.replace("_", " "))}" src="data:image/png;base64,{encoded}">')

    parts.append("<h2>Results</h2>")
    parts.append(
        _html_table(
            _result_columns(summary),
            [(_result_row(summary, r), "" if r.passed else "fail") for r in summary.results],
            numeric_from=4,
        )
    )
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
