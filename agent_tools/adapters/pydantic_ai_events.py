"""A `run_code` call's live events in pydantic-ai: in the agent's event stream (as
`RunCodeEvent`, a pydantic-ai `CustomEvent`), as OpenTelemetry spans per host call
made live under the `run_code` span, and to the toolset's own `on_event`."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Tracer
from pydantic_ai import RunContext
from pydantic_ai.exceptions import UserError
from pydantic_ai.messages import CustomEvent

from agent_tools.base.events import CallFinished, CallStarted, EventSink, RunEvent

__all__ = ["CODE_ATTRIBUTE_CHARS", "LiveEvents", "RunCodeEvent", "capped_code"]

CODE_ATTRIBUTE_CHARS = 4096
"""The most of the code the `run_code` span keeps as its `agent_tools.code` attribute."""

BATCH_SECONDS = 0.002
"""How long the events sent after a first one are gathered before the loop takes them
all at once: a run's host calls then cost the agent's loop one wake-up every 2 ms at
most, not one each, and an event is still in the stream within 2 ms of being sent."""


@dataclass(kw_only=True)
class RunCodeEvent(CustomEvent, name="agent_tools_run_code"):
    """One live event of a `run_code` call (see `agent_tools.base.events`), in the
    agent run's event stream: `kind` (`"call_started"`, `"call_finished"`,
    `"printed"`, ...) and the event's fields (values redacted and cut)."""

    kind: str
    event: dict[str, Any]


class _Spans:
    """One span per host call, started when the call starts and ended when it ends,
    children of the `run_code` span (thread-safe: calls start on worker threads)."""

    def __init__(self, tracer: Tracer, parent: Span) -> None:
        self._tracer = tracer
        self._context = trace.set_span_in_context(parent)
        self._open: dict[int, Span] = {}
        self._lock = threading.Lock()

    def on(self, event: RunEvent) -> None:
        if isinstance(event, CallStarted):
            span = self._tracer.start_span(
                f"host call {event.function}",
                context=self._context,
                attributes={"agent_tools.function": event.function, "agent_tools.call_index": event.index},
            )
            with self._lock:
                self._open[event.index] = span
        elif isinstance(event, CallFinished):
            with self._lock:
                span = self._open.pop(event.index, None)
            if span is not None:
                span.set_attribute("agent_tools.ok", event.ok)
                if event.error is not None:
                    span.set_attribute("agent_tools.error", event.error)
                span.end()

    def close(self) -> None:
        """End any span a call left open (a run stopped mid-call)."""
        with self._lock:
            left, self._open = list(self._open.values()), {}
        for span in left:
            span.end()


class LiveEvents:
    """The sink a `run_code` call gives its run: each event goes to the host-call
    spans and the user's listener at once (on the run's thread), and, in order, into
    the agent's event stream (on the loop). `async with` it around the run: leaving
    drains what is still on its way.

    The loop is woken once for each batch of events (those sent within
    `BATCH_SECONDS` of the batch's first), not once per event: a run's host calls do
    not each cost a wake-up of the agent's loop, which other runs share. Per-call spans
    are made only when the `run_code` span records."""

    def __init__(
        self,
        ctx: RunContext[Any],
        tracer: Tracer,
        span: Span,
        listener: EventSink | None,
        *,
        stream: bool = True,
    ) -> None:
        self._ctx = ctx
        self._spans = _Spans(tracer, span) if span.is_recording() else None
        self._listener = listener
        self._stream = stream
        """Whether the events go into the agent's event stream (`stream_events`)."""
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[list[RunEvent] | None] = asyncio.Queue()
        """Batches of events, in order, then None once the run has ended."""
        self._forwarder: asyncio.Future[None] | None = None
        self._lock = threading.Lock()
        self._sent: list[RunEvent] = []
        """Events sent from the run's thread that the loop has not taken yet."""
        self._woken = False
        """Whether the loop has a `_take` scheduled that will take `_sent`."""
        self._timer: asyncio.TimerHandle | None = None
        """The last `_take` scheduled (cancelled when the run ends: it would find nothing)."""

    @property
    def sink(self) -> EventSink | None:
        """What the run should send its events to: this, or None when nothing would
        take them (no stream, no listener, no recording span), so that none is made."""
        if self._stream or self._listener is not None or self._spans is not None:
            return self
        return None

    def __call__(self, event: RunEvent) -> None:
        if self._spans is not None:
            self._spans.on(event)
        if self._listener is not None:
            with contextlib.suppress(Exception):
                self._listener(event)
        if not self._stream:
            return
        with self._lock:
            self._sent.append(event)
            if self._woken:
                return
            self._woken = True
        self._loop.call_soon_threadsafe(self._take_soon)

    def _take_soon(self) -> None:
        """On the loop: take the batch begun by the event just sent in a moment."""
        self._timer = self._loop.call_later(BATCH_SECONDS, self._take)

    def _take(self) -> None:
        """On the loop: move the events sent so far to the queue, as one batch."""
        with self._lock:
            sent, self._sent = self._sent, []
            self._woken = False
        if sent:
            self._queue.put_nowait(sent)

    async def __aenter__(self) -> LiveEvents:
        if self._stream:
            self._forwarder = asyncio.ensure_future(self._forward())
        return self

    async def __aexit__(self, *args: object) -> None:
        # The run has ended: every event it sent is in `_sent` or already queued, so
        # the marker lands after all of them.
        if self._timer is not None:
            self._timer.cancel()
        if self._stream:
            self._take()
            self._queue.put_nowait(None)
        if self._forwarder is not None:
            with contextlib.suppress(Exception):
                await self._forwarder
        if self._spans is not None:
            self._spans.close()

    async def _forward(self) -> None:
        emitting = True
        while (batch := await self._queue.get()) is not None:
            if not emitting:
                continue
            try:
                for event in batch:
                    await self._ctx.emit(RunCodeEvent(kind=event.kind, event=_fields(event)))
            except UserError:  # this context has no event stream (a direct tool call)
                emitting = False


def _fields(event: RunEvent) -> dict[str, Any]:
    """The event's fields, one level deep: its values are already the event's own
    copies (redacted and cut when the event was made), so they are not copied again."""
    return {"kind": event.kind, **vars(event)}  # the dataclass's fields, in their order


def capped_code(code: str) -> str:
    return code if len(code) <= CODE_ATTRIBUTE_CHARS else code[:CODE_ATTRIBUTE_CHARS] + "..."
