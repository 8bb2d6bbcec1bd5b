"""How the sandbox calls a pydantic-ai tool: with the serving run's `RunContext`, and
failing closed for a tool that needs approval or is deferred (see `CodeToolset`)."""

from __future__ import annotations

import contextvars
import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.exceptions import ApprovalRequired, CallDeferred

from agent_tools.base.approval import ApprovalRequested, approval_granted

__all__ = [
    "ApprovalRequiredStop",
    "CallDeferredStop",
    "catalog_note",
    "dress",
    "guarded",
    "refused",
    "run_context",
    "tool_ctx",
    "with_run_context",
]


class ApprovalRequiredStop(ApprovalRequested):
    """A function that needs a person's approval was called: the run pauses at the
    call (see `sandbox.approvals`), or, where it cannot pause (a call through
    `parallel_map`, or asked again after approval), stops.

    A BaseException rather than an Exception: the execution then stops the whole run
    with it, whatever the sandboxed code catches (see `Execution._stop`)."""


class CallDeferredStop(BaseException):
    """Stops a `run_code` run at a call to a function whose result comes from outside
    the agent run (a deferred, "external" tool), for the same reason."""


def _stop(name: str, kind: str, raised: str | None = None) -> BaseException:
    """What a call to `name` stops the run with; `raised` is the exception the
    function raised, when it got to run (None: it was not called)."""
    outcome = f"it raised {raised} and did not complete" if raised else "it was not called"
    tail = (
        f"{outcome}, and the run was stopped at this call: nothing after it took effect. "
        f"Leave {name} out of the code, and tell the user what you wanted it to do."
    )
    if kind == "unapproved":
        return ApprovalRequiredStop(
            f"{name} needs a person's approval, which this call cannot wait for (a run pauses for a "
            "person only at a direct call, outside parallel_map and asyncio.gather, of a tool marked "
            f"as needing approval or of a function that takes a RunContext and so sees it); {tail}"
        )
    return CallDeferredStop(
        f"{name} is deferred (its result comes from outside this agent run), "
        f"which run_code cannot wait for; {tail}"
    )


def catalog_note(name: str, kind: str) -> str:
    """The line a stub's docstring gets when a call cannot simply run."""
    if kind == "unapproved":
        return (
            "Needs a person's approval: a direct call pauses the run until a person decides; "
            "approved, it runs and returns as usual; denied, it raises PermissionError (with the "
            "reason) at the call. Calls through parallel_map or asyncio.gather cannot wait: "
            f"call {name} directly."
        )
    return (
        "Deferred: its result comes from outside this agent run, so run_code cannot call it "
        f"(a call stops the run; {name} does not run)."
    )


def tool_ctx(ctx: RunContext[Any], name: str) -> RunContext[Any]:
    """The context a registered function (or its `prepare`) gets: named for it, and
    approved only when a person approved this very call (the run paused at it and was
    resumed with approval), never because a person approved `run_code` itself."""
    return dataclasses.replace(
        ctx, tool_name=name, tool_call_approved=approval_granted.get(), tool_call_metadata=None
    )


run_context: contextvars.ContextVar[RunContext[Any] | None] = contextvars.ContextVar(
    "agent_tools_run_context", default=None
)
"""The `RunContext` of the `run_code` call being served: set around the run, and seen
by its host calls (the sandbox runs them in copies of the caller's context)."""


def with_run_context(func: Callable[..., Any], name: str, is_async: bool) -> Callable[..., Any]:
    """`func` with the serving run's context, named for `name`, as its first argument."""

    def context() -> RunContext[Any] | None:
        ctx = run_context.get()
        return tool_ctx(ctx, name) if ctx is not None else None

    if is_async:

        async def bound_async(*args: Any, **kwargs: Any) -> Any:
            return await func(context(), *args, **kwargs)

        return bound_async

    def bound(*args: Any, **kwargs: Any) -> Any:
        return func(context(), *args, **kwargs)

    return bound


def guarded(func: Callable[..., Any], name: str, is_async: bool) -> Callable[..., Any]:
    """`func`, with `ApprovalRequired` and `CallDeferred` turned into a stop of the run
    (an Exception the code could catch and go on from)."""
    if is_async:

        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await func(*args, **kwargs)
            except ApprovalRequired as exc:
                raise _stop(name, "unapproved", "ApprovalRequired") from exc
            except CallDeferred as exc:
                raise _stop(name, "external", "CallDeferred") from exc

        return guarded_async

    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ApprovalRequired as exc:
            raise _stop(name, "unapproved", "ApprovalRequired") from exc
        except CallDeferred as exc:
            raise _stop(name, "external", "CallDeferred") from exc

    return guarded


def refused(name: str, kind: str, is_async: bool) -> Callable[..., Any]:
    """A stand-in that stops the run without calling the function."""
    if is_async:

        async def refused_async(*args: Any, **kwargs: Any) -> Any:
            raise _stop(name, kind)

        return refused_async

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise _stop(name, kind)

    return refused


def dress(
    wrapper: Callable[..., Any], name: str, doc: str | None, signature: inspect.Signature | None
) -> None:
    """Name and document `wrapper` for the stubs, and give it `signature` (with the
    `__annotations__` that match it, which pydantic's validation reads)."""
    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = doc
    if signature is None:
        return
    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    annotations = {p.name: p.annotation for p in signature.parameters.values() if p.annotation is not p.empty}
    if signature.return_annotation is not signature.empty:
        annotations["return"] = signature.return_annotation
    wrapper.__annotations__ = annotations
