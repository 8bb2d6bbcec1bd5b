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
