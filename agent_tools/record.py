"""What a run leaves behind: its result, every host call, what it printed, timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import SandboxError

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
