"""What a run leaves behind: its result, every host call, what it printed, timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent_tools.base.approval import PendingApproval
    from agent_tools.base.errors import SandboxError

__all__ = ["HostCall", "RunRecord"]


@dataclass
class HostCall:
    """One call from the sandboxed code to a registered function."""

    function: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    result: Any = None
    error: BaseException | None = None
    duration: float = 0.0
    """Seconds spent in the host function."""
    attempt: int = 1
    """Which attempt of the run made the call (see `retries`)."""
    started_ns: int = 0
    """When the call started (`time.time_ns()`), for tracing."""
    approval: str | None = None
    """For a call that waited for a person: "approved" (it ran) or "denied" (it did
    not; the code got a PermissionError). None for every other call."""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class RunRecord:
    """The outcome of one `run(template, **inputs)`.

    `duration` is wall-clock seconds for the whole run (validation included);
    `host_time` the part spent inside registered functions.
    """

    result: Any = None
    calls: list[HostCall] = field(default_factory=lambda: [])
    stdout: str = ""
    duration: float = 0.0
    host_time: float = 0.0
    attempts: int = 0
    cached: bool = False
    errors: list[SandboxError] = field(default_factory=lambda: [])
    """The error of each failed attempt, oldest first."""
    traceback: str | None = None
    """With `debuggable=True`: Monty's traceback of the failure, sandbox frames and source lines."""
    frames: list[dict[str, Any]] = field(default_factory=lambda: [])
    """With `debuggable=True`: the failure's sandbox frames, innermost last."""
    report_path: Path | None = None
    """With `report=True`: the HTML report of this run."""
    pending: PendingApproval | None = None
    """Set when the run paused at a call that needs a person's approval: the call,
    and the token that resumes the run (`agent_tools.resume`)."""

    @property
    def status(self) -> str:
        """ "waiting for approval" (see `pending`), "failed" or "ok"."""
        if self.pending is not None:
            return "waiting for approval"
        # Each failed attempt left an error; a retry that succeeded left fewer errors
        # than attempts. A failure outside any attempt (inputs, output) adds one more.
        if self.errors and len(self.errors) >= max(self.attempts, 1):
            return "failed"
        return "ok"
