"""Pausing a run at a call that needs a person's approval, and resuming it.

A run whose code names a function with an approval rule is fed with Monty's
`feed_start`: every host call surfaces as a snapshot, answered automatically
(`resume_auto`, the same registered-function closures `feed_run` uses) except the
calls to those functions, which this module answers itself. A call that must wait
is never made: the sandbox is dumped at it (`FunctionSnapshot.dump`) and the run
raises `Paused`. Resuming loads the dump into a fresh session
(`MontySession.load_snapshot`, which re-announces the same call) and answers it:
approved, the function runs now, once; denied, the code gets a `PermissionError`
at that line. Nothing before the pause runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pydantic_monty
from pydantic_monty import FunctionSnapshot, MontyComplete

from agent_tools.base import errors as e
from agent_tools.base.approval import ApprovalTokenError, approval_granted
from agent_tools.sandbox.functions import HostFunction
from agent_tools.sandbox.hostcalls import AskedForApproval, HostCalls

__all__ = ["Approvals", "Decision", "Paused"]


class Paused(Exception):
    """The run stopped at a call that needs approval: the sandbox dumped at that call
    (`snapshot`, Monty's bytes), and the call. Raised out of `Execution.run`."""

    def __init__(
        self,
        snapshot: bytes,
        fn: HostFunction,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        line: int | None,
    ) -> None:
        super().__init__(f"paused at {e.format_call(fn.name, args, kwargs)}")
        self.snapshot = snapshot
        self.function = fn.name
        self.args = args
        self.kwargs = kwargs
        self.request = fn.request(args, kwargs)
        self.line = line


@dataclass(frozen=True)
class Decision:
    """How a paused run goes on: its dump, the call it waits on, and the answer."""

    snapshot: bytes
    function: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    approve: bool
    reason: str | None = None


class Approvals(HostCalls):
    """The stepping feed of runs that may pause, and the answer to a paused call."""

    def _drive(self, snapshot: Any, gated: dict[str, HostFunction]) -> Any:
        """Answer snapshots until the code completes: calls to `gated` functions here,
        the rest automatically. Raises `Paused` at a call that must wait."""
        while not isinstance(snapshot, MontyComplete):
            if (
                isinstance(snapshot, FunctionSnapshot)
                and not snapshot.is_os_function
                and snapshot.object_id is None
            ):
                fn = gated.get(str(snapshot.function_name))
                if fn is not None:
                    snapshot = self._gated_call(snapshot, fn, approved=False)
                    continue
            snapshot = snapshot.resume_auto()
        return snapshot.output

    def _gated_call(self, snapshot: FunctionSnapshot, fn: HostFunction, *, approved: bool) -> Any:
        """Make (or pause at) a call to a function with an approval rule; the next snapshot."""
        args, kwargs = tuple(snapshot.args), dict(snapshot.kwargs)
        if self._abort is not None or self._limit_hit is not None or self._cancelled:
            return snapshot.resume({"exception": RuntimeError("the run was stopped")})
        if not approved and fn.needs_approval(args, kwargs):
            raise self._pause(snapshot, fn, args, kwargs)
        token = approval_granted.set(approved)
        self._gate_open, self._approving = True, approved
        before = len(self.calls)
        try:
            result: Any = {"return_value": self._invoke(fn, args, kwargs)}
        except AskedForApproval:
            raise self._pause(snapshot, fn, args, kwargs) from None
        except Exception as exc:  # what the code sees at the call
            result = {"exception": exc}
        finally:
            self._gate_open = self._approving = False
            approval_granted.reset(token)
        if approved and len(self.calls) > before:
            self.calls[before].approval = "approved"
        return snapshot.resume(result)

    def _pause(
        self, snapshot: FunctionSnapshot, fn: HostFunction, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Paused:
        data = snapshot.dump()
        start = getattr(snapshot.position, "start", None)
        line = None
        if isinstance(start, int):
            line = self.plan.code.encode("utf-8")[:start].count(b"\n") + 1
        return Paused(data, fn, args, kwargs, line)

    def _answer(
        self,
        session: pydantic_monty.MontySession,
        decision: Decision,
        lookup: dict[str, Any] | None,
        collector: Any,
    ) -> Any:
        """Load a paused run and answer the call it waits on; the next snapshot."""
        snapshot = session.load_snapshot(
            decision.snapshot, external_lookup=lookup, print_callback=collector, os=self._os
        )
        fn = self.functions.get(decision.function)
        if (
            not isinstance(snapshot, FunctionSnapshot)
            or fn is None
            or snapshot.function_name != decision.function
            or tuple(snapshot.args) != tuple(decision.args)
            or dict(snapshot.kwargs) != dict(decision.kwargs)
        ):
            raise ApprovalTokenError(
                "",
                "tampered",
                "the stored run does not wait on the call it was stored with: refusing to resume it",
            )
        if decision.approve:
            return self._gated_call(snapshot, fn, approved=True)
        args, kwargs = tuple(snapshot.args), dict(snapshot.kwargs)
        call = e.format_call(fn.name, (), fn.request(args, kwargs).arguments)
        denied = PermissionError(
            f"{call} was not approved" + (f": {decision.reason}" if decision.reason else "")
        )
        record = self._start_call(fn, args, kwargs)
        record.error, record.approval = denied, "denied"
        return snapshot.resume({"exception": denied})
