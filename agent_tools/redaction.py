"""Keeping secret values out of everything a run leaves behind.

The code may read a secret (`os.getenv`) and pass it to a registered function,
which needs the real value. Everything recorded about the run (printed output,
host-call arguments and results, the result, errors and their causes, reports)
gets each secret value replaced by `[secret NAME]`.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import HostFunctionError, InputValidationError, SandboxError, SandboxRuntimeError, TypeCheckError
from .record import RunRecord

__all__ = ["Redactor"]


class Redactor:
    """Replaces the values of `secrets` (env var name -> value) wherever they occur."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._pairs = sorted(((v, k) for k, v in secrets.items() if v), key=lambda p: -len(p[0]))

    def __bool__(self) -> bool:
        return bool(self._pairs)

    def text(self, text: str) -> str:
        for value, name in self._pairs:
            if value in text:
                text = text.replace(value, f"[secret {name}]")
        return text

    def contains(self, text: str) -> bool:
        return any(value in text for value, _ in self._pairs)

    def value(self, value: Any) -> Any:
        """A copy of plain data with secrets replaced in every string (and bytes)."""
        if not self._pairs:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.text(value.decode("utf-8", "replace")).encode() if self._in_bytes(value) else value
        if isinstance(value, dict):
            mapping = typing.cast(dict[Any, Any], value)
            return {self.value(k): self.value(v) for k, v in mapping.items()}
        if isinstance(value, list):
            return [self.value(v) for v in typing.cast(list[Any], value)]
        if isinstance(value, (tuple, set, frozenset)):
            items = [self.value(v) for v in typing.cast(Iterable[Any], value)]
            return typing.cast(Callable[[list[Any]], Any], type(value))(items)  # pyright: ignore[reportUnknownArgumentType]
        return value

    def _in_bytes(self, data: bytes) -> bool:
        return any(value.encode() in data for value, _ in self._pairs)

    def exception(self, exc: BaseException) -> BaseException:
        """`exc`, or a stand-in of the same name when its text holds a secret."""
        if self.contains(str(exc)) or self.contains(repr(exc.args)):
            return RuntimeError(f"{type(exc).__name__}: {self.text(str(exc))}")
        return exc

    def error(self, err: SandboxError) -> None:
        """Redact an error in place: its texts, its fields and its cause."""
        if not self._pairs:
            return
        err.message = self.text(err.message)
        err.args = (err.message,)
        if err.hint:
            err.hint = self.text(err.hint)
        if err.source:
            err.source = self.text(err.source)
        if err.traceback:
            err.traceback = self.text(err.traceback)
        err.frames = [self.value(f) for f in err.frames]
        if isinstance(err, SandboxRuntimeError):
            err.exc_message = self.text(err.exc_message)
        if isinstance(err, HostFunctionError):
            err.call_args = self.value(err.call_args)
            err.call_kwargs = self.value(err.call_kwargs)
        if isinstance(err, InputValidationError):
            err.problems = [self.text(p) for p in err.problems]
        if isinstance(err, TypeCheckError):
            err.diagnostics = self.text(err.diagnostics)
        for attr in ("__cause__", "__context__"):
            linked = getattr(err, attr)
            if linked is not None and self.contains(f"{linked} {linked.args!r}"):
                setattr(err, attr, None)
                err.__suppress_context__ = True

    def record(self, record: RunRecord) -> None:
        """Redact a run record in place."""
        if not self._pairs:
            return
        record.stdout = self.text(record.stdout)
        record.result = self.value(record.result)
        for call in record.calls:
            call.args = self.value(call.args)
            call.kwargs = self.value(call.kwargs)
            call.result = self.value(call.result)
            if call.error is not None:
                call.error = self.exception(call.error)
        if record.traceback:
            record.traceback = self.text(record.traceback)
        record.frames = [self.value(f) for f in record.frames]
        for err in record.errors:
            self.error(err)
