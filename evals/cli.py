"""`python -m evals run`: the eval harness's command line."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .harness import RunOptions, oracle_factory, run_eval, supported_modes
from .models import make_model
from .report import print_table, write_reports
from .results import MODES, Mode
from .schema import Task, load_datasets

_MODE_SETS: dict[str, list[Mode]] = {"both": ["code", "tools"], "all": list(MODES)}
_MODE_HELP = "code, tools, code-search, both (code and tools) or all (the three), or a comma-separated list"

app = typer.Typer(
    add_completion=False, help="How well a model does with run_code, against plain tool calling."
)


@app.callback()
def main() -> None:
    """Eval harness for agent-tools."""


def parse_modes(text: str) -> list[Mode]:
    """The modes `--mode` names, in order, each once."""
    modes: list[Mode] = []
    for word in (w.strip() for w in text.split(",")):
        named: list[Mode] = _MODE_SETS.get(word) or [m for m in MODES if m == word]
        if not named:
            raise typer.BadParameter(f"--mode must be {_MODE_HELP}; got {text!r}")
        modes.extend(m for m in named if m not in modes)
    return modes


def _select(tasks: list[Task], datasets: list[str], tags: list[str], ids: list[str]) -> list[Task]:
    chosen = [
        t
        for t in tasks
        if (not datasets or t.domain in datasets)
        and (not tags or set(tags) & set(t.tags))
        and (not ids or t.id in ids)
    ]
    if not chosen:
        raise typer.BadParameter("no task matches the --dataset/--tag/--task filters")
    return chosen


@app.command()
def run(
    model: Annotated[str, typer.Option(help="a pydantic-ai model name, or 'oracle' (offline)")] = "oracle",
    base_url: Annotated[str | None, typer.Option(help="an OpenAI-compatible server for the model")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="the environment variable holding the API key")
    ] = None,
    mode: Annotated[str, typer.Option(help=_MODE_HELP)] = "both",
    dataset: Annotated[list[str], typer.Option(help="only these domains (repeatable)")] = [],  # noqa: B006
    tag: Annotated[list[str], typer.Option(help="only tasks with one of these tags")] = [],  # noqa: B006
    task: Annotated[list[str], typer.Option(help="only these task ids")] = [],  # noqa: B006
    repeat: Annotated[int, typer.Option(min=1, help="runs per task and mode, for pass@k")] = 1,
    concurrency: Annotated[int, typer.Option(min=1, help="runs at once")] = 4,
    record: Annotated[Path | None, typer.Option(help="save every model request and response here")] = None,
    replay: Annotated[Path | None, typer.Option(help="play recorded responses back, with no network")] = None,
    out: Annotated[Path | None, typer.Option(help="output directory (default evals/runs/<time>)")] = None,
    strict: Annotated[bool, typer.Option(help="exit 1 if any run failed")] = False,
) -> None:
    """Run the tasks in tools mode and the code modes and write the reports."""
    modes = parse_modes(mode)
    if record is not None and replay is not None:
        raise typer.BadParameter("--record and --replay cannot be used together")
    tasks = _select(load_datasets(), dataset, tag, task)
    oracle = model == "oracle" and replay is None
    if model == "oracle" or replay is not None:
        factory = oracle_factory  # with --replay the recorded responses answer, not a model
    else:
        real = make_model(model, base_url=base_url, api_key_env=api_key_env)

        def factory(task: Task, mode: Mode) -> object:
            return real

    # The tables are wide: written to a file or a pipe (a CI log), they get room rather than 80 columns.
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    console = Console(width=200 if piped else None)
    outdir = out or Path("evals") / "runs" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    runnable, _, skipped = supported_modes(modes)
    for skipped_mode, why in skipped.items():
        console.print(f"[bold red]{skipped_mode} mode {why}[/]", markup=True, highlight=False)
    total = len(tasks) * len(runnable) * repeat
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[green]{task.fields[passed]} passed [red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        bar = progress.add_task("eval", total=total, passed=0, failed=0)
        counts = {"passed": 0, "failed": 0}

        def on_done(passed: bool) -> None:
            counts["passed" if passed else "failed"] += 1
            progress.update(bar, advance=1, passed=counts["passed"], failed=counts["failed"])

        options = RunOptions(
            modes=modes,
            repeat=repeat,
            concurrency=concurrency,
            record=record,
            replay=replay,
            progress=on_done,
        )
        summary = asyncio.run(
            run_eval(tasks, factory, options, model_name=model, oracle=oracle)  # type: ignore[arg-type]
        )
    print_table(summary, console)
    paths = write_reports(summary, outdir)
    for name, path in paths.items():
        console.print(f"{name}: {path}")
    if strict and not all(r.passed for r in summary.results):
        raise typer.Exit(1)
