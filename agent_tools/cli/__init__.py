"""`agent-tools`: the command line (`run` for code files, `chat` for the demo).

Exit statuses: 0 success, 1 the code failed (a `SandboxError`), 2 bad usage
(unknown options, a missing file, tools that cannot be loaded, no credentials).
"""

from __future__ import annotations

import typer

from agent_tools.cli import chat, mcp_cmd, run_cmd
from agent_tools.cli.status import EXIT_BAD_USAGE, EXIT_CODE_FAILED

__all__ = ["EXIT_BAD_USAGE", "EXIT_CODE_FAILED", "app", "main"]


app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Run model-written Python in the Monty sandbox."
)
app.command("run")(run_cmd.run)
app.command("chat")(chat.chat)
app.add_typer(mcp_cmd.app, name="mcp")


def main() -> None:
    app()
