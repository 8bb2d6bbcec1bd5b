"""A paused run as a store keeps it: the sandbox dumped at the call that waits, the
call, what the run did before it (host calls, printed output, time), and what it
takes to check that a resume uses the same code and functions."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent_tools.base.approval import ApprovalTokenError, PendingApproval
from agent_tools.base.record import HostCall
from agent_tools.boundary.plain import type_name

if TYPE_CHECKING:
    from agent_tools.task.state import SessionState
    from agent_tools.task.template import CodeTaskTemplate

__all__ = ["PausedRun", "RecordedError", "check_token", "fingerprint", "new_token"]

_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")


def new_token() -> str:
    """A fresh resume token: 144 random bits, URL-safe."""
    return secrets.token_urlsafe(18)


def check_token(token: object) -> str:
    """`token` if it has the shape of a resume token; `ApprovalTokenError` otherwise."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        shown = repr(token) if len(repr(token)) <= 80 else repr(token)[:77] + "..."
        raise ApprovalTokenError(
            str(token)[:80],
            "unknown",
            f"{shown} is not a resume token (a token is 20 to 64 of A-Z a-z 0-9 _ -)",
        )
    return token


def fingerprint(template: CodeTaskTemplate) -> str:
    """What a resume must match: the code, the inputs, the output type and each
    registered function's name and signature."""
    h = hashlib.sha256()
    parts = [
        template._user_source,  # pyright: ignore[reportPrivateUsage]
        ",".join(template._user_input_names),  # pyright: ignore[reportPrivateUsage]
        type_name(template.interface.output_type),
        *(f"{name}{fn.signature}" for name, fn in sorted(template._functions.items())),  # pyright: ignore[reportPrivateUsage]
    ]
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


class RecordedError(Exception):
    """An error of a host call made before a pause, as read back from a store in
    another process: its type's name and its message."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"{self.type_name}({str(self)!r})"


@dataclass
class PausedRun:
    """One paused run. `template` and `state` are kept only in memory (a run paused in
    this process resumes without naming them); a store on disk keeps the rest."""

    token: str
    fingerprint: str
    snapshot: bytes
    source: str
    """The code, as the template holds it (a `CodeRunner` in another process rebuilds
    its template from it)."""
    function: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    arguments: dict[str, Any]
    line: int | None
    code_line: str
    calls: list[HostCall]
    stdout: str
    attempts: int
    host_time: float
    active_seconds: float
    """Wall-clock seconds the run has been running so far (time paused not counted)."""
    in_size: int
    """Bytes the inputs took (the output's limit counts them)."""
    created_at: float
    expires_at: float
    ref: str | None = None
    """A caller's own key for the run (a pydantic-ai tool call id), to find the token."""
    template: CodeTaskTemplate | None = field(default=None, repr=False, compare=False)
    state: SessionState | None = field(default=None, repr=False, compare=False)

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at

    def pending(self) -> PendingApproval:
        return PendingApproval(
            token=self.token,
            function=self.function,
            args=self.args,
            kwargs=dict(self.kwargs),
            arguments=dict(self.arguments),
            line=self.line,
            expires_at=self.expires_at,
            calls_made=len(self.calls),
            code_line=self.code_line,
        )

    # -- as plain data, for a store on disk -------------------------------------------

    def meta(self) -> dict[str, Any]:
        """Everything but the snapshot and the in-memory references, as plain data."""
        return {
            "source": self.source,
            "function": self.function,
            "args": list(self.args),
            "kwargs": dict(self.kwargs),
            "arguments": dict(self.arguments),
            "line": self.line,
            "code_line": self.code_line,
            "calls": [_call_meta(c) for c in self.calls],
            "stdout": self.stdout,
            "attempts": self.attempts,
            "host_time": self.host_time,
            "active_seconds": self.active_seconds,
            "in_size": self.in_size,
        }

    @classmethod
    def from_meta(
        cls,
        token: str,
        fingerprint: str,
        snapshot: bytes,
        meta: dict[str, Any],
        created_at: float,
        expires_at: float,
        ref: str | None,
    ) -> PausedRun:
        return cls(
            token=token,
            fingerprint=fingerprint,
            snapshot=snapshot,
            source=str(meta["source"]),
            function=str(meta["function"]),
            args=tuple(meta["args"]),
            kwargs=dict(meta["kwargs"]),
            arguments=dict(meta["arguments"]),
            line=meta["line"],
            code_line=str(meta["code_line"]),
            calls=[_call_from_meta(c) for c in meta["calls"]],
            stdout=str(meta["stdout"]),
            attempts=int(meta["attempts"]),
            host_time=float(meta["host_time"]),
            active_seconds=float(meta["active_seconds"]),
            in_size=int(meta["in_size"]),
            created_at=created_at,
            expires_at=expires_at,
            ref=ref,
        )


def _call_meta(call: HostCall) -> dict[str, Any]:
    error = call.error
    return {
        "function": call.function,
        "args": list(call.args),
        "kwargs": dict(call.kwargs),
        "result": call.result,
        "error": None if error is None else [getattr(error, "type_name", type(error).__name__), str(error)],
        "duration": call.duration,
        "attempt": call.attempt,
        "started_ns": call.started_ns,
        "approval": call.approval,
    }


def _call_from_meta(meta: dict[str, Any]) -> HostCall:
    error = meta["error"]
    return HostCall(
        function=str(meta["function"]),
        args=tuple(meta["args"]),
        kwargs=dict(meta["kwargs"]),
        result=meta["result"],
        error=None if error is None else RecordedError(str(error[0]), str(error[1])),
        duration=float(meta["duration"]),
        attempt=int(meta["attempt"]),
        started_ns=int(meta["started_ns"]),
        approval=meta["approval"],
    )
