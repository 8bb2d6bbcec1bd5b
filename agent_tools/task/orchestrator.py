"""Decorator mode: `@orchestrator` makes a template of a function whose body runs in
the sandbox (Flyte's `@env.sandbox.orchestrator`), and the prompt text for models
that write such code (`ORCHESTRATOR_SYNTAX_PROMPT`).

The function's signature types the template: its parameters are the inputs (with
their defaults), its return annotation the output (`Any` where one is missing). What
runs is the function's own definition, decorators left off, followed by a call of it
with the inputs, so `return` works as in Python. The names its body uses (globals,
and closure variables, also inside comprehensions and nested functions) are looked
up when it is decorated:

- a Flyte task, a template (one made by this decorator too), or any other function
  (a `@flyte.trace` function too) becomes a registered function, called on the host.
  Flyte's decorator looks only for its tasks, traces and durable operations, and
  misses traces (it looks for an `aio` they do not have) and names used only in a
  comprehension or nested function;
- a module the sandbox has (`json`, `math`, ...), or a function or class from one
  (`from datetime import date`), is imported in the sandbox;
- a constant (a bool, int, finite float, str, bytes or None) is defined there.

Anything else is not there, and using it is a `NameError` in the sandbox.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import math
import textwrap
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, overload

from agent_tools.base.config import SandboxedConfig
from agent_tools.boundary.interface import NativeInterface
from agent_tools.boundary.plain import EMPTY
from agent_tools.sandbox.functions import (
    BUILTIN_NAMES,
    FLYTE_MAP,
    PARALLEL_MAP,
    is_flyte_task,
    map_signature,
    register,
)
from agent_tools.sandbox.preflight import MONTY_MODULES
from agent_tools.task.template import CodeTaskTemplate

__all__ = ["ORCHESTRATOR_SYNTAX_PROMPT", "SandboxedTaskTemplate", "orchestrator"]

_PRIVATE_MODULES = frozenset({"posixpath", "binascii"})
"""Modules the sandbox has that no one should be told to use."""

ORCHESTRATOR_SYNTAX_PROMPT = f"""\
Rules of the sandbox your code runs in (agent-tools, on the Monty interpreter):
- It runs a subset of Python. Call the functions you are given directly and use their \
results at once: they are plain calls. `await` in front of one, and `asyncio.gather(...)` \
over such calls, are accepted and change nothing.
- The value of the last expression is the result; a `return` at the top level ends the \
code with its value.
- Imports: only these modules exist: \
{", ".join(sorted(MONTY_MODULES - _PRIVATE_MODULES))}. \
No third-party packages; no statistics, heapq or zoneinfo.
- No clock and no entropy: datetime.now(), date.today(), time.time() and unseeded \
random raise. Take the date as an input; date arithmetic and parsing work; \
random.Random(seed) works; time.sleep works and counts against the time limit.
- No files or network. os.environ and os.getenv see only the environment variables \
the task declares.
- Not supported: generator functions (`yield`), the `del` statement, next() on a \
generator expression (use a for loop with break). Functions, classes, dataclasses, \
lambdas, comprehensions, match, try/except and f-strings work.
- Values that cross in and out: int, float, str, bool, bytes, None, date, datetime \
(with a fixed-offset timezone or none), time, timedelta, Decimal, and list, dict, \
tuple, set and frozenset of them. Pydantic models, dataclasses and TypedDicts the \
functions take or return are plain dicts here: write dict literals.
- Built-in functions:
  - `{map_signature(PARALLEL_MAP)}` \
calls a registered function once per item (zip of the iterables), concurrently on the \
host, and returns the results in item order. `fn` is the function or its name as a \
string. A failure raises, unless return_exceptions=True puts the exception in the \
list in its place. Example: `parallel_map(get_user, ids, concurrency=4)`.
  - `{map_signature(FLYTE_MAP)}` \
is parallel_map with Flyte's defaults: no concurrency limit (0), and failures returned \
in the list. Example: `flyte_map("double", items)`.
- Limits: sandbox time (time spent inside the functions you call is not counted), \
memory, the number of function calls, printed output. Going past one stops the run \
with an error that says which.
- Errors name the line, and usually how to fix it. print() output is kept and shown."""
"""What a model writing code for the sandbox needs to know, in the place of Flyte's
prompt of the same name: the modules are the installed Monty's (`MONTY_MODULES`)."""


class SandboxedTaskTemplate(CodeTaskTemplate):
    """A template made from a function by `orchestrator` (`flyte.sandbox.SandboxedTaskTemplate`):
    the function's body runs in the sandbox. Call it like the function (`template(x=1)`,
    `await template.aio(x=1)`); `forward` calls the function itself, outside the sandbox,
    as Flyte's does."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly, bypassing the sandbox (for local debugging)."""
        return self.func(*args, **kwargs)


@overload
def orchestrator(func: Callable[..., Any], /) -> SandboxedTaskTemplate: ...
@overload
def orchestrator(
    *,
    tasks: Any = None,
    name: str | None = None,
    timeout_ms: int = 30_000,
    max_memory: int = 50 * 1024 * 1024,
    max_stack_depth: int = 256,
    type_check: bool | None = None,
    cache: Any = "disable",
    retries: Any = 0,
    **options: Any,
) -> Callable[[Callable[..., Any]], SandboxedTaskTemplate]: ...
def orchestrator(
    func: Callable[..., Any] | None = None,
    /,
    *,
    tasks: Any = None,
    name: str | None = None,
    timeout_ms: int = 30_000,
    max_memory: int = 50 * 1024 * 1024,
    max_stack_depth: int = 256,
    type_check: bool | None = None,
    cache: Any = "disable",
    retries: Any = 0,
    **options: Any,
) -> Any:
    """Make a sandboxed template of a function: `@orchestrator` or `@orchestrator(...)`.

    The body runs in the sandbox, typed by the signature (see the module's docstring
    for what it can use). The keywords are those of Flyte's `env.sandbox.orchestrator`
    (`timeout_ms`, `max_memory`, `max_stack_depth`, `type_check`, `name`, `cache`,
    `retries`); `tasks` registers more functions than the body names, and further
    keywords (`env_vars`, `plugin_config`, ...) go to `CodeTaskTemplate`. The name is
    the function's unless given. Returns a `SandboxedTaskTemplate`.
    """

    def decorate(fn: Callable[..., Any]) -> SandboxedTaskTemplate:
        rest = dict(options)  # a decorator made once may decorate several functions
        config = rest.pop("plugin_config", None) or SandboxedConfig(
            timeout_ms=timeout_ms,
            max_memory=max_memory,
            max_stack_depth=max_stack_depth,
            **({} if type_check is None else {"type_check": type_check}),
        )
        return _make_template(fn, tasks, name, config, cache, retries, rest)

    if func is None:
        return decorate
    if isinstance(func, str) or not callable(func):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(
            "orchestrator decorates a function; for a code string use orchestrator_from_str(code, ...)"
        )
    return decorate(func)


def _make_template(
    fn: Callable[..., Any],
    tasks: Any,
    name: str | None,
    config: SandboxedConfig,
    cache: Any,
    retries: Any,
    options: dict[str, Any],
) -> SandboxedTaskTemplate:
    if not isinstance(fn, types.FunctionType):
        raise TypeError(f"orchestrator decorates a function (def or async def), got {type(fn).__name__}")
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(f"orchestrator: {fn.__qualname__} is a generator; the sandbox has no `yield`")
    inputs, output, call = _signature(fn)
    definition = _definition(fn)
    functions, preamble = _collect(fn)
    explicit = _named(tasks)
    for key in explicit:
        functions.pop(key, None)
    code = "\n".join([*preamble, definition, call])
    doc = inspect.getdoc(fn)
    options.setdefault("docs", doc or None)
    return SandboxedTaskTemplate(
        name=name or fn.__name__,
        interface=NativeInterface(inputs=inputs, outputs={} if output is type(None) else {"o0": output}),
        plugin_config=config,
        cache=cache,
        retries=retries,
        func=fn,
        _user_source=code,
        _user_input_names=list(inputs),
        _user_functions={**functions, **explicit},
        _source_file=inspect.getsourcefile(fn),
        **options,
    )


def _named(tasks: Any) -> dict[str, Any]:
    """`tasks=` as a name -> callable mapping (the names `register` will give them)."""
    if tasks is None:
        return {}
    if isinstance(tasks, Mapping):
        return {str(k): v for k, v in typing.cast(Mapping[Any, Any], tasks).items()}
    return {n: f.func for n, f in register(tasks).items()}


def _signature(fn: types.FunctionType) -> tuple[dict[str, tuple[Any, Any]], Any, str]:
    """The inputs (type, default) and output of `fn`, and the call that runs it."""
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise TypeError(f"orchestrator: cannot resolve the annotations of {fn.__qualname__}: {exc}") from exc
    inputs: dict[str, tuple[Any, Any]] = {}
    args: list[str] = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(
                f"orchestrator: {fn.__qualname__} takes *{p.name}; a task's inputs are named parameters"
            )
        inputs[p.name] = (hints.get(p.name, Any), p.default if p.default is not p.empty else EMPTY)
        args.append(p.name if p.kind is not p.KEYWORD_ONLY else f"{p.name}={p.name}")
    output = hints.get("return", Any) if sig.return_annotation is not sig.empty else Any
    if output is None:
        output = type(None)
    call = f"{fn.__name__}({', '.join(args)})"
    return inputs, output, f"await {call}" if inspect.iscoroutinefunction(fn) else call


def _definition(fn: types.FunctionType) -> str:
    """The source of `fn`'s definition, dedented, its decorators left off."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise TypeError(
            f"orchestrator needs the source of {fn.__qualname__}, which Python cannot find ({exc}); "
            "define it in a file, or use orchestrator_from_str"
        ) from exc
    tree = ast.parse(source)
    node = next(
        (
            n
            for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == fn.__name__
        ),
        None,
    )
    if node is None:  # a lambda, or a function made by exec
        raise TypeError(f"orchestrator decorates a `def`; cannot find the definition of {fn.__qualname__}")
    lines = source.splitlines()
    return "\n".join(lines[node.lineno - 1 : node.end_lineno]).rstrip()


def _used_names(code: types.CodeType) -> set[str]:
    """The global and free names `code` and the code nested in it (comprehensions,
    lambdas, inner functions) may read. On Python 3.11 a comprehension is a code
    object of its own, so a name used only there is not in the outer `co_names`."""
    names: set[str] = set()
    stack = [code]
    while stack:
        current = stack.pop()
        names.update(current.co_names)
        names.update(current.co_freevars)
        stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
    return names


def _closure(fn: types.FunctionType) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for var, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
        try:
            values[var] = cell.cell_contents
        except ValueError:  # an empty cell: the variable is not bound yet
            continue
    return values


_Missing = object()


def _collect(fn: types.FunctionType) -> tuple[dict[str, Any], list[str]]:
    """The registered functions `fn` uses, by name, and the lines that give the
    sandbox the modules, module members and constants it uses."""
    closure = _closure(fn)
    functions: dict[str, Any] = {}
    preamble: list[str] = []
    for var in sorted(_used_names(fn.__code__) - {fn.__name__} - BUILTIN_NAMES):
        value = closure.get(var, _Missing)
        if value is _Missing:
            value = fn.__globals__.get(var, _Missing)
        if value is _Missing:
            continue
        line = _import_line(var, value)
        if line is not None:
            preamble.append(line)
        elif is_flyte_task(value) or inspect.isroutine(value) or isinstance(value, CodeTaskTemplate):
            functions[var] = value  # a template runs nested, as Flyte runs a task from a task
        elif (literal := _literal(value)) is not None:
            preamble.append(f"{var} = {literal}")
    return functions, preamble


def _import_line(var: str, value: Any) -> str | None:
    """`import json` for a module the sandbox has, `from datetime import date` for a
    class or function of one (when it is that module's own), else None."""
    if isinstance(value, types.ModuleType):
        module = value.__name__
        if module.split(".")[0] not in MONTY_MODULES or "." in module:
            return None
        return f"import {module}" if module == var else f"import {module} as {var}"
    if not (isinstance(value, type) or inspect.isroutine(value)):
        return None
    module = getattr(value, "__module__", None)
    attr = getattr(value, "__name__", None)
    if not isinstance(module, str) or not isinstance(attr, str) or module not in MONTY_MODULES:
        return None
    try:
        if getattr(importlib.import_module(module), attr) is not value:
            return None
    except (ImportError, AttributeError):
        return None
    return f"from {module} import {attr}" if attr == var else f"from {module} import {attr} as {var}"


def _literal(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return repr(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return None
