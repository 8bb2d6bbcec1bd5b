"""Error classification: Monty's exceptions become the project's `SandboxError`s, with
the line, the limit that fired, the host call that failed and a hint.
"""

from __future__ import annotations

import builtins
import dataclasses
import difflib
import re
import time
from collections.abc import Mapping
from typing import Any

import pydantic_monty
from pydantic_monty import MontyError

from agent_tools.base import errors as e
from agent_tools.base.prompts import hint
from agent_tools.base.record import HostCall
from agent_tools.sandbox.core import ExecutionCore
from agent_tools.sandbox.functions import FLYTE_MAP, PARALLEL_MAP, HostFunction
from agent_tools.sandbox.preflight import (
    CALLBACK_RULE,
    MAP_FUNCTION_RULE,
    MONTY_BUILTINS,
    MONTY_MODULE_NAMES,
    MONTY_MODULES,
    Problem,
)
from agent_tools.sandbox.source import ColumnShifts, original_column

__all__ = ["Classifier", "blocks", "cause_of", "frame_location", "preflight_error"]


_NAME_ERROR = re.compile(r"name '([^']+)' is not defined")

_MAP_UNKNOWN = re.compile(r"(?:parallel_map|flyte_map): '([^']*)' is not a registered function")


class Classifier(ExecutionCore):
    """Turns whatever Monty raised into the `SandboxError` that names it: only the
    execution knows which host call failed and which limits were set."""

    def _location(self, exc: MontyError) -> dict[str, Any]:
        where = frame_location(exc)
        shifts = self.plan.shifts
        if shifts and "line" in where:
            line = where["line"]
            where["column"] = original_column(shifts, line, where.get("column"))
            if "end_column" in where:
                where["end_column"] = original_column(shifts, line, where["end_column"])
        return where

    def _classify(self, exc: MontyError) -> e.SandboxError:
        if isinstance(exc, pydantic_monty.MontyTypingError):
            return _typing_error(exc, self.source, self.plan.shifts, self.functions)
        if self._cancel_error is not None:  # stopped from outside: say why, not how
            self._cancel_error.source = self.source
            return self._cancel_error
        if isinstance(exc, pydantic_monty.MontyCrashedError):
            if self._limit_hit is not None:  # the output cap, which stops the worker
                self._limit_hit.source = self.source
                return self._limit_hit
            elapsed_ms = (time.perf_counter() - self._started - self.host_time) * 1000
            if exc.timed_out or elapsed_ms >= self.limits.timeout_ms:
                return e.TimeLimitError(
                    f"the code ran past timeout_ms={self.limits.timeout_ms} and its worker was stopped",
                    source=self.source,
                )
            return e.WorkerCrashedError(f"{exc} (the pool has replaced the worker)", source=self.source)
        if isinstance(exc, pydantic_monty.MontyConversionError):
            return e.InputValidationError(f"an input cannot cross into the sandbox: {exc}")
        inner = exc.exception()
        etype, message = type(inner).__name__, str(inner)
        where = self._location(exc)
        if isinstance(exc, pydantic_monty.MontySyntaxError):
            return e.SandboxSyntaxError(message, source=self.source, **where)
        if self._limit_hit is not None:
            hit = self._limit_hit
            hit.source, hit.line = self.source, where.get("line")
            hit.column, hit.end_column = where.get("column"), where.get("end_column")
            return hit
        return self._runtime_error(etype, message, where)

    def _runtime_error(self, etype: str, message: str, where: dict[str, Any]) -> e.SandboxError:
        lim = self.limits
        text = f"{etype}: {message}"
        kw: dict[str, Any] = {"source": self.source, **where}
        if etype == "TimeoutError" and "limit exceeded" in message:
            seconds = lim.timeout_ms / 1000
            return e.TimeLimitError(
                f"time limit exceeded: the code ran longer than timeout_ms={lim.timeout_ms} "
                f"({seconds:g} s of sandbox time; time in registered functions is not counted)",
                hint=hint("time-limit"),
                **kw,
            )
        if etype == "MemoryError":  # the heap limit, or an allocation the worker refused
            return e.MemoryLimitError(f"{message} (max_memory={lim.max_memory})", **kw)
        if etype == "RecursionError":
            return e.RecursionLimitError(
                f"{message} (max_stack_depth={lim.max_stack_depth})",
                hint=hint("recursion"),
                **kw,
            )
        if etype == "RuntimeError" and message.startswith("suspension limit"):
            return e.CallLimitError(f"{message}: too many calls out of the sandbox", **kw)
        failed = self._last_failed
        if failed is not None and self._raised_here(failed, etype, kw.get("line")):
            args_text = e.format_call(failed.function, failed.args, failed.kwargs)
            error = e.HostFunctionError(
                f"{args_text} raised {type(failed.error).__name__}: {failed.error}",
                function=failed.function,
                args=failed.args,
                kwargs=failed.kwargs,
                **kw,
            )
            error.__cause__ = failed.error
            return error
        if etype == "NameError" and (m := _MAP_UNKNOWN.match(message)):
            return self._unknown_function(m.group(1), text, kw)
        if etype == "NameError" and (m := _NAME_ERROR.search(message)):
            return self._name_error(m.group(1), text, kw)
        if etype == "NotImplementedError" and "does not yet support" in message:
            return e.SandboxSyntaxError(message, hint=_unsupported_hint(message), **kw)
        return e.SandboxRuntimeError(
            text, exc_type=etype, exc_message=message, hint=_hint(etype, message), **kw
        )

    def _raised_here(self, failed: HostCall, etype: str, line: int | None) -> bool:
        """Whether the sandbox's uncaught exception is the one `failed` raised: the
        same exception type (Monty maps a custom class to its nearest builtin base)
        raised on a line that calls the function."""
        if failed.error is None:
            return False
        if etype not in {cls.__name__ for cls in type(failed.error).__mro__}:
            return False
        text = _source_line(self.source, line)
        return any(
            re.search(rf"\b{re.escape(name)}\b", text) for name in (failed.function, PARALLEL_MAP, FLYTE_MAP)
        )

    def _unknown_function(self, name: str, text: str, kw: dict[str, Any]) -> e.SandboxError:
        available = sorted(self.functions)
        return e.UnknownFunctionError(
            f"{name!r} is not a registered function (registered: {', '.join(available) or 'none'})",
            name=name,
            available=available,
            exc_type="NameError",
            exc_message=text,
            hint=unknown_function_hint(name, self.functions),
            **kw,
        )

    def _name_error(self, name: str, text: str, kw: dict[str, Any]) -> e.SandboxError:
        registered = ", ".join(sorted(self.functions)) or "none"
        line = _source_line(self.source, kw.get("line"))
        if re.search(rf"\b{re.escape(name)}\s*\(", line):
            return self._unknown_function(name, text, kw)
        return e.SandboxRuntimeError(
            text,
            exc_type="NameError",
            exc_message=text,
            hint=hint("undefined-name", name=name, registered=registered),
            **kw,
        )


def cause_of(exc: MontyError) -> BaseException:
    try:
        return exc.exception()
    except Exception:
        return exc


def frame_location(exc: MontyError) -> dict[str, Any]:
    """Line and columns of the innermost frame, for the excerpt's pointer."""
    frames = (
        exc.traceback()
        if isinstance(exc, (pydantic_monty.MontyRuntimeError, pydantic_monty.MontySyntaxError))
        else []
    )
    if not frames:
        return {}
    # The innermost frame of the user's code: frames of exec()/eval() strings have
    # their own line numbers, which would point at the wrong line.
    own = [f for f in frames if f.filename != "<string>"]
    frame = (own or frames)[-1]
    out: dict[str, Any] = {"line": frame.line, "column": frame.column}
    if frame.end_line == frame.line:
        out["end_column"] = frame.end_column
    return out


_TYPING_POSITION = re.compile(r"^\S+?:(\d+):(\d+): (.*)$", re.MULTILINE)

_BLOCKING = frozenset(
    {
        "invalid-syntax",
        "unresolved-reference",
        "unresolved-import",
        "unknown-argument",
        "missing-argument",
        "too-many-positional-arguments",
        "parameter-already-assigned",
    }
)

_DIAGNOSTIC = re.compile(r"error\[([a-z-]+)\] (.*)")

_UNDEFINED = re.compile(r"Name `([^`]+)` used when not defined")

_LENIENT = MONTY_BUILTINS | {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}


def blocks(exc: pydantic_monty.MontyTypingError, functions: Mapping[str, HostFunction]) -> bool:
    """Whether the checker's complaints should stop the run: wrong calls to registered
    functions, unknown names and modules, syntax. Its other complaints (a value that
    may be None, an attribute on a union) are often wrong about valid dynamic code:
    measured on the eval datasets, they rejected 2 of 48 correct reference programs."""
    for code, text in _DIAGNOSTIC.findall(exc.display()):
        if code == "unresolved-reference" and (name := _UNDEFINED.search(text)) and name.group(1) in _LENIENT:
            # The checker's stubs lack some builtins the sandbox has (PermissionError,
            # ...); an exception class the sandbox lacks is an error only if reached
            # (`except ConnectionError:` around a call that does not raise runs).
            continue
        if code in _BLOCKING:
            return True
        if code == "invalid-argument-type" and any(f"function `{name}`" in text for name in functions):
            return True
    return False


def preflight_error(
    problems: list[Problem], source: str, shifts: ColumnShifts, functions: Mapping[str, HostFunction]
) -> e.TypeCheckError:
    """The error for what the pre-flight check refused: shaped as the type check's, so a
    caller handles both alike (`diagnostics` names each rule as Monty's checker does)."""
    if shifts:
        problems = [_unshifted(p, shifts) for p in problems]
    first = problems[0]
    column, end_column = first.column, first.end_column
    return e.TypeCheckError(
        "; ".join(f"error[{p.code}] {p.message}" for p in problems),
        diagnostics="\n".join(p.diagnostic() for p in problems),
        source=source,
        line=first.line,
        column=column,
        end_column=end_column,
        hint=_preflight_hint(first, source, functions),
    )


def _unshifted(problem: Problem, shifts: ColumnShifts) -> Problem:
    """`problem` with its columns in the code as written (see `source.wrap_map_iterables`)."""
    end = problem.end_column
    return dataclasses.replace(
        problem,
        column=original_column(shifts, problem.line, problem.column) or problem.column,
        end_column=original_column(shifts, problem.line, end) if end is not None else None,
    )


def _preflight_hint(problem: Problem, source: str, functions: Mapping[str, HostFunction]) -> str:
    """The hint for the first problem: as the type check's, but an unknown name that is
    not called is a variable to define, not a function to register."""
    member = (
        _NO_MEMBER.search(problem.message)
        if problem.code in ("unresolved-import", "unresolved-attribute")
        else None
    )
    if member is not None:
        return f"nothing ran; {_import_name_hint(member.group(1), member.group(2))}"
    if problem.code == MAP_FUNCTION_RULE:
        registered = ", ".join(sorted(functions)) or "none"
        return f"nothing ran; {hint('map-function', registered=registered)}"
    if problem.code == CALLBACK_RULE:
        called = problem.message.split("`")[1]
        return f"nothing ran; {hint('callback-call', name=called)}"
    name = _UNDEFINED.search(problem.message)
    if problem.code == "unresolved-reference" and name is not None:
        called = re.search(rf"\b{re.escape(name.group(1))}\s*\(", _source_line(source, problem.line))
        if not called:
            registered = ", ".join(sorted(functions)) or "none"
            return f"nothing ran; {hint('undefined-name', name=name.group(1), registered=registered)}"
    return _typing_hint(f"error[{problem.code}] {problem.message}", functions)


def _typing_error(
    exc: pydantic_monty.MontyTypingError,
    source: str,
    shifts: ColumnShifts,
    functions: Mapping[str, HostFunction] | None = None,
) -> e.SandboxError:
    diagnostics = exc.display().strip()
    first = _TYPING_POSITION.search(diagnostics)
    if first is None:
        return e.TypeCheckError(
            diagnostics.splitlines()[0] if diagnostics else str(exc), diagnostics=diagnostics
        )
    problems = [m.group(3) for m in _TYPING_POSITION.finditer(diagnostics)]
    message = "; ".join(problems)
    if "error[invalid-syntax]" in first.group(3):
        # The checker parses first, so a syntax error surfaces here: report it as one.
        text = first.group(3).replace("error[invalid-syntax] ", "")
        return e.SandboxSyntaxError(text, source=source, line=int(first.group(1)), column=int(first.group(2)))
    line = int(first.group(1))
    column = original_column(shifts, line, int(first.group(2))) if shifts else int(first.group(2))
    return e.TypeCheckError(
        message,
        diagnostics=diagnostics,
        source=source,
        line=line,
        column=column,
        hint=_typing_hint(first.group(3), functions),
    )


_UNRESOLVED_MODULE = re.compile(r"error\[unresolved-import\].*`([\w.]+)`")


def unknown_function_hint(name: str, functions: Mapping[str, HostFunction]) -> str:
    """The hint for a call to a name that is not registered: the closest registered
    names first, when some are close."""
    registered = sorted(functions)
    close = difflib.get_close_matches(name, registered, n=3, cutoff=0.6) if name else []
    closest = f"did you mean {' or '.join(f'`{c}`' for c in close)}? " if close else ""
    return hint("unknown-function", closest=closest, registered=", ".join(registered) or "none")


def missing_module_hint(module: str) -> str:
    if module in ("heapq", "statistics"):
        return hint(module)
    return hint(
        "module-missing", modules=", ".join(m for m in sorted(MONTY_MODULES) if m not in _PRIVATE_MODULES)
    )


_PRIVATE_MODULES = frozenset({"posixpath", "binascii"})


def _typing_hint(problem: str, functions: Mapping[str, HostFunction] | None = None) -> str:
    """The hint for the checker's first complaint, in the same words as at run time."""
    if module := _UNRESOLVED_MODULE.search(problem):
        name = module.group(1)
        return f"nothing ran; {missing_module_hint(name)}"
    if "error[unresolved-reference]" in problem:
        name = _UNDEFINED.search(problem)
        called = name.group(1) if name else ""
        return f"nothing ran; {unknown_function_hint(called, functions or {})}"
    return hint("type-check")


def _source_line(source: str, line: int | None) -> str:
    lines = source.splitlines()
    return lines[line - 1] if line is not None and 1 <= line <= len(lines) else ""


def _unsupported_hint(message: str) -> str:
    if "'del'" in message:
        return hint("del")
    if "inheritance" in message:
        return hint("inheritance")
    return hint("unsupported-syntax")


_MISSING_MODULE = re.compile(r"No module named '([^']+)'")
_MODULE_ATTRIBUTE = re.compile(r"module '([^']+)' has no attribute '([^']+)'")
_NO_MEMBER = re.compile(r"Module `([^`]+)` has no member `([^`]+)`")
_MISSING_NAME = re.compile(r"cannot import name '([^']+)' from '([^']+)'")
_NO_ATTRIBUTE = re.compile(r"'(\w+)'(?: object)? has no attribute '(\w+)'")
_BUILTIN_TYPES = {t.__name__: t for t in (dict, list, str, set, frozenset, tuple, bytes, int, float)}


def _import_name_hint(module: str, name: str) -> str:
    has = MONTY_MODULE_NAMES.get(module)
    listed = ", ".join(sorted(has)) if has else "see the capability sheet"
    return hint("import-name", module=module, name=name, has=listed)


def _method_as_value(message: str) -> tuple[str, str] | None:
    """(type, method) when Monty says a builtin type has no attribute that Python's
    type has: the method exists in the sandbox as a call (`d.get(k)`), not as a value
    (`key=d.get`, `map(str.upper, xs)`)."""
    named = _NO_ATTRIBUTE.search(message)
    if named is None:
        return None
    owner, attr = named.group(1), named.group(2)
    kind = _BUILTIN_TYPES.get(owner)
    if kind is None or attr.startswith("_") or not hasattr(kind, attr):
        return None
    return owner, attr


_CANNOT_SUSPEND = re.compile(r"external function '([^']+)' cannot suspend")
"""Monty's words for a registered function called from a callback a builtin makes."""


def _hint(etype: str, message: str) -> str | None:
    if etype == "ImportError" and (name := _MISSING_NAME.search(message)) is not None:
        return _import_name_hint(name.group(2), name.group(1))
    if etype in ("ModuleNotFoundError", "ImportError"):
        missing = _MISSING_MODULE.search(message)
        module = missing.group(1) if missing else ""
        return missing_module_hint(module)
    if etype == "RuntimeError" and "is not supported in this environment" in message:
        if "datetime" in message or "time." in message or "date." in message:
            return hint("clock")
        if "urandom" in message:
            return hint("entropy")
        return hint("no-os")
    if etype == "TypeError" and "can't be awaited" in message:
        return hint("await")
    if etype == "AttributeError" and (member := _MODULE_ATTRIBUTE.search(message)) is not None:
        module, name = member.group(1), member.group(2)
        return _import_name_hint(module, name) if module in MONTY_MODULE_NAMES else None
    if etype == "AttributeError" and (method := _method_as_value(message)) is not None:
        return hint("method-value", owner=method[0], method=method[1])
    if etype == "NotImplementedError" and (suspended := _CANNOT_SUSPEND.search(message)):
        return hint("callback-call", name=suspended.group(1))
    return None
