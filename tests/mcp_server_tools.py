"""Functions for tests/test_mcp_server.py, served by `agent-tools mcp serve --tools
tests.mcp_server_tools:FUNCTIONS` in a subprocess.

Each function appends what really ran to a journal file (one JSON line per call,
at `MCP_SERVER_JOURNAL`), so that the test, in another process, can tell what ran
and what never did."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import agent_tools as at


def _journal_path() -> Path:
    return Path(os.environ["MCP_SERVER_JOURNAL"])


def _log(entry: list[Any]) -> None:
    with _journal_path().open("a") as f:
        f.write(json.dumps(entry) + "\n")


def journal(path: Path) -> list[list[Any]]:
    """The calls that ran, in order (for the test)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def tick(i: int) -> int:
    """Wait a tenth of a second, then return i."""
    time.sleep(0.1)
    _log(["tick", i])
    return i


@at.requires_approval
def refund(order_id: int, amount: float) -> str:
    """Refund an order (a person must approve each call)."""
    _log(["refund", order_id, amount])
    return f"refunded {order_id}: {amount}"


def broken() -> str:
    """A backend that is down: a failure the model cannot fix."""
    _log(["broken"])
    raise at.FatalToolError("the billing backend is down")


FUNCTIONS = [tick, refund, broken]
