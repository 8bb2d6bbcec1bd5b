"""The `run_code` tool description: what the model reads about the tool, built from
the registered functions and the configured limits.

It has a fixed part (how to use the tool, the limits of this runner, the compact
capability sheet: about 500 tokens) and the catalog. Up to `catalog_budget`
characters of stubs the catalog is the functions' full stubs; above it (or with
`catalog="search"`) it lists each function's name, parameters and first docstring
line, and the code calls `describe(name)` for a full stub and
`search_functions(query)` to find functions. Either way the text depends only on
the functions and the settings, so it is byte-identical from run to run (prompt
caches keep it).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from agent_tools.base.config import SandboxedConfig
from agent_tools.base.prompts import render
from agent_tools.sandbox.functions import HostFunction, build_catalog
from agent_tools.tool.capabilities import capability_sheet

__all__ = [
    "DEFAULT_CATALOG_BUDGET",
    "DESCRIBE",
    "SEARCH",
    "CatalogMode",
    "catalog_builtins",
    "example_call",
    "limits_text",
    "run_code_description",
    "summaries",
    "uses_search",
]

CatalogMode = Literal["auto", "full", "search"]

DEFAULT_CATALOG_BUDGET = 24_000
"""Characters of full stubs (about 6,000 tokens) above which `catalog="auto"` lists
summaries and gives the code `describe` and `search_functions`."""

DESCRIBE = "describe"
SEARCH = "search_functions"

_SAMPLES: dict[Any, str] = {int: "1", float: "1.5", bool: "True", str: '"..."', list: "[...]", dict: "{...}"}


def example_call(functions: Mapping[str, HostFunction]) -> str:
    """A call of a registered function (the first that takes arguments, if any does),
    with a value of the right kind for each required parameter: `get_customer(1)`."""
    calls: list[str] = []
    for fn in functions.values():
        if fn.name in (DESCRIBE, SEARCH):
            continue
        args: list[str] = []
        if fn.signature is not None:
            for param in fn.signature.parameters.values():
                if param.default is not inspect.Parameter.empty or param.kind in (
                    param.VAR_POSITIONAL,
                    param.VAR_KEYWORD,
                ):
                    continue
                origin = getattr(param.annotation, "__origin__", param.annotation)
                args.append(_SAMPLES.get(origin, '"..."'))
        if args:
            return f"{fn.name}({', '.join(args)})"
        calls.append(f"{fn.name}()")
    return calls[0] if calls else "fn(x)"


def limits_text(config: SandboxedConfig) -> str:
    """This runner's limits, as the model reads them."""
    seconds = config.timeout_ms / 1000
    time_text = f"{seconds:g} s" if seconds >= 1 else f"{config.timeout_ms} ms"
    return (
        f"{time_text} of sandbox time (time in the functions not counted), "
        f"{_size(config.max_memory)} of memory, {config.max_host_calls:,} function calls "
        f"(fetch lists, not items one by one), {_size(config.max_output_bytes)} of printed output"
    )


def _size(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"


def _first_line(fn: HostFunction) -> str:
    doc = inspect.getdoc(fn.func) or ""
    line = doc.strip().splitlines()[0] if doc.strip() else ""
    return re.sub(r"\s+", " ", line)


def summaries(functions: Mapping[str, HostFunction]) -> str:
    """One line per function: `- name: what it does` (the first docstring line)."""
    lines: list[str] = []
    for fn in functions.values():
        if fn.name in (DESCRIBE, SEARCH):
            continue
        summary = _first_line(fn)
        lines.append(f"- {fn.name}" + (f": {summary}" if summary else ""))
    return "\n".join(lines)


def uses_search(functions: Mapping[str, HostFunction], catalog: CatalogMode, budget: int) -> bool:
    """Whether the description lists summaries (and the code gets `describe` and
    `search_functions`) rather than full stubs."""
    if catalog == "search":
        return True
    if catalog == "full":
        return False
    plain = {name: fn for name, fn in functions.items() if name not in (DESCRIBE, SEARCH)}
    return len(build_catalog(plain)) > budget


def catalog_builtins(functions: Mapping[str, HostFunction]) -> dict[str, Callable[..., Any]]:
    """`describe` and `search_functions` over `functions`, for the code to call."""
    plain = {name: fn for name, fn in functions.items() if name not in (DESCRIBE, SEARCH)}
    stubs = {name: build_catalog({name: fn}) for name, fn in plain.items()}
    lines = {name: line for name, line in zip(plain, summaries(plain).splitlines(), strict=True)}

    def describe(name: str) -> str:
        """The full stub of one function (its parameters, types and docstring)."""
        stub = stubs.get(name)
        if stub is None:
            import difflib

            close = difflib.get_close_matches(name, list(stubs), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"no function named {name!r}{hint}")
        return stub

    def search_functions(query: str, limit: int = 10) -> list[dict[str, str]]:
        """Functions whose name or description matches the words of `query`, best
        first: [{"name", "summary"}]."""
        words = [w for w in re.findall(r"[a-z0-9]+", query.lower()) if len(w) > 1]
        scored: list[tuple[int, str]] = []
        for name, stub in stubs.items():
            text = f"{name} {stub}".lower()
            score = sum(3 if w in name.lower() else 1 for w in words if w in text)
            if score:
                scored.append((-score, name))
        scored.sort()
        return [
            {"name": name, "summary": lines[name].removeprefix("- ")} for _, name in scored[: max(limit, 1)]
        ]

    return {DESCRIBE: describe, SEARCH: search_functions}


def run_code_description(
    functions: Mapping[str, HostFunction],
    config: SandboxedConfig,
    *,
    stateful: bool = False,
    catalog: CatalogMode = "auto",
    budget: int = DEFAULT_CATALOG_BUDGET,
) -> str:
    """The tool description for these functions and settings."""
    if uses_search(functions, catalog, budget):
        plain = {name: fn for name, fn in functions.items() if name not in (DESCRIBE, SEARCH)}
        listing = (
            f"{len(plain)} functions; call `{DESCRIBE}(name)` in your code for one's full stub, and "
            f"`{SEARCH}(query)` to find functions by what they do (both return plain data).\n\n"
            + summaries(plain)
        )
    else:
        listing = f"```python\n{build_catalog(functions)}\n```"
    state = (
        " Variables, functions and imports persist from one run_code call to the next; pass"
        " restart=true to start from nothing."
        if stateful
        else ""
    )
    return render(
        "run_code",
        example=example_call(functions),
        state=state,
        limits=limits_text(config),
        catalog=listing,
        capabilities=capability_sheet().strip(),
    )
