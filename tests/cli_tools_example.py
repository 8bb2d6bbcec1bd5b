"""A small set of functions for `agent-tools run --tools tests.cli_tools_example:FUNCS`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def greet(name: str) -> str:
    """A greeting for `name`."""
    return f"Hello, {name}!"


def multiply(a: float, b: float) -> float:
    """The product of `a` and `b`."""
    return a * b


def explode(reason: str) -> None:
    """Always raises RuntimeError with `reason`."""
    raise RuntimeError(reason)


FUNCS: list[Callable[..., Any]] = [greet, multiply, explode]
NOT_CALLABLE = [greet, 42]


def delete_everything(marker: str) -> str:
    """Deletes everything (writes `marker` to a file, so a test can see it ran)."""
    from pathlib import Path

    Path(marker).write_text("ran")
    return "deleted"


def gated_toolset() -> Any:
    """A CodeToolset where `delete_everything` needs a person's approval."""
    from pydantic_ai import Tool

    import agent_tools as at

    return at.CodeToolset([greet, Tool(delete_everything, requires_approval=True)])


GATED = gated_toolset()


def nap(seconds: float) -> str:
    """Sleep a while (for a test to see the chat's spinner)."""
    import time

    time.sleep(seconds)
    return "rested"


NAPPING = [nap]
