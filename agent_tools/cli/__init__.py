"""`agent-tools`: the command line (`run` for code files, `chat` for the demo).

Exit statuses: 0 success, 1 the code failed (a `SandboxError`), 2 bad usage
(unknown options, a missing file, tools that cannot be loaded, no credentials).
"""

from __future__ import annotations

import typing

import typer

from agent_tools.cli import chat, mcp_cmd, run_cmd
from agent_tools.cli.status import EXIT_BAD_USAGE, EXIT_CODE_FAILED

__all__ = ["EXIT_BAD_USAGE", "EXIT_CODE_FAILED", "app", "main"]


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="markdown",  # a docstring's lines join into paragraphs, as Markdown does
    help="Run model-written Python in the Monty sandbox.",
    epilog="Examples: `agent-tools run examples/top_customers.py` · `agent-tools chat` · "
    "`agent-tools mcp serve`. Each command's --help has more.",
)


def _version(value: bool) -> None:
    if value:
        from agent_tools import __version__

        typer.echo(f"agent-tools {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: typing.Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Run model-written Python in the Monty sandbox."""


app.command(
    "run", short_help="Run a Python file (or stdin) in the sandbox; show the result, calls and output."
)(run_cmd.run)
app.command("chat", short_help="Chat in the terminal with an agent whose only tool is run_code.")(chat.chat)
app.add_typer(mcp_cmd.app, name="mcp")


def main() -> None:
    app()
