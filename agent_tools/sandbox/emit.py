"""The emitter of one run's live events (see `base.events`): builds each event with
the run's id and elapsed time, its values redacted and cut, and hands it to the
listener, whose own errors never reach the run."""

from __future__ import annotations

import contextlib
import contextvars
import time
import typing
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from agent_tools.base.events import EVENT_VALUE_BYTES, EventSink, RunEvent
from agent_tools.boundary.measure import preview

__all__ = ["Emitter", "current_emitter"]

E = TypeVar("E", bound=RunEvent)


class Emitter:
    """Emits the events of one run to `sink`."""

    def __init__(
        self,
        sink: EventSink,
        *,
        budget: int | None = None,
        redact: Callable[[str], str] | None = None,
        run_id: str | None = None,
        started: float | None = None,
    ) -> None:
        self.sink = sink
        self.run_id = run_id or uuid.uuid4().hex[:16]
        self.started = time.perf_counter() if started is None else started
        self.budget = EVENT_VALUE_BYTES if budget is None else min(budget, EVENT_VALUE_BYTES)
        self.redact = redact

    def __call__(self, cls: type[E], **fields: Any) -> None:
        with contextlib.suppress(Exception):  # a listener's failure never changes the run
            self.sink(cls(run_id=self.run_id, elapsed=time.perf_counter() - self.started, **fields))

    def value(self, value: Any) -> Any:
        """`value` as an event keeps it: cut to the budget, and every string in it
        redacted (the cut copy is small, so the walk is too)."""
        kept = preview(value, self.budget, self.redact)
        return kept if self.redact is None else _redacted(kept, self.redact, 0)

    def text(self, text: str) -> str:
        """`text` redacted, then cut to the budget (in characters)."""
        if self.redact is not None:
            text = self.redact(text)
        if len(text) > self.budget:
            text = f"{text[: self.budget]}... [{len(text) - self.budget} more characters]"
        return text


current_emitter: contextvars.ContextVar[Emitter | None] = contextvars.ContextVar(
    "agent_tools_emitter", default=None
)
"""The emitter of the run being served in this context (None: no listener)."""


def _redacted(value: Any, redact: Callable[[str], str], depth: int) -> Any:
    """`value` with `redact` applied to each string in it (keys too), as plain data."""
    if isinstance(value, str):
        return redact(value)
    if depth > 64:
        return value
    if isinstance(value, dict):
        items = typing.cast(dict[Any, Any], value).items()
        return {_redacted(k, redact, depth + 1): _redacted(v, redact, depth + 1) for k, v in items}
    if isinstance(value, (list, tuple, set, frozenset)):
        made = [_redacted(v, redact, depth + 1) for v in typing.cast(Iterable[Any], value)]
        return made if isinstance(value, list) else type(typing.cast(Any, value))(made)
    return value
