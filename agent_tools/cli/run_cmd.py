"""`agent-tools run FILE|-`: run a code file in the sandbox and show what happened.

The code may call the functions named by `--tools` (by default the demo shop's,
`agent_tools.demo:FUNCTIONS`, so the command works offline on a fresh machine).
It prints the result, every host call (arguments, result or error, duration),
the code's printed output and the timings; `--json` prints the run record as one
JSON object instead. Exit status: 0 success, 1 the code failed, 2 bad usage.

A call that needs a person's approval (a function marked `requires_approval`, a
tool with `requires_approval=True`) pauses the run: in a terminal the command asks
`approve refund(order_id=7, amount=120.0)? [y/N]` and goes on (no: the call raises
PermissionError in the code); with no terminal to ask (stdin piped or the code read
from it), the run ends there, waiting, with exit status 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import typing
from collections.abc import Iterable, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pydantic_core
import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.pretty import Pretty
from rich.table import Table
from rich.text import Text

from agent_tools.base.errors import SandboxError, short_repr
from agent_tools.base.record import HostCall, RunRecord
from agent_tools.cli.status import EXIT_BAD_USAGE, EXIT_CODE_FAILED
from agent_tools.cli.tools import DEMO_TOOLS, McpOption, ToolsError, ToolsOption, load_tools, open_mcp
from agent_tools.task.template import orchestrator_from_str, resume
from agent_tools.task.template import run as run_template

__all__ = ["UsageError", "parse_inputs", "record_to_json", "run"]


class UsageError(ValueError):
    """The command line asks for something that cannot be done (exit status 2)."""


# ---------------------------------------------------------------------------
# Reading the command line


def _read_source(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    path = Path(file)
    if not path.exists():
        raise UsageError(f"{file}: no such file")
    if path.is_dir():
        raise UsageError(f"{file}: is a directory, expected a Python file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{file}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"{file}: cannot read: {exc.strerror or exc}") from None


def parse_inputs(items: list[str]) -> dict[str, Any]:
    """`name=value` pairs to a mapping; each value is parsed as JSON when it parses
    (`3`, `true`, `[1, 2]`, `"quoted"`), else kept as the string it is."""
    inputs: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep:
            raise UsageError(f"--input {item!r}: expected name=value, e.g. --input city=Paris")
        if not name.isidentifier():
            raise UsageError(f"--input {item!r}: {name!r} is not a valid Python name")
        if name in inputs:
            raise UsageError(f"--input {name}: given more than once")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        inputs[name] = value
    return inputs


def _load_functions(specs: list[str], mcp: list[str], stack: contextlib.ExitStack) -> list[Any]:
    # `--tools mymodule:FUNCS` should find modules in the current directory, as `python -m` does.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return load_tools(specs or ([] if mcp else [DEMO_TOOLS])) + open_mcp(mcp, stack)
    except ToolsError as exc:
        raise UsageError(str(exc)) from None
    except Exception as exc:  # the named module raised while importing
        raise UsageError(f"--tools: loading {', '.join(specs)} failed: {type(exc).__name__}: {exc}") from None


# ---------------------------------------------------------------------------
# The run record as JSON


def _call_json(call: HostCall) -> dict[str, Any]:
    error = None if call.error is None else f"{type(call.error).__name__}: {call.error}"
    return {
        "function": call.function,
        "args": list(call.args),
        "kwargs": call.kwargs,
        "result": call.result,
        "error": error,
        "duration": call.duration,
        "approval": call.approval,
    }


def record_to_json(record: RunRecord | None, error: SandboxError | None = None) -> dict[str, Any]:
    """The fields of `--json`: `error` (None on success), `result`, `calls`, `stdout`,
    `duration`, `host_time` and `attempts`."""
    record = record or RunRecord()
    return {
        "error": None
        if error is None
        else {"kind": error.kind, "message": error.message, "line": error.line, "text": str(error)},
        "result": record.result,
        "calls": [_call_json(c) for c in record.calls],
        "stdout": record.stdout,
        "duration": record.duration,
        "host_time": record.host_time,
        "attempts": record.attempts,
        "status": record.status,
        "pending": None
        if record.pending is None
        else {
            "call": record.pending.describe(),
            "function": record.pending.function,
            "arguments": record.pending.arguments,
            "line": record.pending.line,
        },
    }


def _print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(pydantic_core.to_json(data, indent=2, fallback=repr).decode() + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# The run record for people


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


@dataclass(frozen=True)
class View:
    """How much of a run the screen shows: `calls` host calls (None: all), and the
    result and printed output cut to fit the screen unless `full`."""

    calls: int | None = 20
    full: bool = False


_RESULT_ITEMS = 20
_RESULT_CHARS = 300
_OUTPUT_LINES = 20


def _calls_table(calls: list[HostCall], view: View) -> Table:
    shown = calls if view.calls is None or len(calls) <= view.calls else calls[: view.calls]
    title = f"Host calls ({len(calls)})"
    table = Table(title=title, title_justify="left", expand=True)
    table.add_column("#", justify="right", style="dim", no_wrap=True, min_width=len(str(len(shown))))
    overflow: typing.Literal["ellipsis", "fold"] = "fold" if view.full else "ellipsis"
    table.add_column("call", no_wrap=not view.full, overflow=overflow, ratio=1)
    table.add_column("result or error", no_wrap=not view.full, overflow=overflow, ratio=1)
    table.add_column("time", justify="right", no_wrap=True, min_width=8)
    for n, call in enumerate(shown, start=1):
        parts = [short_repr(a, 60) for a in call.args]
        parts += [f"{k}={short_repr(v, 60)}" for k, v in call.kwargs.items()]
        signature = Text(call.function, style="bold cyan") + Text(f"({', '.join(parts)})")
        if call.error is not None:
            outcome = Text(f"{type(call.error).__name__}: {call.error}", style="red")
        else:
            outcome = Text(short_repr(call.result, 160 if not view.full else 100_000))
        table.add_row(str(n), signature, outcome, _ms(call.duration))
    if len(shown) < len(calls):
        table.caption = f"… and {len(calls) - len(shown)} more calls (--calls all shows every one)"
        table.caption_justify = "left"
    return table


def _too_big(value: Any, depth: int = 0) -> bool:
    """Whether the compact view cuts `value` (a container past `_RESULT_ITEMS` items or a
    string past `_RESULT_CHARS` characters, at any depth)."""
    if isinstance(value, str):
        return len(value) > _RESULT_CHARS
    if depth > 6:
        return True
    if isinstance(value, dict):
        items = typing.cast(dict[Any, Any], value)
        return len(items) > _RESULT_ITEMS or any(
            _too_big(v, depth + 1) for v in list(items.values())[:_RESULT_ITEMS]
        )
    if isinstance(value, (list, tuple, set, frozenset)):
        seq = list(typing.cast(Iterable[Any], value))
        return len(seq) > _RESULT_ITEMS or any(_too_big(v, depth + 1) for v in seq[:_RESULT_ITEMS])
    return False


def _result_view(value: Any, view: View) -> Group:
    if view.full or not _too_big(value):
        return Group(Pretty(value, expand_all=False))
    pretty = Pretty(value, expand_all=False, max_length=_RESULT_ITEMS, max_string=_RESULT_CHARS, max_depth=6)
    note = Text(
        f"(cut to fit the screen: {_size_of(value)}; --full shows it all, --json gives it whole)", style="dim"
    )
    return Group(pretty, note)


def _size_of(value: Any) -> str:
    if isinstance(value, str):
        return f"{len(value):,} characters"
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return f"{len(typing.cast(Sized, value)):,} items at the top level"
    return type(value).__name__


def _output_view(stdout: str, view: View) -> Text:
    lines = stdout.rstrip("\n").split("\n")
    if view.full or len(lines) <= _OUTPUT_LINES:
        return Text("\n".join(lines))
    head, tail = lines[: _OUTPUT_LINES // 2], lines[-_OUTPUT_LINES // 2 :]
    cut = len(lines) - len(head) - len(tail)
    text = Text("\n".join(head) + "\n")
    text.append(f"… {cut:,} lines cut (--full shows them) …\n", style="dim")
    text.append("\n".join(tail))
    return text


def _print_record(console: Console, record: RunRecord, view: View = View()) -> None:
    console.print(Panel(_result_view(record.result, view), title="Result", title_align="left"))
    if record.calls:
        console.print(_calls_table(record.calls, view))
    else:
        console.print(Text("No host calls.", style="dim"))
    if record.stdout:
        console.print(Panel(_output_view(record.stdout, view), title="Printed output", title_align="left"))
    console.print(
        Text(
            f"total {_ms(record.duration)} · host {_ms(record.host_time)} · "
            f"{len(record.calls)} call{'s' * (len(record.calls) != 1)}",
            style="dim",
        )
    )
    if record.report_path is not None:
        console.print(Text(f"report: {record.report_path}", style="dim"))


def _print_failure(console: Console, error: SandboxError, view: View = View()) -> None:
    console.print(Text(str(error), style="red"), soft_wrap=True)
    record = error.record
    if record is None:
        return
    if record.calls:
        console.print(
            Group(
                Text("The host calls already made (they may have had side effects):", style="yellow"),
                _calls_table(record.calls, view),
            )
        )
    if record.stdout:
        console.print(Panel(_output_view(record.stdout, view), title="Printed output", title_align="left"))
    if record.report_path is not None:
        console.print(Text(f"report: {record.report_path}", style="dim"))


def _fail_usage(message: str) -> typer.Exit:
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        Text(f"agent-tools run: {message}", style="red")
    )
    return typer.Exit(EXIT_BAD_USAGE)


# ---------------------------------------------------------------------------
# The command


def run(
    file: Annotated[
        str,
        typer.Argument(metavar="FILE|-", help="The Python file to run, or - for stdin."),
    ],
    input_: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            "-i",
            metavar="NAME=VALUE",
            help="An input variable for the code (repeatable); VALUE is parsed as JSON when it "
            "parses, else taken as a string.",
        ),
    ] = None,
    tools: ToolsOption = None,
    mcp: McpOption = None,
    timeout_ms: Annotated[
        int, typer.Option("--timeout-ms", help="Sandbox time limit in milliseconds.")
    ] = 30_000,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the run record as JSON, and nothing else, on stdout.")
    ] = False,
    calls: Annotated[
        str,
        typer.Option(
            "--calls", metavar="N|all", help="How many host calls the table shows (default 20, or all)."
        ),
    ] = "20",
    full: Annotated[
        bool,
        typer.Option("--full", help="Show the whole result, printed output and every call, uncut."),
    ] = False,
    report: Annotated[
        bool, typer.Option("--report", help="Also write an HTML report of the run, and print its path.")
    ] = False,
) -> None:
    """Run a Python file (or stdin) in the Monty sandbox and show the result, the host
    calls it made, what it printed and how long it took.

    The screen shows a compact view (the result, the printed output and the calls cut
    to fit, with counts of what was cut); --full shows everything, --json prints the
    whole record as JSON.

    Examples:

        agent-tools run examples/top_customers.py

        echo 'get_customer(1)["name"]' | agent-tools run -

        agent-tools run report.py -i year=2025 --tools mytools:FUNCTIONS --calls all

        agent-tools run examples/top_customers.py --mcp "python -m agent_tools.demo.mcp_server"
    """
    try:
        view = View(calls=None if full or calls == "all" else _count(calls), full=full)
    except UsageError as exc:
        raise _fail_usage(str(exc)) from None
    try:
        with contextlib.ExitStack() as stack:
            _run(file, input_, tools, mcp, timeout_ms, json_output, stack, view, report)
    except BrokenPipeError:  # `agent-tools run x.py | head`: the reader left, nothing failed
        _quiet_stdout()
        raise typer.Exit(0) from None


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"--calls must be a number or 'all', got {text!r}") from None
    if n < 0:
        raise UsageError(f"--calls must be 0 or more, got {n}")
    return n


class Screen(Console):
    """The console of `agent-tools run`: output piped into a reader that leaves early
    (`| head`) ends the command quietly with status 0, not 1: nothing failed."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        _quiet_stdout()
        raise typer.Exit(0)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail again."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _run(
    file: str,
    input_: list[str] | None,
    tools: list[str] | None,
    mcp: list[str] | None,
    timeout_ms: int,
    json_output: bool,
    stack: contextlib.ExitStack,
    view: View = View(),
    report: bool = False,
) -> None:
    try:
        if timeout_ms <= 0:
            raise UsageError(f"--timeout-ms must be positive, got {timeout_ms}")
        source = _read_source(file)
        inputs = parse_inputs(input_ or [])
        functions = _load_functions(tools or [], mcp or [], stack)
        try:
            template = orchestrator_from_str(
                source,
                inputs=dict.fromkeys(inputs, Any),
                output=Any,
                tasks=functions,
                name="agent-tools-run",
                timeout_ms=timeout_ms,
                report=report,
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, SandboxError):
                raise
            raise UsageError(f"cannot register the functions: {exc}") from None
        record = run_template(template, **inputs)
        interactive = file != "-" and sys.stdin.isatty()
        while record.pending is not None and interactive:
            pending = record.pending
            answer = typer.prompt(
                f"approve {pending.describe()}? [y/N]", default="", show_default=False, err=True
            )
            approved = answer.strip().lower() in ("y", "yes")
            record = resume(
                pending.token,
                approve=approved,
                reason=None if approved else "the user did not approve it",
                template=template,
            )
    except UsageError as exc:
        raise _fail_usage(str(exc)) from None
    except SandboxError as error:
        if json_output:
            _print_json(record_to_json(error.record, error))
        else:
            _print_failure(Console(stderr=True, highlight=False), error, view)
        raise typer.Exit(EXIT_CODE_FAILED) from None
    if record.pending is not None:  # nobody to ask: the run ends waiting
        if json_output:
            _print_json(record_to_json(record))
        else:
            _print_record(Screen(highlight=False), record, view)
            Console(stderr=True, highlight=False, soft_wrap=True).print(
                Text(
                    f"agent-tools run: the code is waiting for a person's approval of "
                    f"{record.pending.describe()} (line {record.pending.line}), and there is no "
                    "terminal to ask: run the file in a terminal to answer",
                    style="red",
                )
            )
        raise typer.Exit(EXIT_CODE_FAILED)
    if json_output:
        _print_json(record_to_json(record))
    else:
        _print_record(Screen(highlight=False), record, view)
