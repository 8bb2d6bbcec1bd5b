"""Loading the functions a command registers: `module:attr` names a list of
callables, a mapping of name to callable, a single callable, or a `CodeToolset`;
`--mcp SERVER` names an MCP server whose tools become functions."""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import os
import sys
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

import typer

__all__ = ["DEMO_TOOLS", "McpOption", "ToolsError", "ToolsOption", "load_tools", "open_mcp"]

DEMO_TOOLS = "agent_tools.demo:FUNCTIONS"
"""What every command registers when neither --tools nor --mcp says otherwise."""

ToolsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tools",
        "-t",
        metavar="MODULE:ATTR",
        help="Functions the code may call: a list, mapping (its keys name the functions) or "
        f"CodeToolset (repeatable); found in the current folder too. Default: the demo shop, {DEMO_TOOLS}.",
    ),
]
"""`--tools`, the same in every command."""

McpOption = Annotated[
    list[str] | None,
    typer.Option(
        "--mcp",
        metavar="SERVER",
        help="An MCP server whose tools the code may call (repeatable): a command (stdio) or an "
        "http(s):// URL. With --mcp, the demo functions are registered only if --tools names them.",
    ),
]
"""`--mcp`, the same in every command."""


class ToolsError(ValueError):
    """`--tools` names something that cannot be loaded (bad usage)."""


def _load_one(spec: str) -> list[Callable[..., Any]]:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ToolsError(f"--tools {spec!r}: expected module:attribute, e.g. myapp.tools:FUNCTIONS")
    cwd = os.getcwd()  # `--tools mytools:FUNCS` finds mytools.py here, as `python -m` would
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
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
        # The keys name the functions, as everywhere else (the core, CodeTool, CodeToolset).
        mapping = typing.cast(Mapping[Any, Any], value)
        bad_items = [k for k, v in mapping.items() if not callable(v)]
        if bad_items:
            raise ToolsError(
                f"--tools {spec!r}: not callable: {mapping[bad_items[0]]!r} (key {bad_items[0]!r})"
            )
        return [_named(str(k), v) for k, v in mapping.items()]
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


def _named(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func`, registered as `name`: itself when that is its name, else a thin wrapper
    with its signature, docstring and marks (approval and the like) under `name`."""
    if getattr(func, "__name__", None) == name:
        return func
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def renamed_async(*args: Any, **kwargs: Any) -> Any:
            return await func(*args, **kwargs)

        wrapper: Callable[..., Any] = renamed_async
    else:

        @functools.wraps(func)
        def renamed(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        wrapper = renamed
    wrapper.__name__ = wrapper.__qualname__ = name
    return wrapper


def load_tools(specs: Iterable[str]) -> list[Callable[..., Any]]:
    """Every function named by `specs`, in order."""
    out: list[Callable[..., Any]] = []
    for spec in specs:
        out += _load_one(spec)
    return out


def open_mcp(servers: Iterable[str], stack: contextlib.ExitStack) -> list[Callable[..., Any]]:
    """The tools of each MCP server (a command or an http(s):// URL) as functions; the
    connections close with `stack`. A server command runs with this process's
    environment, as a command typed in a shell would."""
    from agent_tools.adapters.mcp import MCPConnectionError, connect

    out: list[Callable[..., Any]] = []
    for server in servers:
        try:
            is_url = server.strip().lower().startswith(("http://", "https://"))
            connection = connect(server, env=None if is_url else dict(os.environ))
            out += stack.enter_context(connection)
        except (ImportError, MCPConnectionError, ValueError) as exc:
            raise ToolsError(f"--mcp {server!r}: {exc}") from None
    return out
