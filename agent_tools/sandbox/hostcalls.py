"""Host calls: how a call from the sandboxed code reaches a registered function and
what it leaves in the run record.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from pydantic_monty import NOT_HANDLED

from agent_tools.base import errors as e
from agent_tools.base.approval import ApprovalRequested
from agent_tools.base.events import CallFinished, CallStarted
from agent_tools.base.prompts import hint
from agent_tools.base.record import HostCall
from agent_tools.boundary.measure import preview
from agent_tools.boundary.plain import to_plain
from agent_tools.sandbox.affinity import Pin
from agent_tools.sandbox.core import ExecutionCore
from agent_tools.sandbox.eager import LoopCall, run_eager, thread_loop
from agent_tools.sandbox.functions import HostFunction
from agent_tools.sandbox.pool import nesting

__all__ = ["AskedForApproval", "HostCalls", "cancel_all_tasks"]


_NEVER = float("inf")
"""`_shortest_host_call` while no host code was timed (only calls served elsewhere)."""

_PLAIN_SCALARS = frozenset({int, float, bool, type(None)})
"""Result types that cross into the sandbox as they are (exactly these: a subclass,
an IntEnum say, goes through `to_plain`)."""


class _Stopped(RuntimeError):
    """Carries a BaseException out of an async registered function (see `_guard`)."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(f"stopped by {type(original).__name__}")
        self.original = original


class AskedForApproval(BaseException):
    """A registered function raised `ApprovalRequested` on a call that can pause (see
    `sandbox.approvals`): the feed pauses at the call instead of stopping."""


def cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


class HostCalls(ExecutionCore):
    """Calls from the sandbox to registered functions: the budget, the record of each
    call, async functions on the right loop, BaseExceptions and FatalToolErrors that
    stop the run, OS calls (environment variables), colocation around host code."""

    def _host_side(self, served_by: Callable[[], Iterable[int]] | None = None) -> Pin | None:
        """Entering host code from a callback, with colocation on. Pins this run to
        one CPU at its first call, or (adaptive) once its first calls show slow round
        trips; later calls unpin the feeding thread while host code runs (so threads it
        starts keep the normal mask). `served_by` names the threads doing the called
        function's work, if it has its own (`functions.SERVED_BY`): they join the pin.
        Returns the pin to re-hold when the callback returns, or None (not pinned, or
        not the feeding thread)."""
        pin = self._pin
        if pin is None:
            colocation = self._colocation
            if colocation is None or self._pin_tried:
                return None
            if colocation.adaptive:
                if threading.get_ident() != self._feeder:
                    return None
                now = time.perf_counter()
                if self._returned_at:
                    self._shortest_gap = min(self._shortest_gap, now - self._returned_at)
                    self._gaps += 1
                if self._gaps < colocation.samples:
                    # A call served by threads of its own is not host code on this thread.
                    self._entered_at = 0.0 if served_by is not None else now
                    return None
                if (
                    self._shortest_gap < colocation.slow_round_trip
                    or colocation.slow_host_call <= self._shortest_host_call < _NEVER
                    or not colocation.alone()
                ):
                    # Fast round trips, slow host code, or company: leave the scheduler free.
                    self._pin_tried = True
                    return None
            self._pin_tried = True
            self._pin = pin = colocation.pin(self._worker_pid)
            if pin is not None and served_by is not None:
                pin.serve(served_by)
                pin.hold()  # a served call runs pinned (see below)
                return None
            return pin
        if threading.get_native_id() != pin.feeder:
            return None
        colocation = self._colocation
        if colocation is not None and colocation.adaptive and not colocation.alone():
            self._unpin()  # another run started: it needs the shared I/O threads unpinned
            self._pin = None
            return None
        if served_by is not None:
            # The work is done by the serving threads, pinned with the run; this thread
            # only waits for them, so it stays pinned too (no mask to move and put back).
            pin.serve(served_by)
            return None
        pin.let_go()
        return pin

    def _left_host(self, pin: Pin | None) -> None:
        """A callback returns to the sandbox: re-pin the feeding thread, or note the
        time while the adaptive decision is open."""
        if pin is not None:
            pin.hold()
        elif not self._pin_tried and threading.get_ident() == self._feeder:
            self._returned_at = now = time.perf_counter()
            if self._entered_at:
                self._shortest_host_call = min(self._shortest_host_call, now - self._entered_at)

    _gate_open: bool = False
    """True while `sandbox.approvals` makes a call to a function with an approval rule
    itself (anywhere else, such a call that needs approval stops the run)."""
    _approving: bool = False
    """True while the call being made was approved by a person."""

    def _check_gate(self, fn: HostFunction, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """A call to a function with an approval rule that `sandbox.approvals` does not
        make itself (one through `parallel_map` or `asyncio.gather`) cannot wait for a
        person: if it needs approval, the run stops (fail closed)."""
        if not self._gate_open and fn.needs_approval(args, kwargs):
            record = self._start_call(fn, args, kwargs)
            raise self._stop(record, time.perf_counter(), ApprovalRequested(_cannot_wait(fn.name))) from None

    def _asked(self, record: HostCall, exc: BaseException) -> bool:
        """Whether `exc`, raised by a registered function, asks for approval of a call
        that can pause. Then the call is taken back from the record (it had no effect,
        and is made again once approved) and the feed pauses."""
        if not isinstance(exc, ApprovalRequested) or not self._gate_open or self._approving:
            return False
        with self._lock:
            if self.calls and self.calls[-1] is record:
                self.calls.pop()
        return True

    def _unpin(self) -> None:
        pin = self._pin
        if pin is not None and self._colocation is not None:
            self._colocation.unpin(pin)

    def _bind(self, fn: HostFunction) -> Callable[..., Any]:
        invoke = self._invoke

        def call(*args: Any, **kwargs: Any) -> Any:
            return invoke(fn, args, kwargs)

        call.__name__ = fn.name
        return call

    def _start_call(self, fn: HostFunction, args: tuple[Any, ...], kwargs: dict[str, Any]) -> HostCall:
        if self._abort is not None:
            raise RuntimeError("the run was stopped: an earlier host call raised a BaseException")
        if next(self._counter) >= self.limits.max_host_calls:
            error = e.CallLimitError(
                f"the code made more than {self.limits.max_host_calls} calls to registered functions "
                f"(the next one was {e.format_call(fn.name, args, kwargs)})",
                hint=hint("call-limit"),
            )
            self._limit_hit = self._limit_hit or error
            raise RuntimeError(error.message)
        keep = self.limits.max_recorded_value_bytes
        if keep is not None:
            args = preview(args, keep, self.redact)
            kwargs = preview(kwargs, keep, self.redact) if kwargs else kwargs
        record = HostCall(fn.name, args, kwargs, started_ns=time.time_ns())
        with self._lock:  # a call is refused or recorded, never both, whatever cancel does
            if self._cancelled:
                raise RuntimeError("the run was stopped (its wall-clock timeout fired, or it was cancelled)")
            self.calls.append(record)
            index = self._index_base + len(self.calls) - 1
        emitter = self.emitter
        if emitter is not None:
            self._indexes[id(record)] = index
            emitter(
                CallStarted,
                index=index,
                function=fn.name,
                args=emitter.value(args),
                kwargs=emitter.value(kwargs),
            )
        return record

    def _emit_finished(self, record: HostCall) -> None:
        emitter = self.emitter
        if emitter is None:
            return
        error = record.error
        emitter(
            CallFinished,
            index=self._indexes.pop(id(record), -1),
            function=record.function,
            ok=error is None,
            result=None if error is not None else emitter.value(record.result),
            error=None if error is None else emitter.text(f"{type(error).__name__}: {error}"),
            duration=record.duration,
        )

    def _finish_call(self, record: HostCall, started: float, result: Any, error: BaseException | None) -> Any:
        if isinstance(error, e.FatalToolError):  # the host says stop: the code must not catch it away
            raise self._stop(record, started, error) from None
        record.duration = duration = time.perf_counter() - started
        self.host_time += duration
        if error is None and type(result) not in _PLAIN_SCALARS:
            try:
                result = to_plain(result)
            except Exception as exc:  # a model whose serializer fails, a container that cannot iterate
                error = TypeError(f"{record.function} returned a value the sandbox cannot hold: {exc}")
                error.__cause__ = exc
        if self._cancelled and error is None:  # the run was stopped meanwhile: nobody reads this
            error = RuntimeError("the run was stopped before this call returned; its result was dropped")
        if error is not None:
            record.error = error
            self._last_failed = record
            if self.emitter is not None:
                self._emit_finished(record)
            raise error
        keep = self.limits.max_recorded_value_bytes
        record.result = (
            result if keep is None or type(result) in _PLAIN_SCALARS else preview(result, keep, self.redact)
        )
        if self.emitter is not None:
            self._emit_finished(record)
        return result

    def _invoke(self, fn: HostFunction, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        pin = self._host_side(fn.served_by) if self._colocation is not None else None
        try:
            if fn.approval is not None:
                self._check_gate(fn, args, kwargs)
            record = self._start_call(fn, args, kwargs)
            started = time.perf_counter()
            try:
                result = fn.call(*args, **kwargs)
                if fn.is_async:
                    result = self._await(self._guard(result))
            except _Stopped as stopped:
                if self._asked(record, stopped.original):
                    raise AskedForApproval from None
                raise self._stop(record, started, stopped.original) from None
            except Exception as exc:
                return self._finish_call(record, started, None, exc)
            except BaseException as exc:  # KeyboardInterrupt, SystemExit, ... from host code
                if self._asked(record, exc):
                    raise AskedForApproval from None
                raise self._stop(record, started, exc) from None
            return self._finish_call(record, started, result, None)
        finally:
            if self._colocation is not None:
                self._left_host(pin)

    async def _ainvoke(self, fn: HostFunction, args: tuple[Any, ...], sem: asyncio.Semaphore) -> Any:
        async with sem:
            if fn.approval is not None:
                self._check_gate(fn, args, {})
            record = self._start_call(fn, args, {})
            started = time.perf_counter()
            nesting.set(self.depth + 1)  # this task's own context
            try:
                result = await self._guard(fn.call(*args))
            except _Stopped as stopped:
                raise self._stop(record, started, stopped.original) from None
            except Exception as exc:
                return self._finish_call(record, started, None, exc)
            return self._finish_call(record, started, result, None)

    async def _guard(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Await a registered function's coroutine, turning a BaseException that is
        not an Exception into `_Stopped`, so asyncio treats it as an ordinary error
        (it would re-raise KeyboardInterrupt out of the event loop)."""
        try:
            return await coro
        except Exception:
            raise
        except asyncio.CancelledError:
            if self._cancelled:  # the run's own cancellation
                raise
            raise _Stopped(asyncio.CancelledError()) from None
        except BaseException as exc:
            raise _Stopped(exc) from None

    def _stop(self, record: HostCall, started: float, exc: BaseException) -> RuntimeError:
        """A host function raised a BaseException that is not an Exception, or a
        `FatalToolError`: the run stops, even if the code catches what it sees.
        KeyboardInterrupt and SystemExit are the host's own signals to stop, so the
        caller gets them as they were; anything else (a FatalToolError, GeneratorExit,
        a stray CancelledError, a custom BaseException) becomes a HostFunctionError
        whose cause it is (`run_code` raises a FatalToolError cause to its caller)."""
        record.error = exc
        record.duration = time.perf_counter() - started
        self.host_time += record.duration
        if self.emitter is not None:
            self._emit_finished(record)
        if self._abort is None:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                self._abort = exc
            else:
                call = e.format_call(record.function, record.args, record.kwargs)
                if isinstance(exc, ApprovalRequested):
                    why = str(exc) or "it needs a person's approval"
                    what = f"{call} was not made: {why}; the run was stopped"
                else:
                    what = f"{call} raised {type(exc).__name__}{f': {exc}' if str(exc) else ''} " + (
                        "(a FatalToolError: the run was stopped)"
                        if isinstance(exc, e.FatalToolError)
                        else "(a BaseException, not an Exception: the run was stopped)"
                    )
                error = e.HostFunctionError(
                    what,
                    function=record.function,
                    args=record.args,
                    kwargs=record.kwargs,
                )
                error.__cause__ = exc
                self._abort = error
        return RuntimeError(f"the run was stopped: {record.function} raised {type(exc).__name__}")

    def _await(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine of a registered function to completion from this (feed)
        thread: on the caller's loop when there is one, else on this thread's own."""
        if self.host_loop is None:
            self._eager_loop = thread_loop()
            return run_eager(coro)
        call = LoopCall(coro, self.host_loop)
        self._pending.add(call)
        try:
            return call.result()
        except concurrent.futures.CancelledError:
            raise RuntimeError("the run was cancelled: timeout exceeded") from None
        finally:
            self._pending.discard(call)

    def _os(self, *, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], **_: Any) -> Any:
        """OS calls: only the declared environment variables are visible. The clock,
        entropy and the filesystem are left to Monty's default refusal."""
        if name == "os.getenv":
            key = args[0] if args else kwargs.get("key")
            default = args[1] if len(args) > 1 else kwargs.get("default")
            return self.env_vars.get(key, default) if isinstance(key, str) else default
        if name == "os.environ":
            return dict(self.env_vars)
        return NOT_HANDLED


def _cannot_wait(name: str) -> str:
    return (
        f"{name} needs a person's approval, which a call through parallel_map or asyncio.gather "
        f"cannot wait for: call {name}(...) directly, one call at a time, and the run pauses there "
        "until a person decides"
    )
