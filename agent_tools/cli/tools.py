"""Loading the functions a command registers: `module:attr` names a list of
callables, a mapping of name to callable, a single callable, or a `CodeToolset`."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["ToolsError", "load_tools"]


class ToolsError(ValueError):
    """`--tools` names something that cannot be loaded (bad usage)."""


def _load_one(spec: str) -> list[Callable[..., Any]]:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ToolsError(f"--tools {spec!r}: expected module:attribute, e.g. myapp.tools:FUNCTIONS")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ToolsError(f"--tools {spec!r}: cannot import {module_name}: {exc}") from exc
    try:
        value: Any = getattr(module, attr)
    except AttributeError:
        raise ToolsError(f"--tools {spec!r}: {module_name} has no attribute {attr!r}") from None
    runner = getattr(value, "runner", None)  # a CodeToolset: its functions as its run_code sees them,
    if runner is not None and hasattr(runner, "callables"):  # approval guards and all
        return list(runner.callables.values())
    if isinstance(value, Mapping):
        return list(value.values())  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    if callable(value):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        items: list[Any] = list(value)  # pyright: ignore[reportUnknownArgumentType]
        bad = [i for i in items if not callable(i)]
        if bad:
            raise ToolsError(f"--tools {spec!r}: not callable: {bad[0]!r}")
        return items
    raise ToolsError(
        f"--tools {spec!r}: expected a list of callables or a CodeToolset, got {type(value).__name__}"
    )


def load_tools(specs: Iterable[str]) -> list[Callable[..., Any]]:
    """Every function named by `specs`, in order."""
    out: list[Callable[..., Any]] = []
    for spec in specs:
        out += _load_one(spec)
    return out
