"""Live events of the run pipeline (see `base.events`): the run's first and last
events around a run or a resume (`with_events`), and what a failed attempt emits."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from agent_tools.base.errors import ResourceLimitError, SandboxError, TimeLimitError
from agent_tools.base.events import AttemptFailed, EventSink, LimitHit, RunEvent, RunFinished, RunStarted
from agent_tools.base.record import RunRecord
from agent_tools.sandbox.emit import Emitter, current_emitter
from agent_tools.task.redaction import Redactor

if TYPE_CHECKING:
    from agent_tools.task.template import CodeTaskTemplate

__all__ = ["emit_failed_attempt", "event_stream", "with_events"]


def with_events(
    template: CodeTaskTemplate, on_event: EventSink | None, body: Callable[[], RunRecord]
) -> RunRecord:
    """`body()` (a run, or a resume) with `on_event` as its listener: `RunStarted`
    first, `RunFinished` last, whatever happens in between. A run with no listener
    never emits, also when it is nested in a registered function of one that has."""
    if on_event is None:
        if current_emitter.get() is None:
            return body()
        token = current_emitter.set(None)
        try:
            return body()
        finally:
            current_emitter.reset(token)
    config = template.sandbox_config
    emitter = Emitter(on_event, budget=config.max_recorded_value_bytes, redact=_early_redact(template))
    token = current_emitter.set(emitter)
    emitter(
        RunStarted,
        name=template.name,
        code=emitter.text(template._user_source),  # pyright: ignore[reportPrivateUsage]
        limits={
            "timeout_ms": config.timeout_ms,
            "max_memory": config.max_memory,
            "max_host_calls": config.max_host_calls,
            "max_output_bytes": config.max_output_bytes,
            "timeout": template.timeout.seconds if template.timeout is not None else None,
        },
    )
    try:
        record = body()
    except SandboxError as err:
        done = err.record
        emitter(
            RunFinished,
            status="failed",
            error=emitter.text(f"{type(err).__name__}: {err.message}"),
            calls=len(done.calls) if done is not None else 0,
            duration=done.duration if done is not None else time.perf_counter() - emitter.started,
            host_time=done.host_time if done is not None else 0.0,
        )
        raise
    except BaseException as exc:
        emitter(
            RunFinished,
            status="failed",
            error=type(exc).__name__,
            duration=time.perf_counter() - emitter.started,
        )
        raise
    finally:
        current_emitter.reset(token)
    emitter(
        RunFinished,
        status=record.status,
        result=emitter.value(record.result),
        calls=len(record.calls),
        duration=record.duration,
        host_time=record.host_time,
    )
    return record


def emit_failed_attempt(emitter: Emitter, attempt: int, err: SandboxError, retrying: bool) -> None:
    """A failed attempt: `LimitHit` first when a limit stopped it, then `AttemptFailed`."""
    if isinstance(err, (ResourceLimitError, TimeLimitError)):
        emitter(LimitHit, limit=type(err).__name__, message=emitter.text(err.message))
    emitter(
        AttemptFailed,
        attempt=max(attempt, 1),
        error=emitter.text(f"{type(err).__name__}: {err.message}"),
        retrying=retrying,
    )


def _early_redact(template: CodeTaskTemplate) -> Callable[[str], str] | None:
    """The redaction of the secrets set in the environment, for the events emitted
    before the run resolves them (the run's own redaction replaces it then)."""
    values = {s.env_var: os.environ[s.env_var] for s in template.secrets if os.environ.get(s.env_var)}
    return Redactor(values).text if values else None


async def event_stream(start: Callable[[EventSink], Awaitable[object]]) -> AsyncIterator[RunEvent]:
    """The events of the run `start(sink)` makes, as an async iterator: each is handed
    from the run's thread to this loop in order; `RunFinished` is the last. Leaving
    early cancels the run."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[RunEvent] = asyncio.Queue()

    def sink(event: RunEvent) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, event)

    task = asyncio.ensure_future(start(sink))
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait([getter, task], return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():  # the run ended; its last events may still be on their way
                getter.cancel()
                while not queue.empty():
                    event = queue.get_nowait()
                    yield event
                    if isinstance(event, RunFinished):
                        return
                await asyncio.sleep(0)  # a call_soon_threadsafe still pending lands now
                while not queue.empty():
                    event = queue.get_nowait()
                    yield event
                    if isinstance(event, RunFinished):
                        return
                return
            event = getter.result()
            yield event
            if isinstance(event, RunFinished):
                return
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            await task
