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

import atexit
import contextlib
import os
import signal
import threading
import time
from typing import Any, NoReturn

import pydantic_monty
from pydantic_monty import MontyError

from agent_tools.base import errors as e
from agent_tools.base.prompts import hint
from agent_tools.sandbox.approvals import Approvals, Decision, Paused
from agent_tools.sandbox.classify import Classifier, blocks, cause_of, preflight_error
from agent_tools.sandbox.fanout import FanOut, gather_values
from agent_tools.sandbox.functions import FLYTE_MAP, PARALLEL_MAP, HostFunction
from agent_tools.sandbox.hostcalls import cancel_all_tasks
from agent_tools.sandbox.output import Output
from agent_tools.sandbox.plan import Limits, Plan
from agent_tools.sandbox.pool import MAX_NESTING, Runtime, nesting
from agent_tools.sandbox.source import GATHER_BUILTIN

__all__ = ["Decision", "Execution", "Limits", "Paused", "Plan"]


class Execution(Approvals, FanOut, Classifier):
    """Runs a plan once. Not reusable: make one per attempt."""

    decision: Decision | None = None
    """Set to resume a paused run (see `sandbox.approvals`): its dump and the answer
    to the call it waits on."""
    _gated: dict[str, HostFunction] | None = None

    def run(self, runtime: Runtime, inputs: dict[str, Any]) -> Any:
        plan = self.plan
        state = self.state
        if plan.preflight and self.decision is None:
            problems = plan.problems(state.names if state is not None else frozenset())
            if problems:
                raise preflight_error(problems, self.source, plan.shifts, plan.functions)
        if state is None:
            bound = plan.referenced
            builtins = plan.uses_builtins
        else:  # code restored from an earlier run may call any function, not only those named here
            bound, builtins = tuple(plan.functions.values()), True
        lookup: dict[str, Any] | None = None
        if self.decision is not None:  # a paused run may go on to call any function
            bound, builtins = tuple(plan.functions.values()), True
        gated = {fn.name: fn for fn in bound if fn.approval is not None}
        if gated or self.decision is not None:
            self._gated = gated  # fed step by step, so that a call can pause
        if bound or builtins:
            lookup = {fn.name: self._bind(fn) for fn in bound}
            if builtins:
                lookup[PARALLEL_MAP], lookup[FLYTE_MAP] = self._parallel_map, self._flyte_map
                lookup[GATHER_BUILTIN] = gather_values
        collector = Output(
            self.limits.max_output_bytes, self._output_overflow, self.redact, self.secrets, self.emitter
        )
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
            try:
                value = self._checkout_and_feed(runtime, inputs, lookup, collector)
            except pydantic_monty.MontyCrashedError:
                if not self._nothing_happened(collector):
                    raise
                # The worker was dead before the code did anything the host can see (an
                # idle worker killed from outside, which the pool had not noticed yet):
                # nothing ran that matters, so the code runs once more on a fresh one.
                value = self._checkout_and_feed(runtime, inputs, lookup, collector)
        except Paused:
            self.stdout = collector.output
            raise
        except MontyError as exc:
            self.stdout = collector.output
            if self._abort is not None:
                self._raise_abort(self._abort, self._location(exc))
            error = self._classify(exc)
            if isinstance(exc, (pydantic_monty.MontyRuntimeError, pydantic_monty.MontySyntaxError)):
                error.traceback = exc.display("traceback")
                error.frames = [frame.dict() for frame in exc.traceback()]
            raise error from (error.__cause__ or cause_of(exc))
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

    def _checkout_and_feed(
        self, runtime: Runtime, inputs: dict[str, Any], lookup: dict[str, Any] | None, collector: Output
    ) -> Any:
        with runtime.pool_at(self.depth).checkout(**self.plan.checkout_options) as session:
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
        return value

    def _nothing_happened(self, collector: Output) -> bool:
        """Whether a crashed feed left no trace the run can be judged by: no host call,
        no output, no limit, stop or cancellation of ours, and well inside the time limit
        (a worker that dies of the code's own doing would die again, and then counts)."""
        elapsed_ms = (time.perf_counter() - self._started) * 1000
        return (
            not self.calls
            and not collector.output
            and not self._killed
            and not self._cancelled
            and self._limit_hit is None
            and self._abort is None
            and elapsed_ms < min(1_000, self.limits.timeout_ms / 2)
        )

    def _feed(
        self,
        session: pydantic_monty.MontySession,
        inputs: dict[str, Any],
        lookup: dict[str, Any] | None,
        collector: Output,
    ) -> Any:
        plan, state, gated = self.plan, self.state, self._gated
        if self.decision is not None:  # the dump holds the whole session, state and all
            value = self._drive(self._answer(session, self.decision, lookup, collector), gated or {})
        else:
            if state is not None and state.data is not None:
                session.load_session(state.data)
            # Step by step (`feed_start`) when a call may have to wait for approval.
            feed = session.feed_run if gated is None else session.feed_start
            skip_type_check = False
            while True:  # twice at most: again without the type check, see below
                try:
                    value = feed(
                        plan.code,
                        inputs=inputs,
                        external_lookup=lookup,
                        print_callback=collector,
                        os=self._os,
                        skip_type_check=skip_type_check,
                    )
                    break
                except pydantic_monty.MontyTypingError as typing_error:
                    if skip_type_check or blocks(typing_error, plan.functions):
                        raise
                    # Only complaints the code would survive (Optional narrowing and
                    # the like): run it as written.
                    skip_type_check = True
            if gated is not None:
                value = self._drive(value, gated)
        if state is not None and self._limit_hit is None and not self._killed:
            state.data = session.dump()
            state.names = state.names | plan.defines
        return value

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
            self._eager_loop.call_soon_threadsafe(cancel_all_tasks, self._eager_loop)
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
