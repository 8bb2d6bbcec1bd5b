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
from agent_tools.cli.tools import ToolsError, load_tools, open_mcp
from agent_tools.task.template import orchestrator_from_str, resume
from agent_tools.task.template import run as run_template

__all__ = ["UsageError", "parse_inputs", "record_to_json", "run"]

DEMO_TOOLS = "agent_tools.demo:FUNCTIONS"


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


def _calls_table(calls: list[HostCall]) -> Table:
    table = Table(title=f"Host calls ({len(calls)})", title_justify="left", expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("call", overflow="fold")
    table.add_column("result or error", overflow="fold")
    table.add_column("time", justify="right", no_wrap=True)
    for n, call in enumerate(calls, start=1):
        parts = [short_repr(a, 60) for a in call.args]
        parts += [f"{k}={short_repr(v, 60)}" for k, v in call.kwargs.items()]
        signature = Text(call.function, style="bold cyan") + Text(f"({', '.join(parts)})")
        if call.error is not None:
            outcome = Text(f"{type(call.error).__name__}: {call.error}", style="red")
        else:
            outcome = Text(short_repr(call.result, 160))
        table.add_row(str(n), signature, outcome, _ms(call.duration))
    return table


def _print_record(console: Console, record: RunRecord) -> None:
    console.print(Panel(Pretty(record.result, expand_all=False), title="Result", title_align="left"))
    if record.calls:
        console.print(_calls_table(record.calls))
    else:
        console.print(Text("No host calls.", style="dim"))
    if record.stdout:
        console.print(Panel(Text(record.stdout.rstrip("\n")), title="Printed output", title_align="left"))
    console.print(
        Text(
            f"total {_ms(record.duration)} · host {_ms(record.host_time)} · "
            f"{len(record.calls)} call{'s' * (len(record.calls) != 1)}",
            style="dim",
        )
    )


def _print_failure(console: Console, error: SandboxError) -> None:
    console.print(Text(str(error), style="red"), soft_wrap=True)
    record = error.record
    if record is None:
        return
    if record.calls:
        console.print(
            Group(
                Text("The host calls already made (they may have had side effects):", style="yellow"),
                _calls_table(record.calls),
            )
        )
    if record.stdout:
        console.print(Panel(Text(record.stdout.rstrip("\n")), title="Printed output", title_align="left"))


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
    tools: Annotated[
        list[str] | None,
        typer.Option(
            "--tools",
            "-t",
            metavar="MODULE:ATTR",
            help="Functions the code may call: a list, mapping or CodeToolset (repeatable). "
            f"Default: the demo shop, {DEMO_TOOLS}.",
        ),
    ] = None,
    mcp: Annotated[
        list[str] | None,
        typer.Option(
            "--mcp",
            metavar="SERVER",
            help="An MCP server whose tools the code may call (repeatable): a command "
            "(stdio) or an http(s):// URL. With --mcp, the demo functions are registered "
            "only if --tools names them.",
        ),
    ] = None,
    timeout_ms: Annotated[
        int, typer.Option("--timeout-ms", help="Sandbox time limit in milliseconds.")
    ] = 30_000,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the run record as JSON, and nothing else, on stdout.")
    ] = False,
) -> None:
    """Run a Python file (or stdin) in the Monty sandbox and show the result, the host
    calls it made, what it printed and how long it took."""
    with contextlib.ExitStack() as stack:
        _run(file, input_, tools, mcp, timeout_ms, json_output, stack)


def _run(
    file: str,
    input_: list[str] | None,
    tools: list[str] | None,
    mcp: list[str] | None,
    timeout_ms: int,
    json_output: bool,
    stack: contextlib.ExitStack,
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
            _print_failure(Console(stderr=True, highlight=False), error)
        raise typer.Exit(EXIT_CODE_FAILED) from None
    if record.pending is not None:  # nobody to ask: the run ends waiting
        if json_output:
            _print_json(record_to_json(record))
        else:
            _print_record(Console(highlight=False), record)
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
        _print_record(Console(highlight=False), record)
