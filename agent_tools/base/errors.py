"""One exception hierarchy for everything that can go wrong with a sandboxed run.

Every error is a value a person (or a model) reads: it says what went wrong,
where (the numbered code line with a pointer), and, where one applies, how to
fix it. `str(error)` is the full rendering; the structured fields stay on the
instance for programs that want them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Mapping, Sequence
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from agent_tools.base.record import RunRecord

__all__ = [
    "CallLimitError",
    "FatalToolError",
    "HostFunctionError",
    "InputValidationError",
    "MemoryLimitError",
    "OutputLimitError",
    "OutputValidationError",
    "RecursionLimitError",
    "ResourceLimitError",
    "SandboxError",
    "SandboxRuntimeError",
    "SandboxSyntaxError",
    "SecretError",
    "TimeLimitError",
    "TypeCheckError",
    "UnknownFunctionError",
    "WorkerCrashedError",
    "excerpt",
    "redact_text",
    "redacting",
    "redaction_scope",
    "stop_redacting",
]

_CONTEXT_LINES = 2
_MAX_REPR = 200


Redact = Callable[[str], str]
"""A function that replaces secret values in a text (`Redactor.text`)."""

_redact: ContextVar[Redact | None] = ContextVar("agent_tools_redact", default=None)
"""The current run's text redaction, while a run with secrets is under way."""


def redacting(redact: Redact | None) -> Token[Redact | None]:
    """Make `redact` the text redaction of the current context (a run with secrets)
    until `stop_redacting(token)`: `short_repr` (so `format_call` and every error
    message quoting a value) applies it to the whole repr before cutting it, so no
    cut can leave a part of a secret behind. Context variables follow the run into
    `contextvars.copy_context()` threads and asyncio tasks started inside it."""
    return _redact.set(redact)


def stop_redacting(token: Token[Redact | None]) -> None:
    """Undo the `redacting` call that returned `token` (in the same context)."""
    _redact.reset(token)


@contextlib.contextmanager
def redaction_scope(redact: Redact | None) -> Generator[None, None, None]:
    """`with redaction_scope(redactor.text): ...`: `redacting` for the block."""
    token = _redact.set(redact)
    try:
        yield
    finally:
        _redact.reset(token)


def redact_text(text: str) -> str:
    """`text` with the current run's secrets replaced (unchanged outside such a run):
    for code that cuts or formats text it did not get from `short_repr`."""
    redact = _redact.get()
    return text if redact is None else redact(text)


def short_repr(value: object, limit: int = _MAX_REPR) -> str:
    """`repr` cut to `limit` characters, saying how much was cut. Within `redacting`,
    secrets are replaced in the whole repr first."""
    text = repr(value)
    redact = _redact.get()
    if redact is not None:
        text = redact(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more chars)"


def format_call(name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """`name(1, 'a', key=2)`, each argument's repr shortened."""
    parts = [short_repr(a, 80) for a in args]
    parts += [f"{k}={short_repr(v, 80)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def excerpt(
    source: str,
    line: int,
    column: int | None = None,
    end_column: int | None = None,
    context: int = _CONTEXT_LINES,
) -> str:
    """The numbered lines around `line` (1-based), the failing one marked with `>`
    and, when the column is known, underlined with `^`."""
    lines = source.splitlines() or [""]
    if not 1 <= line <= len(lines):
        return ""
    first, last = max(1, line - context), min(len(lines), line + context)
    width = len(str(last))
    out: list[str] = []
    for n in range(first, last + 1):
        marker = ">" if n == line else " "
        out.append(f"{marker} {n:>{width}} | {lines[n - 1]}")
        if n == line and column is not None and column >= 1:
            text = lines[n - 1]
            end = end_column if end_column is not None and end_column > column else len(text.rstrip()) + 1
            carets = "^" * max(1, min(end, len(text) + 1) - column)
            out.append(f"  {' ' * width} | {' ' * (column - 1)}{carets}")
    return "\n".join(out)


class FatalToolError(Exception):
    """Raise this (or a subclass) from a registered function for a failure the model
    cannot fix, such as a bug or an outage on the host: `run_code` raises it to the
    caller instead of showing it to the model as something to retry."""


class SandboxError(Exception):
    """Root of every error agent-tools raises for a run.

    Attributes:
        message: what went wrong, in one sentence.
        source: the code that ran (after dedent), when the error is about code.
        line, column, end_column: 1-based position of the failing expression.
        hint: how to fix it, when there is a known fix.
        record: the run record up to the failure (host calls made, output printed),
            set by the template layer; the calls matter because they may have had
            side effects.
    """

    kind: ClassVar[str] = "sandbox error"

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
        end_column: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line
        self.column = column
        self.end_column = end_column
        self.hint = hint
        self.record: RunRecord | None = None
        self.traceback: str | None = None
        """Monty's full traceback of the sandboxed code, when there is one."""
        self.frames: list[dict[str, Any]] = []
        """The sandbox frames (filename, line, column, function_name, source_line)."""

    def code_excerpt(self) -> str:
        if self.source is None or self.line is None:
            return ""
        return excerpt(self.source, self.line, self.column, self.end_column)

    def headline(self) -> str:
        where = f" at line {self.line}" if self.line is not None else ""
        return f"{self.kind}{where}: {self.message}"

    def __str__(self) -> str:
        parts = [self.headline()]
        if code := self.code_excerpt():
            parts.append(code)
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class SandboxSyntaxError(SandboxError):
    """The code does not parse, or uses syntax Monty does not support."""

    kind = "syntax error"


class TypeCheckError(SandboxError):
    """The pre-flight type check rejected the code; nothing ran."""

    kind = "type check failed"

    def __init__(self, message: str, *, diagnostics: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.diagnostics = diagnostics


class SandboxRuntimeError(SandboxError):
    """The code raised an exception it did not catch.

    `exc_type` and `exc_message` are the sandbox exception's type name and text.
    """

    kind = "error in the code"

    def __init__(self, message: str, *, exc_type: str, exc_message: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.exc_type = exc_type
        self.exc_message = exc_message


class UnknownFunctionError(SandboxRuntimeError):
    """The code called a name that is neither defined nor registered."""

    kind = "unknown function"

    def __init__(self, message: str, *, name: str, available: Sequence[str], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.name = name
        self.available = list(available)


class HostFunctionError(SandboxError):
    """A registered function raised, and the code did not catch it.

    The original exception is `__cause__`.
    """

    kind = "registered function failed"

    def __init__(
        self,
        message: str,
        *,
        function: str,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.function = function
        self.call_args = tuple(args)
        self.call_kwargs = dict(kwargs)


class TimeLimitError(SandboxError, TimeoutError):
    """The run used more sandbox time (or sleep time) than `timeout_ms` allows."""

    kind = "time limit exceeded"


class ResourceLimitError(SandboxError):
    """A resource limit other than time was hit."""

    kind = "resource limit exceeded"


class MemoryLimitError(ResourceLimitError, MemoryError):
    kind = "memory limit exceeded"


class RecursionLimitError(ResourceLimitError, RecursionError):
    kind = "recursion limit exceeded"


class CallLimitError(ResourceLimitError):
    """More host calls than the per-run budget allows."""

    kind = "host call limit exceeded"


class OutputLimitError(ResourceLimitError):
    """More printed output than the per-run cap allows."""

    kind = "printed output limit exceeded"


class WorkerCrashedError(SandboxError):
    """The worker process running the code died; the pool replaced it."""

    kind = "sandbox worker crashed"


class SecretError(SandboxError, LookupError):
    """A declared secret is not set on the host; nothing ran. The host must fix this."""

    kind = "missing secret"


class InputValidationError(SandboxError, ValueError):
    """Inputs were missing, unknown, wrongly typed or too large; nothing ran."""

    kind = "invalid inputs"

    def __init__(self, message: str, *, problems: Sequence[str] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.problems = list(problems)

    def __str__(self) -> str:
        lines = [f"{self.kind}: {self.message}", *(f"  - {p}" for p in self.problems)]
        return "\n".join(lines)


class OutputValidationError(SandboxError, ValueError):
    """The code's result does not match the declared output type, or is too large."""

    kind = "invalid output"
