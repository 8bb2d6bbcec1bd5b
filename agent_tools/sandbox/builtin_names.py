"""Builtin names of the sandbox: facts about the installed Monty, checked against it by
`tests/test_preflight.py`.

A registered function cannot take one of these names: the code's call by that name
reaches Monty's builtin first, never the function (a function registered as `round`
would be listed to the model and pass the pre-flight check, yet `round(x, 2)` would
round). `functions.register` refuses such a name; tools named by a schema (MCP,
pydantic-ai toolsets) get a `_` after it (`round_`).
"""

from __future__ import annotations

import keyword

__all__ = ["MONTY_BUILTINS", "SHADOWING_BUILTINS"]

MONTY_BUILTINS: frozenset[str] = frozenset({
    "ArithmeticError", "AssertionError", "AttributeError", "BaseException", "Ellipsis", "Exception",
    "False", "FileExistsError", "FileNotFoundError", "ImportError", "IndexError", "IsADirectoryError",
    "KeyError", "KeyboardInterrupt", "LookupError", "MemoryError", "ModuleNotFoundError", "NameError",
    "None", "NotADirectoryError", "NotImplemented", "NotImplementedError", "OSError", "OverflowError",
    "PermissionError", "RecursionError", "RuntimeError", "StopIteration", "SyntaxError", "SystemExit",
    "TimeoutError", "True", "TypeError", "UnboundLocalError", "UnicodeDecodeError",
    "UnicodeEncodeError", "ValueError", "ZeroDivisionError", "__name__", "abs", "all", "any", "bin",
    "bool", "bytes", "chr", "complex", "dict", "divmod", "enumerate", "eval", "exec", "filter", "float",
    "format", "frozenset", "getattr", "hasattr", "hash", "hex", "id", "int", "isinstance", "iter",
    "len", "list", "locals", "map", "max", "min", "next", "object", "oct", "open", "ord", "pow",
    "print", "property", "range", "repr", "reversed", "round", "set", "setattr", "slice", "sorted",
    "str", "sum", "tuple", "type", "zip", "__file__", "__doc__"
})  # fmt: skip
"""The builtin names defined in the sandbox (pydantic-monty 1.4)."""

SHADOWING_BUILTINS: frozenset[str] = frozenset(
    name
    for name in MONTY_BUILTINS
    if name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__")
)
"""The names a registered function cannot take: the code's call by one of them reaches
Monty's builtin, whatever is registered under it."""
