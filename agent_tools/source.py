"""Preparing a code string for Monty.

Models trained on other code-mode tools write `await get_weather(city)` and
`await asyncio.gather(f(a), f(b))`. Registered functions are plain calls in the
sandbox (see `bridge`), so awaiting one fails in Monty ("'int' object can't be
awaited"). `prepare_source` makes both styles work by blanking the `await`
keyword (five characters) in front of a direct call to a registered function, and by renaming
`asyncio.gather` over such calls to a host builtin that returns its already
computed arguments as a list. Both edits replace characters one for one, so
line and column numbers in errors still point into the code the model wrote.
"""

from __future__ import annotations

import ast
import textwrap
import typing
from collections.abc import Collection

__all__ = ["GATHER_BUILTIN", "dedent_source", "prepare_source"]

GATHER_BUILTIN = "_gather_values"
_GATHER = "asyncio.gather"
assert len(GATHER_BUILTIN) == len(_GATHER)  # the rename must keep columns


def dedent_source(source: str) -> str:
    """Dedent and strip, as Flyte does with the code of a `CodeTaskTemplate`."""
    if not isinstance(source, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"source must be a str, got {type(source).__name__}")
    return textwrap.dedent(source).strip()


def _is_registered_call(node: ast.expr, names: Collection[str]) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names


def _is_gather_of_registered(call: ast.Call, names: Collection[str]) -> bool:
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "gather"):
        return False
    if not (isinstance(func.value, ast.Name) and func.value.id == "asyncio") or call.keywords:
        return False
    for arg in call.args:
        if isinstance(arg, ast.Starred) and isinstance(arg.value, (ast.ListComp, ast.GeneratorExp)):
            if not _is_registered_call(arg.value.elt, names):
                return False
        elif not _is_registered_call(arg, names):
            return False
    return bool(call.args)


def prepare_source(source: str, registered: Collection[str]) -> str:
    """The code Monty runs for `source` (already dedented): `await` on registered
    calls removed, `asyncio.gather` over registered calls made a plain call."""
    if "await" not in source or not registered:
        return source
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return source  # Monty reports the problem with its own position and limits
    lines = source.splitlines(keepends=True)
    statement_starts = {(n.lineno, n.col_offset) for n in ast.walk(tree) if isinstance(n, ast.stmt)}
    edits: list[tuple[int, int, str]] = []  # (line index, start byte, replacement of equal length)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Await):
            continue
        value = node.value
        is_gather = isinstance(value, ast.Call) and _is_gather_of_registered(value, registered)
        if not (is_gather or _is_registered_call(value, registered)):
            continue
        # Blank the keyword. At the start of a statement a blank would become
        # indentation, so write `0 or ` there instead: `0 or E` is E for any E,
        # and `or` binds looser than every operator that could follow.
        at_statement_start = (node.lineno, node.col_offset) in statement_starts
        edits.append((node.lineno - 1, node.col_offset, "0 or " if at_statement_start else " " * 5))
        if is_gather:
            func = typing.cast(ast.Call, value).func
            edits.append((func.lineno - 1, func.col_offset, GATHER_BUILTIN))
    if not edits:
        return source
    encoded = [line.encode() for line in lines]  # ast offsets are UTF-8 byte offsets
    for index, start, replacement in edits:
        line = encoded[index]
        new = replacement.encode()
        encoded[index] = line[:start] + new + line[start + len(new) :]
    return b"".join(encoded).decode()
