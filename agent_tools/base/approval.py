"""Approvals: registered functions whose calls a person must approve first.

A run that reaches such a call pauses there (the sandbox is dumped at that call,
nothing after it has run), and `resume(token, approve=...)` continues it later,
possibly in another process. This module holds what every layer shares: how a
function says it needs approval (`requires_approval`, or raising
`ApprovalRequested` from inside), what a pending call looks like
(`PendingApproval`), and the errors of a resume.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from agent_tools.base.record import RunRecord

__all__ = [
    "APPROVAL_ATTR",
    "ApprovalPending",
    "ApprovalRequest",
    "ApprovalRequested",
    "ApprovalRule",
    "ApprovalTokenError",
    "PendingApproval",
    "approval_granted",
    "approval_rule",
    "asks_for_approval",
    "call_approved",
    "requires_approval",
]

APPROVAL_ATTR = "__agent_tools_approval__"
"""The attribute `requires_approval` puts on a function: its `ApprovalRule`."""

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ApprovalRequest:
    """One call that may need approval, as a `when=` predicate sees it."""

    function: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    arguments: Mapping[str, Any]
    """The arguments by parameter name (positions bound to the signature, defaults
    filled in); the positions and keywords as given when they do not bind."""


@dataclass(frozen=True)
class ApprovalRule:
    """When a registered function's calls need a person's approval: every call
    (`when` None), or those for which `when(request)` is true. With `self_decides`,
    no call waits up front: the function asks, by raising `ApprovalRequested` (what a
    pydantic-ai tool's `ApprovalRequired` becomes)."""

    when: Callable[[ApprovalRequest], bool] | None = None
    self_decides: bool = False

    def needs(self, request: ApprovalRequest) -> bool:
        """Whether this call needs approval before it runs. A predicate that raises is
        taken as "yes": when in doubt, a person decides."""
        if self.self_decides:
            return False
        if self.when is None:
            return True
        try:
            return bool(self.when(request))
        except Exception:
            return True


@overload
def requires_approval(func: F, /, *, when: Callable[[ApprovalRequest], bool] | None = None) -> F: ...
@overload
def requires_approval(
    func: None = None, /, *, when: Callable[[ApprovalRequest], bool] | None = None
) -> Callable[[F], F]: ...
def requires_approval(func: Any = None, /, *, when: Callable[[ApprovalRequest], bool] | None = None) -> Any:
    """Mark a function so that code calling it pauses for a person's approval.

        @requires_approval
        def delete_user(user_id: int) -> None: ...

        @requires_approval(when=lambda call: call.arguments["amount"] > 100)
        def refund(order_id: int, amount: float) -> str: ...

    With `when`, only the calls it returns true for wait (it gets an
    `ApprovalRequest`; if it raises, the call waits too). Returns the function
    itself, marked; a callable that cannot take an attribute (a bound method, a
    builtin) is wrapped. Approved, the call runs once, when the run resumes; denied,
    it raises `PermissionError` in the sandbox at the call, with the reason.
    """
    if when is not None and not callable(when):
        raise TypeError(f"requires_approval: when= must be a callable taking the call, got {when!r}")
    rule = ApprovalRule(when)

    def mark(target: F) -> F:
        if not callable(target):
            raise TypeError(f"requires_approval: {target!r} is not callable")
        try:
            setattr(target, APPROVAL_ATTR, rule)
            return target
        except (AttributeError, TypeError):

            @functools.wraps(target)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return target(*args, **kwargs)

            setattr(wrapper, APPROVAL_ATTR, rule)
            return wrapper  # type: ignore[return-value]

    return mark if func is None else mark(func)


def asks_for_approval(func: F) -> F:
    """Mark `func` as one that may ask for approval itself, by raising
    `ApprovalRequested` (no call waits up front). The pydantic-ai adapter marks its
    tools so; a plain function may be marked too."""
    setattr(func, APPROVAL_ATTR, ApprovalRule(self_decides=True))
    return func


def approval_rule(func: Callable[..., Any]) -> ApprovalRule | None:
    """The rule `requires_approval` put on `func`, if any."""
    rule = getattr(func, APPROVAL_ATTR, None)
    return rule if isinstance(rule, ApprovalRule) else None


class ApprovalRequested(BaseException):
    """Raised by a registered function (before it has any effect) to ask for a
    person's approval of the call it is serving: the run pauses at the call, and on
    approval the function is called again with `call_approved()` true. pydantic-ai's
    `ApprovalRequired` is turned into it. A BaseException, so the code in the sandbox
    never sees it; where the run cannot pause (a call through `parallel_map`), it
    stops the run."""


approval_granted: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "agent_tools_call_approved", default=False
)
"""True while a registered function serves a call a person approved."""


def call_approved() -> bool:
    """Inside a registered function: whether a person approved the call it serves.
    A function that decides for itself raises `ApprovalRequested` while this is false."""
    return approval_granted.get()


@dataclass
class PendingApproval:
    """A call a paused run waits on: what to show the person who decides, and the
    token that resumes the run (`agent_tools.resume(token, approve=...)`)."""

    token: str
    function: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    arguments: dict[str, Any]
    """The arguments by parameter name (see `ApprovalRequest.arguments`)."""
    line: int | None
    """The line of the call in the code, 1-based."""
    expires_at: float
    """When the paused run expires (`time.time()` seconds); resuming after it fails."""
    calls_made: int = 0
    """Host calls the run made before it paused (they are never made again)."""
    code_line: str = ""
    """The text of that line, stripped."""
    extra: dict[str, Any] = field(default_factory=lambda: {})

    def describe(self) -> str:
        """The call as a person reads it, every argument by name:
        `refund(order_id=7, amount=120.0)`."""
        from agent_tools.base.errors import format_call

        if self.arguments or not (self.args or self.kwargs):
            return format_call(self.function, (), self.arguments)
        return format_call(self.function, self.args, self.kwargs)


class ApprovalPending(Exception):
    """The run paused at a call that needs a person's approval. Raised where a run
    must produce its result (`template(...)`, `await template.aio(...)`); `run()`
    returns the record instead. `record.pending` names the call and holds the token."""

    def __init__(self, record: RunRecord) -> None:
        pending = record.pending
        assert pending is not None
        super().__init__(
            f"the run is waiting for approval of {pending.describe()} (line {pending.line}); "
            f"resume it with agent_tools.resume({pending.token!r}, approve=True or False)"
        )
        self.record = record
        self.pending = pending
        self.token = pending.token


class ApprovalTokenError(LookupError):
    """A resume that cannot go on, and nothing ran: the token is unknown, expired,
    already used, its stored run fails its integrity check, or the template given
    is not the one that paused. `reason` is one of "unknown", "expired", "used",
    "tampered", "mismatch" or "unavailable"."""

    def __init__(self, token: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.token = token
        self.reason = reason
