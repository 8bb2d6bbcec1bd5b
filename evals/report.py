"""What an eval run found, for a terminal and as files: a table, aggregates, charts, one HTML page.

The question the evals answer is whether code mode (one `run_code` tool) does as well
as plain tool calling with fewer model round trips and tokens. So beside pass rates by
mode and by tag, the report puts the savings first: for every task run in both modes,
how many model requests and tokens code mode saved (tools minus code; positive means
code mode used fewer).

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
from rich.console import Console
from rich.table import Table

from .results import Mode, RunSummary, TaskResult

__all__ = ["CHART_FILES", "ORACLE_NOTE", "aggregate", "print_table", "render_html", "write_reports"]

ORACLE_NOTE = "model: oracle (offline) — this run tests the harness, not a model"

CHART_FILES = {
    "pass_rate_by_tag": "pass_rate_by_tag.png",
    "requests_per_task": "requests_per_task.png",
    "tokens_per_task": "tokens_per_task.png",
}
"""The charts `write_reports` draws, by name, and their file names in the output directory."""

_MODE_COLORS = {"code": "#2f6fb3", "tools": "#e0892b"}


# -- aggregates ------------------------------------------------------------------------------


def _tokens(r: TaskResult) -> int:
    return r.input_tokens + r.output_tokens


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

    return {
        "tasks": n,
        "passed": passed,
        "pass_rate": passed / n if n else 0.0,
        "mean_requests": mean(r.model_requests for r in results),
        "total_requests": sum(r.model_requests for r in results),
        "mean_tokens": mean(_tokens(r) for r in results),
        "total_tokens": sum(_tokens(r) for r in results),
        "mean_input_tokens": mean(r.input_tokens for r in results),
        "mean_output_tokens": mean(r.output_tokens for r in results),
        "mean_host_calls": mean(r.host_calls for r in results),
        "total_host_calls": sum(r.host_calls for r in results),
        "total_run_code_retries": sum(r.run_code_retries for r in results),
        "mean_wall_seconds": mean(r.wall_seconds for r in results),
    }


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
    """The run in numbers: by mode, by tag (then mode), and code mode's savings.

    Shape:
    - `by_mode[mode]` and `by_tag[tag][mode]`: tasks (results counted), passed, pass_rate,
      mean_/total_requests, mean_/total_tokens (input + output), mean_/total_host_calls, ...
    - `savings`: over the tasks run in both modes, `per_task[task_id]` with each mode's mean
      requests and tokens and `requests_saved` / `tokens_saved` (tools minus code), and
      `total` with their sums, the tools-mode totals they are out of, and `tasks`.
    """
    modes = _modes(summary)
    by_mode = {m: _stats([r for r in summary.results if r.mode == m]) for m in modes}
    for m in modes:
        by_mode[m]["pass_at_k"] = _pass_at_k([r for r in summary.results if r.mode == m])

    tags = sorted({t for r in summary.results for t in r.tags})
    by_tag = {
        tag: {m: _stats([r for r in summary.results if r.mode == m and tag in r.tags]) for m in modes}
        for tag in tags
    }

    per_task: dict[str, dict[str, Any]] = {}
    for task_id, means in _per_task_means(summary).items():
        if "code" not in means or "tools" not in means:
            continue
        code, tools = means["code"], means["tools"]
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
    return {"by_mode": by_mode, "by_tag": by_tag, "savings": {"per_task": per_task, "total": total}}


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


def _share(saved: float, out_of: float) -> str:
    return f" ({saved / out_of * 100:.0f}% of tools mode)" if out_of else ""


def _result_text(r: TaskResult) -> str:
    return "PASS" if r.passed else f"FAIL: {r.reason}"


_RESULT_COLUMNS = [
    "task",
    "mode",
    "repeat",
    "result",
    "requests",
    "in tok",
    "out tok",
    "host calls",
    "retries",
    "sandbox s",
    "wall s",
]


def _result_row(r: TaskResult) -> list[str]:
    return [
        r.task_id,
        r.mode,
        str(r.repeat),
        _result_text(r),
        _num(r.model_requests),
        _num(r.input_tokens),
        _num(r.output_tokens),
        _num(r.host_calls),
        _num(r.run_code_retries),
        f"{r.sandbox_seconds:.2f}",
        f"{r.wall_seconds:.2f}",
    ]


_AGG_COLUMNS = ["tasks", "passed", "pass rate", "mean requests", "mean tokens", "mean host calls"]


def _agg_row(stats: dict[str, Any]) -> list[str]:
    return [
        _num(stats["tasks"]),
        _num(stats["passed"]),
        _pct(stats["pass_rate"]),
        _num(stats["mean_requests"]),
        _num(stats["mean_tokens"]),
        _num(stats["mean_host_calls"]),
    ]


def _savings_line(total: dict[str, Any]) -> str:
    if not total["tasks"]:
        return "savings: no task was run in both modes"
    return (
        f"code mode saved {_num(total['requests_saved'])} model requests"
        f"{_share(total['requests_saved'], total['tools_requests'])} and "
        f"{_num(total['tokens_saved'])} tokens{_share(total['tokens_saved'], total['tools_tokens'])} "
        f"over {total['tasks']} tasks run in both modes"
    )


# -- terminal --------------------------------------------------------------------------------


def print_table(summary: RunSummary, console: Console | None = None) -> None:
    """Print every result, the aggregates by mode and by tag, and the savings to `console`."""
    console = console or Console()
    agg = aggregate(summary)
    if summary.oracle:
        console.print(f"[bold yellow]{ORACLE_NOTE}[/]", markup=True, highlight=False)
    else:
        console.print(f"model: {summary.model}", markup=False, highlight=False)

    show_repeat = summary.repeat > 1 or any(r.repeat for r in summary.results)
    results = Table(title="results", title_justify="left")
    for name in _RESULT_COLUMNS:
        if name == "repeat" and not show_repeat:
            continue
        numeric = name not in {"task", "mode", "result"}
        results.add_column(
            name,
            justify="right" if numeric else "left",
            no_wrap=name != "result",
            overflow="fold",
            max_width=48 if name == "result" else None,
        )
    for r in summary.results:
        row = _result_row(r)
        if not show_repeat:
            del row[2]
        style = None if r.passed else "red"
        results.add_row(*row, style=style)
    console.print(results)

    by_mode = Table(title="by mode", title_justify="left")
    for name in ["mode", *_AGG_COLUMNS]:
        by_mode.add_column(name, justify="left" if name == "mode" else "right", no_wrap=True)
    for mode, stats in agg["by_mode"].items():
        by_mode.add_row(mode, *_agg_row(stats))
    console.print(by_mode)

    by_tag = Table(title="by tag", title_justify="left")
    for name in ["tag", "mode", *_AGG_COLUMNS]:
        by_tag.add_column(name, justify="left" if name in {"tag", "mode"} else "right", no_wrap=True)
    for tag, per_mode in agg["by_tag"].items():
        for mode, stats in per_mode.items():
            if stats["tasks"]:
                by_tag.add_row(tag, mode, *_agg_row(stats))
    console.print(by_tag)

    console.print(_savings_line(agg["savings"]["total"]), markup=False, highlight=False)
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
        if series and groups:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=100)
    finally:
        plt.close(fig)


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
        ("tokens_per_task", "tokens", "tokens per task (input + output)"),
    ):
        _grouped_bars(
            paths[name],
            title,
            key,
            task_ids,
            {m: [means[t][m][key] if m in means[t] else math.nan for t in task_ids] for m in modes},
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


def render_html(summary: RunSummary, agg: dict[str, Any], charts: dict[str, bytes]) -> str:
    """The whole report as one page: CSS inline, charts as data: URIs, every text escaped."""
    total = agg["savings"]["total"]
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
    parts.append(
        '<p class="meta">'
        f"modes: {_e(', '.join(summary.modes))} · repeat: {_e(summary.repeat)} · "
        f"started: {_e(summary.started_at or '-')} · wall: {_e(f'{summary.wall_seconds:.1f}')} s · "
        f"results: {_e(len(summary.results))}</p>"
    )

    parts.append("<h2>Savings of code mode</h2>")
    parts.append(f'<p class="savings">{_e(_savings_line(total))}</p>')
    if total["tasks"]:
        parts.append(
            "<p>Model requests saved in total: "
            f'<strong id="requests-saved">{_e(_num(total["requests_saved"]))}'
            f"</strong> (tools mode {_e(_num(total['tools_requests']))}, code mode "
            f"{_e(_num(total['code_requests']))}); tokens saved in total: "
            f'<strong id="tokens-saved">{_e(_num(total["tokens_saved"]))}</strong>.</p>'
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
            for task_id, s in agg["savings"]["per_task"].items()
        ]
        header = [
            "task",
            "tools requests",
            "code requests",
            "requests saved",
            "tools tokens",
            "code tokens",
            "tokens saved",
            "tools pass",
            "code pass",
        ]
        parts.append(_html_table(header, rows, numeric_from=1))

    parts.append("<h2>By mode</h2>")
    parts.append(
        _html_table(
            ["mode", *_AGG_COLUMNS],
            [([mode, *_agg_row(stats)], "") for mode, stats in agg["by_mode"].items()],
            numeric_from=1,
        )
    )
    parts.append("<h2>By tag</h2>")
    parts.append(
        _html_table(
            ["tag", "mode", *_AGG_COLUMNS],
            [
                ([tag, mode, *_agg_row(stats)], "")
                for tag, per_mode in agg["by_tag"].items()
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
            _RESULT_COLUMNS,
            [(_result_row(r), "" if r.passed else "fail") for r in summary.results],
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
    _write_text(paths["results"], json.dumps({**summary.to_dict(), "aggregates": agg}, indent=2) + "\n")

    charts = _write_charts(summary, agg, outdir)
    paths.update(charts)

    paths["html"] = outdir / "report.html"
    _write_text(paths["html"], render_html(summary, agg, {n: p.read_bytes() for n, p in charts.items()}))
    return paths
