"""The capability sheet: what the sandboxed code can and cannot do, as checked data.

A model writing code for the sandbox is told these facts in its tool description.
Each `Claim` carries a snippet that demonstrates it and the outcome expected when
that snippet runs in the installed Monty, so `tests/test_capabilities.py` fails
(instead of a model being misled) when an upgrade changes the behaviour.

`capability_sheet()` renders the claims as Markdown; `check_claim(claim)` runs one
snippet through agent-tools' public API, with `CHECK_FUNCTIONS` registered, and says
what happened when the expectation does not hold.

Expectations (`Claim.expect`):

- `"ok"`: the snippet runs without error.
- `"ok:<repr>"`: it runs and `repr(result) == <repr>`.
- `"printed:<repr>"`: it runs and `repr(printed output) == <repr>`.
- `"error:<Name>"`: it fails with a `SandboxError` where `<Name>` is the sandbox
  exception's type name (`ModuleNotFoundError`, `NotImplementedError`, `SyntaxError`,
  ...) or the agent-tools error class (`CallLimitError`, `UnknownFunctionError`, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agent_tools.base.errors import SandboxError, SandboxRuntimeError
from agent_tools.task.template import orchestrator_from_str, run

__all__ = ["CHECK_FUNCTIONS", "CLAIMS", "SECTIONS", "Claim", "capability_sheet", "check_claim"]


@dataclass(frozen=True)
class Claim:
    """One fact about the sandbox, as a model reads it, and the code that shows it."""

    section: str
    """The sheet section it is listed under (one of `SECTIONS`)."""
    text: str
    """One short sentence as the model reads it."""
    check: str
    """The snippet that demonstrates it (may call the functions in `CHECK_FUNCTIONS`)."""
    expect: str
    """`"ok"`, `"ok:<repr>"`, `"printed:<repr>"` or `"error:<Name>"` (see the module doc)."""
    essential: bool = False
    """Listed in the compact sheet the tool description carries: the facts that prevent
    frequent mistakes. The others reach the model where they matter (an error's
    hint) and in the full sheet (`capability_sheet(full=True)`)."""

    def __post_init__(self) -> None:
        if self.expect != "ok" and not self.expect.startswith(("ok:", "printed:", "error:")):
            raise ValueError(
                f"expect must be 'ok', 'ok:<repr>', 'printed:<repr>' or 'error:<Name>', got {self.expect!r}"
            )
        if self.section not in SECTIONS:
            raise ValueError(f"unknown section {self.section!r}; known: {', '.join(SECTIONS)}")


def double(x: int) -> int:
    """Return twice x."""
    return 2 * x


CHECK_FUNCTIONS: tuple[Callable[..., Any], ...] = (double,)
"""The registered functions the checks may call: `double(x) -> 2 * x`."""

SECTIONS: tuple[str, ...] = (
    "Modules",
    "Outside world",
    "Syntax",
    "Builtins",
    "Host functions",
    "Results",
    "Limits",
)
"""The sheet's sections, in the order it lists them."""


def _missing(module: str, names: Sequence[str]) -> str:
    """A snippet returning which of `names` cannot be imported from `module`."""
    lines = ["missing = []"]
    for name in names:
        lines += [
            "try:",
            f"    from {module} import {name}",
            "except ImportError:",
            f"    missing.append({name!r})",
        ]
    return "\n".join([*lines, "missing"])


def _importable(modules: Sequence[str]) -> str:
    """A snippet returning which of `modules` can be imported."""
    lines = ["found = []"]
    for module in modules:
        lines += [
            "try:",
            f"    import {module}",
            f"    found.append({module!r})",
            "except ModuleNotFoundError:",
            "    pass",
        ]
    return "\n".join([*lines, "found"])


def _undefined(names: Sequence[str]) -> str:
    """A snippet returning which of `names` are not defined."""
    lines = ["missing = []"]
    for name in names:
        lines += ["try:", f"    {name}", "except NameError:", f"    missing.append({name!r})"]
    return "\n".join([*lines, "missing"])


def _raising(exprs: Sequence[str], exc: str, setup: str) -> str:
    """A snippet (after `setup`) returning which of `exprs` raise `exc`."""
    lines = [setup, "raised = []"]
    for expr in exprs:
        lines += ["try:", f"    {expr}", f"except {exc}:", f"    raised.append({expr!r})"]
    return "\n".join([*lines, "raised"])


_CLOCK: tuple[str, ...] = (
    "time.time()",
    "time.monotonic()",
    "time.perf_counter()",
    "datetime.datetime.now()",
    "datetime.date.today()",
)
_FILES: tuple[str, ...] = ("open('data.txt')", "os.listdir('.')", "pathlib.Path('data.txt').read_text()")
_UNSEEDED: tuple[str, ...] = ("random.random()", "random.choice([1, 2])", "random.randint(1, 6)")

_AVAILABLE: tuple[str, ...] = (
    "math", "json", "re", "datetime", "collections", "itertools", "functools", "asyncio", "typing",
    "dataclasses", "decimal", "bisect", "copy", "base64", "hashlib", "csv", "random", "time", "os", "sys",
    "pathlib", "unicodedata",
)  # fmt: skip
_UNAVAILABLE: tuple[str, ...] = (
    "statistics", "string", "heapq", "operator", "textwrap", "enum", "uuid", "io", "fractions", "struct",
    "calendar", "zoneinfo", "contextlib", "abc", "logging", "pprint", "numpy", "pandas", "requests",
    "pydantic",
)  # fmt: skip
_NO_OUTSIDE: tuple[str, ...] = ("subprocess", "socket", "urllib", "http", "threading", "multiprocessing")
_NO_BUILTINS: tuple[str, ...] = (
    "input", "globals", "vars", "dir", "callable", "issubclass", "super", "bytearray", "memoryview",
    "compile", "__import__",
)  # fmt: skip

CLAIMS: tuple[Claim, ...] = (
    # -- Modules -------------------------------------------------------------
    Claim(
        "Modules",
        f"These standard modules import: {', '.join(_AVAILABLE)}.",
        "\n".join([f"import {', '.join(_AVAILABLE)}", "'ok'"]),
        "ok:'ok'",
        essential=True,
    ),
    Claim(
        "Modules",
        f"These do not import (ModuleNotFoundError): {', '.join(_UNAVAILABLE)}; no third-party packages.",
        _importable(_UNAVAILABLE),
        "ok:[]",
    ),
    Claim(
        "Modules",
        "No `heapq`: keep a sorted list with `bisect.insort(lst, x)` and `lst.pop(0)`.",
        "import bisect\nq = []\nfor x in [5, 1, 3]:\n    bisect.insort(q, x)\nq.pop(0), q",
        "ok:(1, [3, 5])",
    ),
    Claim(
        "Modules",
        "`collections` has Counter, defaultdict, deque and namedtuple, but no OrderedDict or ChainMap "
        "(a plain dict keeps insertion order).",
        "from collections import Counter, defaultdict, deque, namedtuple\n"
        + _missing("collections", ["OrderedDict", "ChainMap"]),
        "ok:['OrderedDict', 'ChainMap']",
    ),
    Claim(
        "Modules",
        "`functools` has reduce, partial, lru_cache and cache, but no wraps, cmp_to_key or total_ordering.",
        "from functools import reduce, partial, lru_cache, cache\n"
        + _missing("functools", ["wraps", "cmp_to_key", "total_ordering"]),
        "ok:['wraps', 'cmp_to_key', 'total_ordering']",
    ),
    Claim(
        "Modules",
        "`dataclasses` has dataclass and field, but no asdict, astuple, replace or fields: "
        "build dicts by hand.",
        "from dataclasses import dataclass, field\n"
        + _missing("dataclasses", ["asdict", "astuple", "replace", "fields"]),
        "ok:['asdict', 'astuple', 'replace', 'fields']",
    ),
    Claim(
        "Modules",
        "`asyncio` has only gather, run and sleep: no create_task, wait_for, Semaphore, Queue or TaskGroup.",
        "from asyncio import gather, run, sleep\n"
        + _missing("asyncio", ["create_task", "wait_for", "Semaphore", "Queue", "TaskGroup"]),
        "ok:['create_task', 'wait_for', 'Semaphore', 'Queue', 'TaskGroup']",
    ),
    Claim(
        "Modules",
        "`typing` has the annotation names (Any, Optional, Union, List, Dict, Callable, Literal, ...) "
        "but no cast, TypedDict or NamedTuple.",
        "from typing import Any, Optional, Union, List, Dict, Callable, Literal\n"
        + _missing("typing", ["cast", "TypedDict", "NamedTuple"]),
        "ok:['cast', 'TypedDict', 'NamedTuple']",
    ),
    Claim(
        "Modules",
        "`random` works once seeded: call `random.seed(n)` first, or use `random.Random(n)`.",
        "import random\nrandom.seed(7)\na = [random.random() for _ in range(3)]\nrandom.seed(7)\n"
        "b = [random.random() for _ in range(3)]\n"
        "a == b and random.Random(3).random() == random.Random(3).random()",
        "ok:True",
    ),
    Claim(
        "Modules",
        "Unseeded `random` calls (`random.random()`, `random.choice(...)`) raise RuntimeError.",
        _raising(_UNSEEDED, "RuntimeError", "import random"),
        f"ok:{list(_UNSEEDED)!r}",
        essential=True,
    ),
    Claim(
        "Modules",
        "`datetime` works on given dates: constructors, timedelta, strptime, strftime, isoformat.",
        "import datetime\nd = datetime.datetime.strptime('2024-02-01', '%Y-%m-%d')\n"
        "((d + datetime.timedelta(days=29)).strftime('%A %d %B'), d.date().isoformat())",
        "ok:('Friday 01 March', '2024-02-01')",
    ),
    # -- Outside world ---------------------------------------------------------
    Claim(
        "Outside world",
        "No clock: `time.time()`, `time.monotonic()`, `time.perf_counter()`, `datetime.datetime.now()` and "
        "`datetime.date.today()` raise RuntimeError; pass the time in as an input. `time.sleep()` works.",
        _raising(_CLOCK, "RuntimeError", "import time, datetime\ntime.sleep(0.01)"),
        f"ok:{list(_CLOCK)!r}",
        essential=True,
    ),
    Claim(
        "Outside world",
        "No filesystem: `open()`, `os.listdir()` and `pathlib` reads raise PermissionError.",
        _raising(_FILES, "PermissionError", "import os, pathlib"),
        f"ok:{list(_FILES)!r}",
        essential=True,
    ),
    Claim(
        "Outside world",
        "`os.getenv(name)` sees only the variables the host passed in; any other is None.",
        "import os\nos.getenv('HOME')",
        "ok:None",
    ),
    Claim(
        "Outside world",
        f"No network or processes: {', '.join(_NO_OUTSIDE)} do not import.",
        _importable(_NO_OUTSIDE),
        "ok:[]",
    ),
    # -- Syntax ------------------------------------------------------------------
    Claim(
        "Syntax",
        "`del` is refused: use `d.pop(key)`, `lst.pop(i)` or build a new list or dict.",
        "x = [1, 2]\ndel x[0]",
        "error:NotImplementedError",
        essential=True,
    ),
    Claim(
        "Syntax",
        "Classes cannot inherit (so no custom exception classes): raise ValueError etc. with a message.",
        "class NotFound(Exception):\n    pass",
        "error:NotImplementedError",
        essential=True,
    ),
    Claim(
        "Syntax",
        "`@property`, `@staticmethod` and `@classmethod` are refused: use plain methods or functions.",
        "class A:\n    @property\n    def p(self):\n        return 1",
        "error:NotImplementedError",
    ),
    Claim(
        "Syntax",
        "Plain classes work: `__init__`, methods, and dunders such as `__repr__`, `__eq__`, `__add__`.",
        "class Money:\n"
        "    def __init__(self, cents):\n        self.cents = cents\n"
        "    def __add__(self, other):\n        return Money(self.cents + other.cents)\n"
        "    def __eq__(self, other):\n        return self.cents == other.cents\n"
        "    def __repr__(self):\n        return f'Money({self.cents})'\n"
        "    def dollars(self):\n        return self.cents / 100\n"
        "total = Money(150) + Money(50)\n(repr(total), total == Money(200), total.dollars())",
        "ok:('Money(200)', True, 2.0)",
    ),
    Claim(
        "Syntax",
        "`len()` and `sorted()` ignore `__len__` and `__lt__` on your classes: use `sorted(xs, key=...)`.",
        "class A:\n    def __lt__(self, other):\n        return True\nsorted([A(), A()])",
        "error:TypeError",
    ),
    Claim(
        "Syntax",
        "Methods of builtin types are called, not passed as values: `key=d.get` and "
        "`map(str.upper, xs)` raise AttributeError; write `key=lambda k: d[k]`, `[s.upper() for s in xs]`.",
        "d = {'a': 1, 'b': 2}\nmax(d, key=d.get)",
        "error:AttributeError",
    ),
    Claim(
        "Syntax",
        "A method call works as usual: `d.get(k, default)`, `s.upper()`, `xs.append(x)`.",
        "d = {'a': 1}\nxs = []\nxs.append(d.get('b', 0))\n(xs, 'a'.upper())",
        "ok:([0], 'A')",
    ),
    Claim(
        "Syntax",
        "`@dataclass` works, with defaults, `field(default_factory=...)` and `frozen=True`.",
        "from dataclasses import dataclass, field\n"
        "@dataclass(frozen=True)\nclass P:\n    x: int\n    tags: list = field(default_factory=list)\n"
        "p = P(1)\n(p.x, p.tags, p == P(1))",
        "ok:(1, [], True)",
    ),
    Claim(
        "Syntax",
        "No generators: `yield` is refused; build and return a list.",
        "def gen():\n    yield 1",
        "error:NotImplementedError",
        essential=True,
    ),
    Claim(
        "Syntax",
        "Generator expressions are built eagerly as lists: `sum(x for x in xs)` works, "
        "but `next(x for x in xs)` raises TypeError; write `next(iter([...]), default)`.",
        "next(x for x in [1, 2])",
        "error:TypeError",
        essential=True,
    ),
    Claim(
        "Syntax",
        "`match` statements work, including sequence and mapping patterns.",
        "def kind(v):\n    match v:\n        case {'type': t}:\n            return t\n"
        "        case [first, *rest]:\n            return first\n        case _:\n            return None\n"
        "kind({'type': 'a'}), kind([1, 2]), kind(3)",
        "ok:('a', 1, None)",
    ),
    Claim(
        "Syntax",
        "The walrus operator `:=`, lambdas, closures, `nonlocal` and `global` work.",
        "def counter():\n    count = 0\n    def bump():\n        nonlocal count\n        count += 1\n"
        "        return count\n    bump()\n    return bump()\nscale = lambda x: x * 10\n"
        "if (n := scale(counter())) > 10:\n    r = n\nr",
        "ok:20",
    ),
    Claim(
        "Syntax",
        "f-strings with format specs, `str.format`, `%` formatting and list/dict/set comprehensions work.",
        "x = 3.14159\n(f'{x:.2f}|{\"a\":>3}', '{}-{}'.format(1, 2), '%s=%d' % ('n', 5), "
        "[x * y for x in range(3) for y in range(2) if y], {k: len(k) for k in ['ab']}, "
        "{x % 2 for x in range(4)})",
        "ok:('3.14|  a', '1-2', 'n=5', [0, 1, 2], {'ab': 2}, {0, 1})",
    ),
    Claim(
        "Syntax",
        "`try`/`except`/`else`/`finally` and `raise` work with built-in exception types.",
        "try:\n    int('x')\nexcept ValueError:\n    msg = 'bad'\nelse:\n    msg = 'fine'\n"
        "finally:\n    done = True\nmsg, done",
        "ok:('bad', True)",
    ),
    Claim(
        "Syntax",
        "`async def`, `await` and `asyncio.gather` over your own coroutines work; top-level `await` too.",
        "import asyncio\nasync def twice(n):\n    await asyncio.sleep(0)\n    return n * 2\n"
        "await asyncio.gather(*[twice(i) for i in range(3)])",
        "ok:[0, 2, 4]",
    ),
    # -- Builtins ----------------------------------------------------------------
    Claim(
        "Builtins",
        f"Not defined (NameError): {', '.join(_NO_BUILTINS)}.",
        _undefined(_NO_BUILTINS),
        f"ok:{list(_NO_BUILTINS)!r}",
    ),
    Claim(
        "Builtins",
        "`hasattr()` on built-in values is unreliable (`hasattr([], 'append')` is False): "
        "don't use it to test for methods.",
        "hasattr([], 'append')",
        "ok:False",
    ),
    Claim(
        "Builtins",
        "Some methods of built-in types are missing (e.g. `int.bit_length`, `int.from_bytes`): "
        "on AttributeError, write it by hand.",
        "(5).bit_length()",
        "error:AttributeError",
    ),
    # -- Host functions ------------------------------------------------------------
    Claim(
        "Host functions",
        "Registered functions are plain calls: `y = fn(x)` or `fn(x=1)`; `await fn(x)` also works.",
        "(double(21), double(x=2), await double(3))",
        "ok:(42, 4, 6)",
    ),
    Claim(
        "Host functions",
        "`parallel_map(fn, items, concurrency=8)` calls a registered function once per item, "
        "concurrently on the host, and returns the results in order.",
        "parallel_map(double, [1, 2, 3], concurrency=2)",
        "ok:[2, 4, 6]",
        essential=True,
    ),
    Claim(
        "Host functions",
        "Call registered functions in loops and comprehensions, not inside a callback a builtin "
        "calls (`key=` of `sorted`/`max`/`min`, `map`, `filter`): that raises NotImplementedError. "
        "Compute first: `v = {x: fn(x) for x in xs}`, then `max(xs, key=lambda x: v[x])`.",
        "max([1, 3, 2], key=lambda x: double(x))",
        "error:NotImplementedError",
    ),
    Claim(
        "Host functions",
        "Values computed first by a comprehension sort and pick as usual, by a key that reads them.",
        "v = {x: double(x) for x in [1, 3, 2]}\n(max(v, key=lambda x: v[x]), sorted(v, key=lambda x: -v[x]))",
        "ok:(3, [3, 2, 1])",
    ),
    Claim(
        "Host functions",
        "`flyte_map` is an alias of `parallel_map`; `fn` may also be given by name, as a string.",
        "flyte_map('double', [1, 2])",
        "ok:[2, 4]",
    ),
    Claim(
        "Host functions",
        "`parallel_map` takes registered functions only, not lambdas or functions you define.",
        "parallel_map(lambda x: x, [1])",
        "error:NameError",
    ),
    Claim(
        "Host functions",
        "`await asyncio.gather(fn(a), fn(b))` over registered calls works and returns a list; "
        "it makes the calls one after another: for concurrent calls use `parallel_map`.",
        "import asyncio\nawait asyncio.gather(double(1), double(2))",
        "ok:[2, 4]",
    ),
    Claim(
        "Host functions",
        "Pass `list(...)` to a registered function: a `range` or dict view arrives as its text, "
        "e.g. 'range(0, 2)'.",
        "double(range(2))",
        "ok:'range(0, 2)range(0, 2)'",
        essential=True,
    ),
    Claim(
        "Host functions",
        "An exception a registered function raises can be caught with `try`/`except` around the call.",
        "try:\n    double({1})\nexcept TypeError:\n    r = 'caught'\nr",
        "ok:'caught'",
    ),
    Claim(
        "Host functions",
        "Calling a name that is neither defined nor registered raises NameError.",
        "fetch_everything()",
        "error:NameError",
    ),
    # -- Results -------------------------------------------------------------------
    Claim(
        "Results",
        "The value of the last expression is the result.",
        "x = 2\nx * 3",
        "ok:6",
    ),
    Claim(
        "Results",
        "If the code ends with a statement (assignment, `if`, loop), the result is None: "
        "end with the expression.",
        "x = 1\nif x:\n    x + 1",
        "ok:None",
        essential=True,
    ),
    Claim(
        "Results",
        "`print()` output (stderr too) is captured and returned to you with the result.",
        "import sys\nprint('hi', 1)\nprint('err', file=sys.stderr)\n5",
        "printed:'hi 1\\nerr\\n'",
    ),
    Claim(
        "Results",
        "Return plain data (dicts, lists, str, numbers): an instance of your class comes back "
        "as an opaque proxy.",
        "from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int\nP(1)",
        "ok:MontyClassProxy(name='P', attributes={'x': 1})",
        essential=True,
    ),
    # -- Limits --------------------------------------------------------------------
    Claim(
        "Limits",
        "Recursion depth is limited (256 frames by default): use a loop for deep recursion.",
        "def down(n):\n    return down(n + 1)\ndown(0)",
        "error:RecursionError",
    ),
    Claim(
        "Limits",
        "A run may make at most 1,000 registered-function calls by default: "
        "fetch lists, not items one by one.",
        "total = 0\nfor i in range(1001):\n    total += double(i)",
        "error:CallLimitError",
    ),
)
"""Every claim of the sheet, in the order it lists them within a section."""


def capability_sheet(full: bool = False) -> str:
    """The claims as Markdown. By default the compact sheet of the tool description:
    one bullet per essential claim, in `CLAIMS` order. With `full`, every claim, one
    `## Section` heading per section (in `SECTIONS` order)."""
    if not full:
        return "\n".join(f"- {c.text}" for c in CLAIMS if c.essential) + "\n"
    parts: list[str] = []
    for section in SECTIONS:
        bullets = [f"- {c.text}" for c in CLAIMS if c.section == section]
        if bullets:
            parts.append("\n".join([f"## {section}", "", *bullets]))
    return "\n\n".join(parts) + "\n"


def _error_names(error: SandboxError) -> list[str]:
    """The names an `error:<Name>` expectation may use for `error`: the sandbox
    exception's type, then the agent-tools error classes."""
    names: list[str] = []
    if isinstance(error, SandboxRuntimeError):
        names.append(error.exc_type)
    elif error.__cause__ is not None:
        names.append(type(error.__cause__).__name__)
    names += [cls.__name__ for cls in type(error).__mro__ if issubclass(cls, SandboxError)]
    return names


def check_claim(claim: Claim) -> str | None:
    """Run `claim.check` in the sandbox (with `CHECK_FUNCTIONS` registered) and return
    None when `claim.expect` holds, else what happened instead."""
    template = orchestrator_from_str(
        claim.check, inputs={}, output=Any, tasks=list(CHECK_FUNCTIONS), name="capability-check"
    )
    kind, _, wanted = claim.expect.partition(":")
    try:
        record = run(template)
    except SandboxError as error:
        names = _error_names(error)
        happened = f"it failed with {' / '.join(names[:2])}: {error.message}"
        if kind == "error":
            return None if wanted in names else f"expected error {wanted}, but {happened}"
        return f"expected it to run, but {happened}"
    if kind == "error":
        return f"expected error {wanted}, but it ran and returned {record.result!r}"
    if kind == "printed" and repr(record.stdout) != wanted:
        return f"expected it to print {wanted}, but it printed {record.stdout!r}"
    if kind == "ok" and wanted and repr(record.result) != wanted:
        return f"expected the result {wanted}, but it was {record.result!r}"
    return None
