"""Running an async registered function from a feeding thread, cheaply.

A sync run has no event loop of its own. Handing each coroutine to a loop on
another thread costs two thread switches per call (about 100 us measured here);
`run_until_complete` on a loop owned by the calling thread costs about 7 us.
Cheaper still, most async tool functions finish without ever waiting (a cache
hit, a computed value): `run_eager` first steps the coroutine by hand with the
thread's loop marked as running, so `asyncio` APIs find it, and only if the
coroutine really suspends does it hand the rest to that loop. Everything runs
on the calling thread, so the loop is never touched from a foreign thread.

A run fed for an async caller runs its async functions on the caller's loop, on
another thread: `LoopCall` hands the coroutine over with one `call_soon_threadsafe`
and takes the outcome back through a queue: no thread-safe future, no chained
callbacks: 0.70x and 0.84x the time of `run_coroutine_threadsafe(...).result()` in
two runs of `python benchmarks/loop_hop.py`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
from collections.abc import Coroutine
from typing import Any

__all__ = ["LoopCall", "run_eager", "thread_loop"]

_local = threading.local()


def thread_loop() -> asyncio.AbstractEventLoop:
    """The calling thread's private loop (made on first use)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
    return loop


async def _finish(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    """Drive a coroutine that already ran its first step and yielded `yielded`,
    the way an `asyncio.Task` would: wait for the future, then resume it."""
    while True:
        if yielded is None:
            await asyncio.sleep(0)
        else:
            # What a Task does with a yielded future: take over the "blocking" flag
            # the coroutine set, then wait for it.
            yielded._asyncio_future_blocking = False
            with contextlib.suppress(BaseException):  # the coroutine sees the outcome when resumed
                await yielded
        try:
            yielded = coro.send(None)
        except StopIteration as stop:
            return stop.value


def run_eager(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run `coro` to completion on the calling thread's private event loop."""
    if asyncio.events._get_running_loop() is not None:  # pyright: ignore[reportPrivateUsage]
        coro.close()
        raise RuntimeError("run_eager cannot run on a thread whose event loop is running")
    loop = thread_loop()
    asyncio.events._set_running_loop(loop)  # pyright: ignore[reportPrivateUsage]
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        return stop.value
    finally:
        asyncio.events._set_running_loop(None)  # pyright: ignore[reportPrivateUsage]
    try:
        return loop.run_until_complete(_finish(coro, yielded))
    except BaseException:
        # Interrupted (KeyboardInterrupt, a cancelled run): leave no task behind on this
        # thread's loop to resurface in the next run.
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        if leftovers:
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        raise


_CANCELLED = object()


class LoopCall:
    """`coro` as a task on `loop` (an event loop running on another thread), its
    outcome awaited by the calling thread with `result()`. The task runs in a copy
    of the calling thread's context variables, as with `run_coroutine_threadsafe`.
    `cancel()`, from any thread, cancels the task and frees the waiting thread at
    once (`result()` then raises `concurrent.futures.CancelledError`)."""

    __slots__ = ("_box", "_cancelled", "_coro", "_loop", "_task")

    def __init__(self, coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._coro = coro
        self._box: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._task: asyncio.Task[Any] | None = None
        self._cancelled = False
        loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        """On the loop."""
        if self._cancelled:
            self._coro.close()
            return
        self._task = self._loop.create_task(self._coro)
        self._task.add_done_callback(self._box.put)

    def _cancel_task(self) -> None:
        """On the loop."""
        if self._task is not None:
            self._task.cancel()

    def cancel(self) -> None:
        self._cancelled = True
        self._box.put(_CANCELLED)
        with contextlib.suppress(RuntimeError):  # the loop is closed: no task left to cancel
            self._loop.call_soon_threadsafe(self._cancel_task)

    def result(self) -> Any:
        """Wait for the task; its result, or what it raised."""
        outcome = self._box.get()
        if outcome is _CANCELLED or outcome.cancelled():
            raise concurrent.futures.CancelledError
        return outcome.result()
