"""The exit statuses of every `agent-tools` command, in one place."""

from __future__ import annotations

__all__ = ["EXIT_BAD_USAGE", "EXIT_CODE_FAILED"]

EXIT_CODE_FAILED = 1
"""The code ran and failed (a `SandboxError`)."""
EXIT_BAD_USAGE = 2
"""The command could not start: bad options, a missing file, tools that do not load, no credentials."""
