"""Preparing a code string for Monty.

Models trained on other code-mode tools write `await get_weather(city)` and
`await asyncio.gather(f(a), f(b))`. Registered functions are plain calls in the
sandbox (see `hostcalls`), so awaiting one fails in Monty ("'int' object can't be
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

__all__ = [
    "GATHER_BUILTIN",
    "ColumnShifts",
    "dedent_source",
    "original_column",
    "prepare_source",
    "wrap_map_iterables",
]

GATHER_BUILTIN = "asyncio_gather"
"""What `asyncio.gather` over registered calls becomes: one character changed, so
columns keep; no leading underscore, which Monty's type checker ignores in stubs."""
_GATHER = "asyncio.gather"
assert len(GATHER_BUILTIN) == len(_GATHER)  # the rename must keep columns


def dedent_source(source: str) -> str:
    """Dedent and strip, as Flyte does with the code of a `CodeTaskTemplate`."""
    if not isinstance(source, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"source must be a str, got {type(source).__name__}")
    stripped = source.strip()
    if not source.lstrip("\r\n").startswith((" ", "\t")):
        # The first line that has code starts at column 0: nothing to dedent (blank
        # lines inside stay as they are, which changes no line or column).
        return stripped
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


ColumnShifts = dict[int, tuple[tuple[int, int], ...]]
"""Per 1-based line of the rewritten code: (0-based column in the written code, length)
of each text inserted there, in order."""

_MAPS = ("parallel_map", "flyte_map")


def _needs_list(arg: ast.expr) -> bool:
    """Whether an iterable given to parallel_map must become a list in the sandbox:
    anything but a literal list, a list comprehension or a `range(...)` call (a range is
    handed to the host as its repr and rebuilt there at no cost)."""
    if isinstance(arg, (ast.Starred, ast.List, ast.ListComp)):
        return False
    return not (isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id == "range")


def wrap_map_iterables(code: str) -> tuple[str, ColumnShifts]:
    """Wrap each iterable passed to `parallel_map`/`flyte_map` in `list(...)`, so the
    sandbox hands the host a real list. Monty 1.4 hands a dict view, generator or other
    iterable over as its repr string; rebuilding that text on the host would let code
    make the host parse (and allocate for) any string shaped like a repr. Returns the new
    code and where text was inserted, so error columns can be mapped back."""
    if not any(name in code for name in _MAPS):
        return code, {}
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return code, {}
    inserts: list[tuple[int, int, str]] = []  # (line index, char column, text)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _MAPS):
            continue
        for arg in node.args[1:]:
            if not _needs_list(arg) or arg.end_lineno is None or arg.end_col_offset is None:
                continue
            inserts.append((arg.lineno - 1, arg.col_offset, "list("))
            inserts.append((arg.end_lineno - 1, arg.end_col_offset, ")"))
    if not inserts:
        return code, {}
    lines = code.splitlines(keepends=True)
    by_line: dict[int, list[tuple[int, str]]] = {}
    for index, byte_col, text in inserts:
        # ast columns are UTF-8 byte offsets; the inserts are placed by character
        col = len(lines[index].encode()[:byte_col].decode("utf-8", "ignore"))
        by_line.setdefault(index, []).append((col, text))
    shifts: ColumnShifts = {}
    for index, edits in by_line.items():
        edits.sort(key=lambda edit: edit[0])
        line = lines[index]
        out: list[str] = []
        last = 0
        for col, text in edits:
            out += [line[last:col], text]
            last = col
        out.append(line[last:])
        lines[index] = "".join(out)
        shifts[index + 1] = tuple((col, len(text)) for col, text in edits)
    return "".join(lines), shifts


def original_column(shifts: ColumnShifts, line: int | None, column: int | None) -> int | None:
    """The 1-based column in the written code of `column` (1-based) on `line` of the
    rewritten code; inside an inserted text, the column the text was inserted at."""
    edits = shifts.get(line) if line is not None else None
    if not edits or column is None:
        return column
    position = column - 1  # 0-based, rewritten
    shift = 0
    for col, length in edits:
        start = col + shift  # where this insert begins in the rewritten line
        if position < start:
            break
        if position < start + length:
            return col + 1
        shift += length
    return position - shift + 1
