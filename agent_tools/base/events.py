"""Live events of a run: what happens, as it happens.

A run with a listener (`agent_tools.run(template, on_event=...)`, `CodeRunner.run(...,
on_event=...)`, `agent_tools.stream(...)`) emits, in order: `RunStarted`, then for
each host call `CallStarted` and `CallFinished`, `Printed` for what the code prints,
`LimitHit` when a limit stops it, `AttemptFailed` before a retry, `Paused` when it
waits for approval, and last `RunFinished`. Values in events (arguments, results,
printed text) are redacted like the run record and cut to `EVENT_VALUE_BYTES` (or
the template's `max_recorded_value_bytes`, if smaller).

Listeners are called on the thread where the event happens (a run's feeding
thread, a `parallel_map` lane), so a listener must be quick and thread-safe; an
exception it raises is swallowed (it never changes the run). With no listener, no
event is built.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "EVENT_VALUE_BYTES",
    "AttemptFailed",
    "CallFinished",
    "CallStarted",
    "EventSink",
    "LimitHit",
    "Paused",
    "Printed",
    "RunEvent",
    "RunFinished",
    "RunStarted",
    "event_sink",
]

EVENT_VALUE_BYTES = 4096
"""The most an event keeps of one value (an argument list, a result, a printed
chunk): longer values are cut, saying how much was cut (see `boundary.measure.preview`)."""


@dataclass(frozen=True, kw_only=True)
class RunEvent:
    """One thing that happened in a run. `run_id` tells apart the runs of one listener;
    `at` is `time.time()` when it happened, `elapsed` the seconds since the run began."""

    kind: ClassVar[str] = "event"
    run_id: str
    at: float = field(default_factory=time.time)
    elapsed: float = 0.0


@dataclass(frozen=True, kw_only=True)
class RunStarted(RunEvent):
    kind: ClassVar[str] = "run_started"
    name: str
    code: str
    """The code (cut to `EVENT_VALUE_BYTES`)."""
    limits: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class CallStarted(RunEvent):
    kind: ClassVar[str] = "call_started"
    index: int
    """The call's place among the run's host calls, from 0 (as in `RunRecord.calls`)."""
    function: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class CallFinished(RunEvent):
    kind: ClassVar[str] = "call_finished"
    index: int
    function: str
    ok: bool
    result: Any = None
    error: str | None = None
    """`"TypeName: message"` when the call raised."""
    duration: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Printed(RunEvent):
    kind: ClassVar[str] = "printed"
    text: str
    stream: str = "stdout"


@dataclass(frozen=True, kw_only=True)
class LimitHit(RunEvent):
    kind: ClassVar[str] = "limit_hit"
    limit: str
    """The error's class: `TimeLimitError`, `MemoryLimitError`, `CallLimitError`, ..."""
    message: str


@dataclass(frozen=True, kw_only=True)
class AttemptFailed(RunEvent):
    kind: ClassVar[str] = "attempt_failed"
    attempt: int
    error: str
    retrying: bool


@dataclass(frozen=True, kw_only=True)
class Paused(RunEvent):
    kind: ClassVar[str] = "paused"
    function: str
    arguments: dict[str, Any]
    line: int | None
    token: str


@dataclass(frozen=True, kw_only=True)
class RunFinished(RunEvent):
    kind: ClassVar[str] = "run_finished"
    status: str
    """"ok", "failed" or "waiting for approval" (as `RunRecord.status`)."""
    result: Any = None
    error: str | None = None
    calls: int = 0
    duration: float = 0.0
    host_time: float = 0.0


EventSink = Callable[[RunEvent], None]

event_sink: contextvars.ContextVar[EventSink | None] = contextvars.ContextVar(
    "agent_tools_event_sink", default=None
)
"""The listener of the run being served in this context (set by the pipeline)."""
