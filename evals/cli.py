"""`python -m evals run`: the eval harness's command line."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .cassette import unplayable_cassettes
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


PIPED_WIDTH = 200
"""The width of the tables written to a pipe or a file with no terminal to measure (a CI log)."""


def output_width() -> int | None:
    """The width to lay the tables out for: `COLUMNS` when set; the terminal's when stdout is one
    (None: rich measures it); through a pipe (`| cat`, `| tee`), the terminal's the user is
    looking at (stderr's or stdin's); with no terminal at all (a CI log, a file), `PIPED_WIDTH`.
    The tables fit whatever the width (report.py), so it only decides how much each line holds."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return None
    for stream in (sys.stderr, sys.stdin):
        try:
            if stream is not None and stream.isatty():
                return os.get_terminal_size(stream.fileno()).columns
        except (OSError, ValueError):
            continue
    return PIPED_WIDTH


_SHOWN = 5
"""How many missing cassettes an error names before it only counts the rest."""


def _fail(message: str) -> NoReturn:
    """Stop before any run: `message` on stderr, exit status 2 (a usage error, as typer's)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _check_replay(directory: Path, runs: list[tuple[str, str, int]]) -> None:
    """Stop before any run when a cassette the replay needs is missing or unreadable."""
    if not directory.is_dir():
        _fail(f"--replay {directory}: no such directory (record one first with --record {directory})")
    missing, invalid = unplayable_cassettes(directory, runs)
    if missing:
        shown = "\n".join(f"  {path}" for path in missing[:_SHOWN])
        more = f"\n  ... and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
        _fail(
            f"--replay {directory}: {len(missing)} of the {len(runs)} cassettes this run needs "
            f"{'is' if len(missing) == 1 else 'are'} missing:\n{shown}{more}\n"
            f"Record them first (--record {directory} with a real model), or narrow the run "
            "(--task, --dataset, --tag, --mode, --repeat) to what was recorded."
        )
    if invalid:
        shown = "\n".join(f"  {why}" for _, why in invalid[:_SHOWN])
        more = f"\n  ... and {len(invalid) - _SHOWN} more" if len(invalid) > _SHOWN else ""
        _fail(f"--replay {directory}: {len(invalid)} cassettes cannot be read:\n{shown}{more}")


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

    runnable, _, skipped = supported_modes(modes)
    if replay is not None:
        _check_replay(replay, [(t.id, m, r) for t in tasks for m in runnable for r in range(1, repeat + 1)])
    console = Console(width=output_width())
    outdir = out or Path("evals") / "runs" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
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
