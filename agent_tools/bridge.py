"""One execution: feed the code to a Monty session and serve its calls to the host.

Registered functions reach the sandbox through `external_lookup`, Monty's fastest
path for host calls: each one is a small Python closure that counts the call
against the budget, records it in the trace, runs the function (an async one on
the host loop, so the sandbox always sees a plain call) and converts the result
to plain data. `parallel_map` fans one function out over items on the host.
Whatever Monty raises is turned into the matching `SandboxError` here, because
only this layer knows which host call failed and which limits were set.
"""

from __future__ import annotations

import ast
import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import itertools
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NoReturn

import pydantic_monty
from pydantic_monty import NOT_HANDLED, MontyError

from . import errors as e
from .affinity import Colocation, Pin
from .eager import run_eager, thread_loop
from .functions import FLYTE_MAP, PARALLEL_MAP, HostFunction
from .interface import preview, to_plain
from .prompts import hint
from .record import HostCall
from .runtime import MAX_NESTING, Runtime, get_runtime, nesting
from .source import GATHER_BUILTIN, ColumnShifts, original_column
from .state import SessionState

__all__ = ["Execution", "Limits", "Plan"]

_NAME_ERROR = re.compile(r"name '([^']+)' is not defined")
_MAP_UNKNOWN = re.compile(r"(?:parallel_map|flyte_map): '([^']*)' is not a registered function")


@dataclass(frozen=True)
class Limits:
    """Per-run bounds. `timeout_ms` counts sandbox execution and sleeping, not time
    spent in registered functions."""

    timeout_ms: int = 30_000
    max_memory: int = 50 * 1024 * 1024
    max_stack_depth: int = 256
    max_host_calls: int = 1_000
    max_output_bytes: int = 1024 * 1024
    max_recorded_value_bytes: int | None = 4096
    """What the run record keeps of each host call's arguments and of its result (see
    `interface.preview`); None keeps them whole."""


@dataclass(frozen=True)
class Plan:
    """Everything about an execution that does not change from run to run; a
    template builds it once, so a run only binds values."""

    code: str
    """What Monty runs (see `source.prepare_source`)."""
    source: str
    """What the user wrote, dedented: errors point into this."""
    functions: Mapping[str, HostFunction]
    limits: Limits
    env_vars: Mapping[str, str]
    type_check: bool
    stubs: str | None
    shifts: ColumnShifts = field(default_factory=lambda: {})
    """Where `code` has text the user did not write (see `source.wrap_map_iterables`)."""

    @cached_property
    def checkout_options(self) -> dict[str, Any]:
        seconds = self.limits.timeout_ms / 1000
        return {
            "limits": {
                "max_feed_duration_secs": seconds,
                "max_total_sleep_secs": seconds,
                "max_memory": self.limits.max_memory,
                "max_recursion_depth": self.limits.max_stack_depth,
                # Our own call budget raises a clear error first; this is Monty's
                # backstop, which also counts sleeps and os calls.
                "max_suspensions": self.limits.max_host_calls + 1_000,
            },
            "os_policy": {
                "datetime": "call_host",
                "random_start": "call_host",
                "sleep_system_max": float("inf"),  # max_total_sleep_secs bounds sleeping
            },
            "type_check": self.type_check,
            "type_check_stubs": self.stubs,
            "type_check_format": "concise",
        }

    @cached_property
    def referenced(self) -> tuple[HostFunction, ...]:
        """The registered functions the code names (as a name or in a string); only
        these get a host binding. Others stay reachable through parallel_map."""
        return tuple(fn for name, fn in self.functions.items() if name in self._words)

    @cached_property
    def uses_builtins(self) -> bool:
        return not self._words.isdisjoint({PARALLEL_MAP, FLYTE_MAP, GATHER_BUILTIN})

    @cached_property
    def repr_like_literals(self) -> frozenset[str]:
        """String literals in the code that read like the repr Monty hands over for a
        range or a dict view: passed to parallel_map, they stay strings."""
        try:
            tree = ast.parse(self.code)
        except (SyntaxError, ValueError):
            return frozenset()
        return frozenset(
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and (_RANGE.fullmatch(node.value) or _VIEW.fullmatch(node.value))
        )

    @cached_property
    def _words(self) -> frozenset[str]:
        return frozenset(_WORD.findall(self.code))


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Execution:
    """Runs a plan once. Not reusable: make one per attempt."""

    # What most runs never change, as class-level defaults: an instance sets its own
    # only when it does, which keeps a trivial run's set-up short.
    stdout = ""
    host_time = 0.0
    _limit_hit: e.SandboxError | None = None
    _last_failed: HostCall | None = None
    _started = 0.0
    _worker_pid: int | None = None
    """The worker's pid while this run holds its session, else None: only then may the
    worker be killed (under `_lock`); a pid kept past the checkout would kill an idle
    worker, or one serving another run."""
    _killed = False
    _cancel_error: e.SandboxError | None = None
    """Set by `cancel`: the error that names why the run was stopped."""
    _abort: BaseException | None = None
    """Set when a host function raised a BaseException that is not an Exception:
    what the run raises (see `_stop`), whether or not the code caught it."""
    _eager_loop: asyncio.AbstractEventLoop | None = None
    _cancelled = False
    _colocation: Colocation | None = None
    _pin: Pin | None = None
    _pin_tried = False
    _feeder = 0
    """`threading.get_ident()` of the thread feeding the code (with colocation on)."""
    _returned_at = 0.0
    """When the last host call returned to the sandbox (while deciding whether to pin)."""
    _gaps = 0
    _shortest_gap = float("inf")

    def __init__(
        self,
        plan: Plan,
        host_loop: asyncio.AbstractEventLoop | None,
        secret_env: Mapping[str, str] | None = None,
        state: SessionState | None = None,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.plan = plan
        self.redact = redact
        """Replaces secret values in text; applied before anything recorded is cut."""
        self._lock = threading.Lock()
        self.env_vars: Mapping[str, str] = {**plan.env_vars, **secret_env} if secret_env else plan.env_vars
        self.secrets: tuple[str, ...] = tuple(v for v in secret_env.values() if v) if secret_env else ()
        self.source = plan.source
        self.functions = plan.functions
        self.limits = plan.limits
        # None: async functions run on the feed thread's own loop (see eager.py)
        self.host_loop = host_loop
        self.calls: list[HostCall] = []
        self._counter = itertools.count()
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self.state = state
        self.depth = nesting.get()
        """How deep this run is nested in registered functions of other runs."""

    # -- running ---------------------------------------------------------------

    def run(self, runtime: Runtime, inputs: dict[str, Any]) -> Any:
        plan = self.plan
        state = self.state
        if state is None:
            bound = plan.referenced
            builtins = plan.uses_builtins
        else:  # code restored from an earlier run may call any function, not only those named here
            bound, builtins = tuple(plan.functions.values()), True
        lookup: dict[str, Any] | None = None
        if bound or builtins:
            lookup = {fn.name: self._bind(fn) for fn in bound}
            if builtins:
                lookup[PARALLEL_MAP] = lookup[FLYTE_MAP] = self._parallel_map
                lookup[GATHER_BUILTIN] = _gather_values
        collector = _Output(self.limits.max_output_bytes, self._output_overflow, self.redact, self.secrets)
        depth = self.depth
        if depth > MAX_NESTING:
            raise e.ResourceLimitError(
                f"templates nested more than {MAX_NESTING} deep: a registered function started a "
                f"template whose registered function started another, {depth} levels in all",
                source=self.source,
            )
        # Host functions run on this thread during the feed: a template one of them
        # runs is nested one level deeper (fan-out threads and tasks set their own).
        token = nesting.set(depth + 1) if lookup is not None else None
        colocation = runtime.colocation if lookup is not None else None  # no calls, no round trips to pin
        self._started = time.perf_counter()
        _live.add(self)
        try:
            if colocation is not None:
                self._colocation, self._feeder = colocation, threading.get_ident()
                colocation.running.add(id(self))
            with runtime.pool_at(depth).checkout(**plan.checkout_options) as session:
                with self._lock:
                    if self._cancelled:
                        raise self._cancel_error or e.TimeLimitError(
                            "the run was cancelled before it started", source=self.source
                        )
                    self._worker_pid = session.worker_pid
                try:
                    value = self._feed(session, inputs, lookup, collector)
                finally:
                    with self._lock:  # from here on, nobody may signal this worker
                        self._worker_pid = None
                if self._killed:  # the feed returned, but its worker may be dead
                    _flush_dead_worker(session)
        except MontyError as exc:
            self.stdout = collector.output
            if self._abort is not None:
                self._raise_abort(self._abort, self._location(exc))
            error = self._classify(exc)
            if isinstance(exc, (pydantic_monty.MontyRuntimeError, pydantic_monty.MontySyntaxError)):
                error.traceback = exc.display("traceback")
                error.frames = [frame.dict() for frame in exc.traceback()]
            raise error from (error.__cause__ or _cause(exc))
        finally:
            _live.discard(self)
            if token is not None:
                nesting.reset(token)
            if colocation is not None:
                colocation.running.discard(id(self))
                if self._pin is not None:
                    self._unpin()
        self.stdout = collector.output
        if self._abort is not None:  # the code caught the stop and went on
            self._raise_abort(self._abort, {})
        if self._limit_hit is not None:  # the code caught our limit error and went on
            raise self._limit_hit
        return value

    def _feed(
        self,
        session: pydantic_monty.MontySession,
        inputs: dict[str, Any],
        lookup: dict[str, Any] | None,
        collector: _Output,
    ) -> Any:
        plan, state = self.plan, self.state
        if state is not None and state.data is not None:
            session.load_session(state.data)
        skip_type_check = False
        while True:  # twice at most: again without the type check, see below
            try:
                value = session.feed_run(
                    plan.code,
                    inputs=inputs,
                    external_lookup=lookup,
                    print_callback=collector,
                    os=self._os,
                    skip_type_check=skip_type_check,
                )
                break
            except pydantic_monty.MontyTypingError as typing_error:
                if skip_type_check or _blocks(typing_error, plan.functions):
                    raise
                # Only complaints the code would survive (Optional narrowing and
                # the like): run it as written.
                skip_type_check = True
        if state is not None and self._limit_hit is None and not self._killed:
            state.data = session.dump()
        return value

    def _location(self, exc: MontyError) -> dict[str, Any]:
        where = _location(exc)
        shifts = self.plan.shifts
        if shifts and "line" in where:
            line = where["line"]
            where["column"] = original_column(shifts, line, where.get("column"))
            if "end_column" in where:
                where["end_column"] = original_column(shifts, line, where["end_column"])
        return where

    def _raise_abort(self, abort: BaseException, where: dict[str, Any]) -> NoReturn:
        """Raise what a host function's BaseException stopped the run with (see `_stop`);
        a HostFunctionError points at `where` in the code."""
        if isinstance(abort, e.SandboxError):
            abort.source = self.source
            for key, value in where.items():
                setattr(abort, key, value)
        raise abort from abort.__cause__

    def cancel(self, error: e.SandboxError | None = None) -> None:
        """Stop this execution from another thread (a wall-clock timeout, an interrupt,
        a cancelled task): refuse further host calls, cancel pending async ones and stop
        the worker if this run still holds it (the pool replaces it). `error` names the
        reason; the run raises it. A sync host function already running cannot be
        interrupted; its result is dropped."""
        with self._lock:
            if not self._cancelled:
                self._cancelled = True
                self._cancel_error = error
        self._unpin()
        for future in list(self._pending):
            future.cancel()
        if self._eager_loop is not None and not self._eager_loop.is_closed():
            self._eager_loop.call_soon_threadsafe(_cancel_all_tasks, self._eager_loop)
        self._kill()

    def interrupt(self) -> None:
        """Stop this execution for Ctrl-C (see `interrupts`)."""
        self.cancel(e.SandboxError("the run was interrupted (KeyboardInterrupt)"))

    def _kill(self) -> None:
        """SIGKILL this run's worker, only while the run holds its session."""
        with self._lock:
            pid = self._worker_pid
            if pid is None:
                return
            self._killed = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _output_overflow(self) -> None:
        """The code printed past max_output_bytes: stop it now. Monty's own cap fails
        the feed only once the code ends or hits timeout_ms, so a print loop would burn
        the whole time limit; killing the worker (the pool replaces it) ends it at once."""
        self._limit_hit = self._limit_hit or e.OutputLimitError(
            f"the code printed more than {self.limits.max_output_bytes} bytes and was stopped "
            "(what it printed up to the limit is kept)",
            hint=hint("output-limit"),
        )
        self._kill()

    # -- host calls ------------------------------------------------------------

    def _host_side(self) -> Pin | None:
        """Entering host code from a callback, with colocation on. Pins this run to
        one CPU at its first call, or (adaptive) once its first calls show slow round
        trips; later calls unpin the feeding thread while host code runs (so threads it
        starts keep the normal mask). Returns the pin to re-hold when the callback
        returns, or None (not pinned, or not the feeding thread)."""
        pin = self._pin
        if pin is None:
            colocation = self._colocation
            if colocation is None or self._pin_tried:
                return None
            if colocation.adaptive:
                if threading.get_ident() != self._feeder:
                    return None
                if self._returned_at:
                    gap = time.perf_counter() - self._returned_at
                    self._shortest_gap = min(self._shortest_gap, gap)
                    self._gaps += 1
                if self._gaps < colocation.samples:
                    return None
                if self._shortest_gap < colocation.slow_round_trip or not colocation.alone():
                    self._pin_tried = True  # fast round trips, or company: leave the scheduler free
                    return None
            self._pin_tried = True
            self._pin = colocation.pin(self._worker_pid)
            return self._pin
        if threading.get_native_id() != pin.feeder:
            return None
        colocation = self._colocation
        if colocation is not None and colocation.adaptive and not colocation.alone():
            self._unpin()  # another run started: it needs the shared I/O threads unpinned
            self._pin = None
            return None
        pin.let_go()
        return pin

    def _left_host(self, pin: Pin | None) -> None:
        """A callback returns to the sandbox: re-pin the feeding thread, or note the
        time while the adaptive decision is open."""
        if pin is not None:
            pin.hold()
        elif not self._pin_tried and threading.get_ident() == self._feeder:
            self._returned_at = time.perf_counter()

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
        return record

    def _finish_call(self, record: HostCall, started: float, result: Any, error: BaseException | None) -> Any:
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
            raise error
        keep = self.limits.max_recorded_value_bytes
        record.result = (
            result if keep is None or type(result) in _PLAIN_SCALARS else preview(result, keep, self.redact)
        )
        return result

    def _invoke(self, fn: HostFunction, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        pin = self._host_side() if self._colocation is not None else None
        try:
            record = self._start_call(fn, args, kwargs)
            started = time.perf_counter()
            try:
                result = fn.call(*args, **kwargs)
                if fn.is_async:
                    result = self._await(self._guard(result))
            except _Stopped as stopped:
                raise self._stop(record, started, stopped.original) from None
            except e.FatalToolError as fatal:  # the host says stop: the code must not catch it away
                raise self._stop(record, started, fatal) from None
            except Exception as exc:
                return self._finish_call(record, started, None, exc)
            except BaseException as exc:  # KeyboardInterrupt, SystemExit, ... from host code
                raise self._stop(record, started, exc) from None
            return self._finish_call(record, started, result, None)
        finally:
            if self._colocation is not None:
                self._left_host(pin)

    async def _ainvoke(self, fn: HostFunction, args: tuple[Any, ...], sem: asyncio.Semaphore) -> Any:
        async with sem:
            record = self._start_call(fn, args, {})
            started = time.perf_counter()
            nesting.set(self.depth + 1)  # this task's own context
            try:
                result = await self._guard(fn.call(*args))
            except _Stopped as stopped:
                raise self._stop(record, started, stopped.original) from None
            except e.FatalToolError as fatal:  # the host says stop: the code must not catch it away
                raise self._stop(record, started, fatal) from None
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
        if self._abort is None:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                self._abort = exc
            else:
                error = e.HostFunctionError(
                    f"{e.format_call(record.function, record.args, record.kwargs)} raised "
                    f"{type(exc).__name__}{f': {exc}' if str(exc) else ''} "
                    + (
                        "(a FatalToolError: the run was stopped)"
                        if isinstance(exc, e.FatalToolError)
                        else "(a BaseException, not an Exception: the run was stopped)"
                    ),
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
        future = asyncio.run_coroutine_threadsafe(coro, self.host_loop)
        self._pending.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise RuntimeError("the run was cancelled: timeout exceeded") from None
        finally:
            self._pending.discard(future)

    def _parallel_map(self, fn: Any, *iterables: Any, concurrency: int = 8) -> list[Any]:
        pin = self._host_side() if self._colocation is not None else None
        try:
            return self._map(fn, iterables, concurrency)
        finally:
            if self._colocation is not None:
                self._left_host(pin)

    def _map(self, fn: Any, iterables: tuple[Any, ...], concurrency: int) -> list[Any]:
        name = fn if isinstance(fn, str) else getattr(fn, "__name__", repr(fn))
        target = self.functions.get(name)
        if target is None:
            raise NameError(
                f"parallel_map: {name!r} is not a registered function "
                f"(registered: {', '.join(self.functions) or 'none'})"
            )
        if not iterables:
            raise TypeError("parallel_map needs at least one iterable of arguments")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValueError(f"parallel_map: concurrency must be a positive int, got {concurrency!r}")
        # Never more items than the call budget has room for: the code must not make
        # the host build millions of argument tuples (or threads) before the budget bites.
        room = max(0, self.limits.max_host_calls - len(self.calls))
        literals = self.plan.repr_like_literals
        rebuilt = [_iterable(it, literals) for it in iterables]
        items = list(itertools.islice(zip(*rebuilt, strict=False), room + 1))
        if len(items) > room:
            error = e.CallLimitError(
                f"parallel_map over more items than the {self.limits.max_host_calls} calls a run may make",
                hint=hint("call-limit"),
            )
            self._limit_hit = self._limit_hit or error
            raise RuntimeError(error.message)
        if not items:
            return []
        concurrency = min(concurrency, _MAX_FAN_OUT)
        try:
            return self._fan_out(target, items, concurrency)
        except Exception as exc:
            # Report the failure the sandbox sees (the first in item order), not
            # whichever call happened to fail last.
            self._last_failed = next((c for c in reversed(self.calls) if c.error is exc), self._last_failed)
            raise

    def _fan_out(self, target: HostFunction, items: list[tuple[Any, ...]], concurrency: int) -> list[Any]:
        if target.is_async:

            async def fan_out() -> list[Any]:
                sem = asyncio.Semaphore(concurrency)
                return list(await asyncio.gather(*(self._ainvoke(target, a, sem) for a in items)))

            return self._await(fan_out())
        if concurrency == 1 or len(items) == 1:
            return [self._invoke(target, a, {}) for a in items]
        return self._threads(target, items, min(concurrency, len(items)))

    def _threads(self, target: HostFunction, items: list[tuple[Any, ...]], lanes: int) -> list[Any]:
        """Call `target` once per item on `lanes` daemon threads (a hung call must not
        keep the process from exiting), each taking the next item in order. Every item
        runs, as with a thread pool's map; the failure raised is the first in item order."""
        results: list[Any] = [None] * len(items)
        failures: dict[int, BaseException] = {}
        order = iter(range(len(items)))
        take = threading.Lock()
        context = contextvars.copy_context()  # the run's context variables, in every lane

        def lane() -> None:
            nesting.set(self.depth + 1)
            while True:
                with take:
                    index = next(order, None)
                if index is None:
                    return
                try:
                    results[index] = self._invoke(target, items[index], {})
                except BaseException as exc:
                    failures[index] = exc

        helpers = get_runtime().helpers()
        futures = [helpers.submit(context.copy().run, lane) for _ in range(lanes)]
        concurrent.futures.wait(futures)
        if failures:
            raise failures[min(failures)]
        return results

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

    # -- errors ----------------------------------------------------------------

    def _classify(self, exc: MontyError) -> e.SandboxError:
        if isinstance(exc, pydantic_monty.MontyTypingError):
            return _typing_error(exc, self.source)
        if self._cancel_error is not None:  # stopped from outside: say why, not how
            self._cancel_error.source = self.source
            return self._cancel_error
        if isinstance(exc, pydantic_monty.MontyCrashedError):
            if self._limit_hit is not None:  # the output cap, which stops the worker
                self._limit_hit.source = self.source
                return self._limit_hit
            elapsed_ms = (time.perf_counter() - self._started - self.host_time) * 1000
            if exc.timed_out or elapsed_ms >= self.limits.timeout_ms:
                return e.TimeLimitError(
                    f"the code ran past timeout_ms={self.limits.timeout_ms} and its worker was stopped",
                    source=self.source,
                )
            return e.WorkerCrashedError(f"{exc} (the pool has replaced the worker)", source=self.source)
        if isinstance(exc, pydantic_monty.MontyConversionError):
            return e.InputValidationError(f"an input cannot cross into the sandbox: {exc}")
        inner = exc.exception()
        etype, message = type(inner).__name__, str(inner)
        where = self._location(exc)
        if isinstance(exc, pydantic_monty.MontySyntaxError):
            return e.SandboxSyntaxError(message, source=self.source, **where)
        if self._limit_hit is not None:
            hit = self._limit_hit
            hit.source, hit.line = self.source, where.get("line")
            hit.column, hit.end_column = where.get("column"), where.get("end_column")
            return hit
        return self._runtime_error(etype, message, where)

    def _runtime_error(self, etype: str, message: str, where: dict[str, Any]) -> e.SandboxError:
        lim = self.limits
        text = f"{etype}: {message}"
        kw: dict[str, Any] = {"source": self.source, **where}
        if etype == "TimeoutError" and "limit exceeded" in message:
            return e.TimeLimitError(
                f"{message} (timeout_ms={lim.timeout_ms}; time in registered functions is not counted)",
                hint=hint("time-limit"),
                **kw,
            )
        if etype == "MemoryError":  # the heap limit, or an allocation the worker refused
            return e.MemoryLimitError(f"{message} (max_memory={lim.max_memory})", **kw)
        if etype == "RecursionError":
            return e.RecursionLimitError(
                f"{message} (max_stack_depth={lim.max_stack_depth})",
                hint=hint("recursion"),
                **kw,
            )
        if etype == "RuntimeError" and message.startswith("suspension limit"):
            return e.CallLimitError(f"{message}: too many calls out of the sandbox", **kw)
        failed = self._last_failed
        if failed is not None and self._raised_here(failed, etype, kw.get("line")):
            args_text = e.format_call(failed.function, failed.args, failed.kwargs)
            error = e.HostFunctionError(
                f"{args_text} raised {type(failed.error).__name__}: {failed.error}",
                function=failed.function,
                args=failed.args,
                kwargs=failed.kwargs,
                **kw,
            )
            error.__cause__ = failed.error
            return error
        if etype == "NameError" and (m := _MAP_UNKNOWN.match(message)):
            return self._unknown_function(m.group(1), text, kw)
        if etype == "NameError" and (m := _NAME_ERROR.search(message)):
            return self._name_error(m.group(1), text, kw)
        if etype == "NotImplementedError" and "does not yet support" in message:
            return e.SandboxSyntaxError(message, hint=_unsupported_hint(message), **kw)
        return e.SandboxRuntimeError(
            text, exc_type=etype, exc_message=message, hint=_hint(etype, message), **kw
        )

    def _raised_here(self, failed: HostCall, etype: str, line: int | None) -> bool:
        """Whether the sandbox's uncaught exception is the one `failed` raised: the
        same exception type (Monty maps a custom class to its nearest builtin base)
        raised on a line that calls the function."""
        if failed.error is None:
            return False
        if etype not in {cls.__name__ for cls in type(failed.error).__mro__}:
            return False
        text = _source_line(self.source, line)
        return any(
            re.search(rf"\b{re.escape(name)}\b", text) for name in (failed.function, PARALLEL_MAP, FLYTE_MAP)
        )

    def _unknown_function(self, name: str, text: str, kw: dict[str, Any]) -> e.SandboxError:
        available = sorted(self.functions)
        return e.UnknownFunctionError(
            f"{name!r} is not a registered function (registered: {', '.join(available) or 'none'})",
            name=name,
            available=available,
            exc_type="NameError",
            exc_message=text,
            hint=hint("unknown-function"),
            **kw,
        )

    def _name_error(self, name: str, text: str, kw: dict[str, Any]) -> e.SandboxError:
        registered = ", ".join(sorted(self.functions)) or "none"
        line = _source_line(self.source, kw.get("line"))
        if re.search(rf"\b{re.escape(name)}\s*\(", line):
            return self._unknown_function(name, text, kw)
        return e.SandboxRuntimeError(
            text,
            exc_type="NameError",
            exc_message=text,
            hint=hint("undefined-name", name=name, registered=registered),
            **kw,
        )


_RANGE = re.compile(r"range\((-?\d+), (-?\d+)(?:, (-?\d+))?\)")
_VIEW = re.compile(r"dict_(?:keys|values|items)\((\[.*\])\)", re.DOTALL)


class _Output:
    """Collects what the code prints, up to `cap` bytes (UTF-8); the first batch past
    the cap keeps what fits and calls `overflow` once.

    With `secrets`, it keeps as many bytes more as the longest secret and redacts the
    whole before cutting it to `cap`: cutting first could keep the start of a secret.
    If the stream was stopped at the cap while a secret was being printed, the start
    of that secret that did arrive is dropped too."""

    def __init__(
        self,
        cap: int,
        overflow: Callable[[], None],
        redact: Callable[[str], str] | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._cap = cap
        self._room = cap  # before the overflow fires
        self._slack = max((len(v.encode()) for v in secrets), default=0) if redact else 0
        self._parts: list[str] = []
        self._overflow = overflow
        self._redact = redact
        self._secrets = secrets
        self._over = False

    def __call__(self, stream: str, text: str) -> None:
        if self._over:
            return
        size = len(text.encode("utf-8", "surrogatepass"))
        if size <= self._room:
            self._parts.append(text)
            self._room -= size
            return
        keep = self._room + self._slack  # the slack only ever holds what is cut below
        fits = text.encode("utf-8", "surrogatepass")[:keep].decode("utf-8", "ignore")
        self._parts.append(fits)
        self._over = True
        self._overflow()

    @property
    def output(self) -> str:
        text = "".join(self._parts)
        if self._redact is None:
            return text
        text = self._redact(text)
        data = text.encode("utf-8", "surrogatepass")
        if len(data) > self._cap:
            text = data[: self._cap].decode("utf-8", "ignore")
        if self._over:
            text = _drop_secret_start(text, self._secrets)
        return text


def _drop_secret_start(text: str, secrets: tuple[str, ...]) -> str:
    """`text` less a tail that is the start of a secret (a stream cut mid-secret)."""
    for secret in secrets:
        for size in range(min(len(secret) - 1, len(text)), 1, -1):
            if text.endswith(secret[:size]):
                return text[:-size]
    return text


class _Stopped(RuntimeError):
    """Carries a BaseException out of an async registered function (see `_guard`)."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(f"stopped by {type(original).__name__}")
        self.original = original


_PLAIN_SCALARS = frozenset({int, float, bool, type(None)})
"""Result types that cross into the sandbox as they are (exactly these: a subclass,
an IntEnum say, goes through `to_plain`)."""
_MAX_FAN_OUT = 32
"""Threads (or concurrent coroutines) one parallel_map may use, whatever the code asks."""
_OPAQUE = re.compile(r"<[\w.]+ object(?: at 0x[0-9a-f]+)?>")


def _iterable(value: Any, literals: frozenset[str] = frozenset()) -> Any:
    """Monty 1.4.0 hands a `range` or dict view to the host as its repr string
    ('range(0, 5)', 'dict_keys([1])'); rebuild those so `parallel_map(f, range(n))`
    works. Any other string is iterated as a string, as in Python, and so is one
    that the code spells out as a literal (the two cannot be told apart here)."""
    if isinstance(value, str) and value not in literals:
        if _OPAQUE.fullmatch(value):  # an iterator or generator, which Monty hands over as its repr
            raise TypeError(f"parallel_map got {value}: pass a list, e.g. list(...)")
        if m := _RANGE.fullmatch(value):
            return range(*(int(g) for g in m.groups() if g is not None))
        if _VIEW.fullmatch(value):
            # Only reached when parallel_map was called under another name, so the
            # iterable was not made a list in the sandbox (see source.wrap_map_iterables):
            # the text is not parsed, which would let code make the host allocate at will.
            raise TypeError(f"parallel_map got the text of a dict view ({value[:40]}...): pass list(...)")
    return value


_live: set[Execution] = set()
"""Executions under way in this process (set operations are atomic under the GIL)."""

_EXIT_GRACE_S = 3.0


def _settle_at_exit() -> None:
    """At interpreter exit, stop the runs still under way (only daemon threads can be
    running one by now: a run given up on at its wall-clock timeout, whose host
    function is still busy, or a daemon thread of the program's) and give them a
    moment to leave Monty. A thread that comes back from a host function into Monty
    while the interpreter finalizes is ended by CPython with `pthread_exit`, whose
    unwinding through Monty's Rust frames aborts the process (SIGABRT, status 134)
    instead of exiting with the program's own status. A host function that stays
    busy past the grace is left to the exit."""
    if not _live:
        return
    for execution in list(_live):
        execution.cancel(e.SandboxError("the process is exiting"))
    deadline = time.monotonic() + _EXIT_GRACE_S
    while _live and time.monotonic() < deadline:
        time.sleep(0.01)


atexit.register(_settle_at_exit)  # after the runtime's own: atexit runs it first


def _flush_dead_worker(session: pydantic_monty.MontySession) -> None:
    """After this run killed its worker, make the pool see it before the session goes
    back: a feed on a dead worker fails, and the pool replaces a worker that failed so.
    Without this, a kill landing just as the feed returned would hand the next run a
    dead worker."""
    with contextlib.suppress(MontyError):
        session.feed_run("None")


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


def _gather_values(*values: Any) -> list[Any]:
    return list(values)


def _cause(exc: MontyError) -> BaseException:
    try:
        return exc.exception()
    except Exception:
        return exc


def _location(exc: MontyError) -> dict[str, Any]:
    """Line and columns of the innermost frame, for the excerpt's pointer."""
    frames = (
        exc.traceback()
        if isinstance(exc, (pydantic_monty.MontyRuntimeError, pydantic_monty.MontySyntaxError))
        else []
    )
    if not frames:
        return {}
    # The innermost frame of the user's code: frames of exec()/eval() strings have
    # their own line numbers, which would point at the wrong line.
    own = [f for f in frames if f.filename != "<string>"]
    frame = (own or frames)[-1]
    out: dict[str, Any] = {"line": frame.line, "column": frame.column}
    if frame.end_line == frame.line:
        out["end_column"] = frame.end_column
    return out


_TYPING_POSITION = re.compile(r"^\S+?:(\d+):(\d+): (.*)$", re.MULTILINE)


_BLOCKING = frozenset(
    {
        "invalid-syntax",
        "unresolved-reference",
        "unresolved-import",
        "unknown-argument",
        "missing-argument",
        "too-many-positional-arguments",
        "parameter-already-assigned",
    }
)
_DIAGNOSTIC = re.compile(r"error\[([a-z-]+)\] (.*)")


def _blocks(exc: pydantic_monty.MontyTypingError, functions: Mapping[str, HostFunction]) -> bool:
    """Whether the checker's complaints should stop the run: wrong calls to registered
    functions, unknown names and modules, syntax. Its other complaints (a value that
    may be None, an attribute on a union) are often wrong about valid dynamic code:
    measured on the eval datasets, they rejected 2 of 48 correct reference programs."""
    for code, text in _DIAGNOSTIC.findall(exc.display()):
        if code in _BLOCKING:
            return True
        if code == "invalid-argument-type" and any(f"function `{name}`" in text for name in functions):
            return True
    return False


def _typing_error(exc: pydantic_monty.MontyTypingError, source: str) -> e.SandboxError:
    diagnostics = exc.display().strip()
    first = _TYPING_POSITION.search(diagnostics)
    if first is None:
        return e.TypeCheckError(
            diagnostics.splitlines()[0] if diagnostics else str(exc), diagnostics=diagnostics
        )
    problems = [m.group(3) for m in _TYPING_POSITION.finditer(diagnostics)]
    message = "; ".join(problems)
    if "error[invalid-syntax]" in first.group(3):
        # The checker parses first, so a syntax error surfaces here: report it as one.
        text = first.group(3).replace("error[invalid-syntax] ", "")
        return e.SandboxSyntaxError(text, source=source, line=int(first.group(1)), column=int(first.group(2)))
    return e.TypeCheckError(
        message,
        diagnostics=diagnostics,
        source=source,
        line=int(first.group(1)),
        column=int(first.group(2)),
        hint=_typing_hint(first.group(3)),
    )


_UNRESOLVED_MODULE = re.compile(r"error\[unresolved-import\].*`([\w.]+)`")


def _typing_hint(problem: str) -> str:
    """The hint for the checker's first complaint, in the same words as at run time."""
    if module := _UNRESOLVED_MODULE.search(problem):
        name = module.group(1)
        return f"nothing ran; {hint(name) if name in ('heapq', 'statistics') else hint('module-missing')}"
    if "error[unresolved-reference]" in problem:
        return f"nothing ran; {hint('unknown-function')}"
    return hint("type-check")


def _source_line(source: str, line: int | None) -> str:
    lines = source.splitlines()
    return lines[line - 1] if line is not None and 1 <= line <= len(lines) else ""


def _unsupported_hint(message: str) -> str:
    if "'del'" in message:
        return hint("del")
    if "inheritance" in message:
        return hint("inheritance")
    return hint("unsupported-syntax")


_MISSING_MODULE = re.compile(r"No module named '([^']+)'")


def _hint(etype: str, message: str) -> str | None:
    if etype in ("ModuleNotFoundError", "ImportError"):
        missing = _MISSING_MODULE.search(message)
        module = missing.group(1) if missing else ""
        return hint(module) if module in ("heapq", "statistics") else hint("module-missing")
    if etype == "RuntimeError" and "is not supported in this environment" in message:
        if "datetime" in message or "time." in message or "date." in message:
            return hint("clock")
        if "urandom" in message:
            return hint("entropy")
        return hint("no-os")
    if etype == "TypeError" and "can't be awaited" in message:
        return hint("await")
    return None
