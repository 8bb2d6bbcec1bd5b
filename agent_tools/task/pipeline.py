"""The pipeline of one template run: hooks, validation, secrets, cache, retries,
the wall-clock timeout, and what the run leaves (record, report, redaction).

`template.CodeTaskTemplate` holds the parameters; this module is what they do.
Each attempt is one `sandbox.execution.Execution` in a fresh Monty session.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import inspect
import itertools
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import tenacity

from agent_tools.base.config import Backoff
from agent_tools.base.errors import (
    HostFunctionError,
    InputValidationError,
    OutputValidationError,
    SandboxError,
    SecretError,
    TimeLimitError,
    WorkerCrashedError,
    redacting,
    stop_redacting,
)
from agent_tools.base.events import EventSink
from agent_tools.base.prompts import hint
from agent_tools.base.record import RunRecord
from agent_tools.boundary.measure import CUT_MARKER, cut_short, io_size, measure
from agent_tools.boundary.plain import type_name
from agent_tools.sandbox.eager import run_eager
from agent_tools.sandbox.emit import current_emitter
from agent_tools.sandbox.execution import Execution, Paused
from agent_tools.sandbox.interrupts import unwatch_interrupts, watch_interrupts
from agent_tools.sandbox.pool import get_runtime
from agent_tools.task import cache as result_cache
from agent_tools.task.approvals.keep import PauseOptions, Resumption, keep_paused
from agent_tools.task.events import emit_failed_attempt, with_events
from agent_tools.task.redaction import Redactor
from agent_tools.task.report import write_report

if TYPE_CHECKING:
    from agent_tools.task.state import SessionState
    from agent_tools.task.template import CodeTaskTemplate

__all__ = [
    "RETRYABLE",
    "Stopper",
    "arun_template",
    "call_hook",
    "current_stopper",
    "finish",
    "resolve_secrets",
    "run_attempt",
    "run_template",
    "validate_output",
]

RETRYABLE: tuple[type[SandboxError], ...] = (HostFunctionError, WorkerCrashedError)
"""Failures worth another attempt: a registered function raised (it may be flaky) or
the worker died. Syntax, type-check, validation and limit errors would fail again."""


def call_hook(result: Any) -> Any:
    """`pre`/`post` may be overridden as coroutines, as in Flyte."""
    return run_eager(result) if inspect.iscoroutine(result) else result


def resolve_secrets(template: CodeTaskTemplate) -> dict[str, str]:
    values: dict[str, str] = {}
    missing: list[str] = []
    for secret in template.secrets:
        value = os.environ.get(secret.env_var)
        if value is None:
            missing.append(f"{secret.key!r} (host environment variable {secret.env_var})")
        else:
            values[secret.env_var] = value
    if missing:
        raise SecretError(f"secrets not set on the host: {', '.join(missing)}")
    return values


def _cache_key(
    template: CodeTaskTemplate,
    inputs: Mapping[str, Any],
    cache: result_cache.Cache,
    secret_env: Mapping[str, str],
) -> str:
    """The key of this run's result: also the env vars the code sees and each declared
    secret's names with a hash of the value `_resolve_secrets` found (`secret_env`)."""
    functions = {name: str(fn.signature) for name, fn in template._functions.items()}  # pyright: ignore[reportPrivateUsage]
    return result_cache.cache_key(
        source=template._user_source,  # pyright: ignore[reportPrivateUsage]
        inputs=inputs,
        output_type=type_name(template.interface.output_type),
        functions=functions,
        cache=cache,
        env_vars=template._plan().env_vars,  # pyright: ignore[reportPrivateUsage]
        secrets=[(s.key, s.env_var, secret_env[s.env_var]) for s in template.secrets],
    )


def _wait(backoff: Backoff | None) -> Callable[[tenacity.RetryCallState], float]:
    def wait(state: tenacity.RetryCallState) -> float:
        return 0.0 if backoff is None else backoff.delay(state.attempt_number - 1)

    return wait


class Stopper:
    """Stops the executions of one run, and of the runs nested in its registered
    functions, from another thread: how a cancelled `await template.aio(...)` stops
    its worker instead of leaving it to run to `timeout_ms`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executions: set[Execution] = set()
        self.error: SandboxError | None = None

    def attach(self, execution: Execution) -> None:
        with self._lock:
            self._executions.add(execution)
            error = self.error
        if error is not None:
            execution.cancel(error)

    def detach(self, execution: Execution) -> None:
        with self._lock:
            self._executions.discard(execution)

    def stop(self, error: SandboxError) -> None:
        with self._lock:
            self.error = self.error or error
            executions = list(self._executions)
        for execution in executions:
            execution.cancel(error)


current_stopper: contextvars.ContextVar[Stopper | None] = contextvars.ContextVar(
    "agent_tools_stopper", default=None
)


def run_attempt(
    template: CodeTaskTemplate,
    inputs: dict[str, Any],
    loop: asyncio.AbstractEventLoop | None,
    record: RunRecord,
    secret_env: Mapping[str, str],
    state: SessionState | None,
    redactor: Redactor | None = None,
    resumption: Resumption | None = None,
) -> Any:
    """One execution, bounded by the template's wall-clock timeout if it has one (less
    what a resumed run had already used)."""
    runtime = get_runtime()
    if loop is None and template._has_async and asyncio.events._get_running_loop() is not None:  # pyright: ignore[reportPrivateUsage]
        # A sync call made inside a running event loop (a notebook cell, an async
        # handler): that loop is blocked by this call, so async functions run on the
        # runtime's background loop.
        loop = runtime.host_loop()
    plan = template._plan()  # pyright: ignore[reportPrivateUsage]
    execution = Execution(plan, loop, secret_env, state, redactor.text if redactor else None)
    emitter = current_emitter.get()
    if emitter is not None:
        execution.emitter = emitter
        execution._index_base = len(record.calls)  # pyright: ignore[reportPrivateUsage]
    seconds = template.timeout.seconds if template.timeout is not None else None
    stdout_before = ""
    if resumption is not None:
        execution.decision = resumption.decision
        execution._counter = itertools.count(len(record.calls))  # pyright: ignore[reportPrivateUsage] - the budget carries over
        stdout_before = resumption.paused.stdout
        if seconds is not None:
            seconds = max(seconds - resumption.paused.active_seconds, 0.001)
    stopper = current_stopper.get()
    if stopper is not None:
        stopper.attach(execution)
    try:
        if seconds is None:
            watching = watch_interrupts(execution.interrupt)
            try:
                return execution.run(runtime, inputs)
            finally:
                unwatch_interrupts(watching)
        return _supervised(execution, runtime, inputs, seconds)
    except SandboxError as err:
        if emitter is not None:
            retrying = isinstance(err, RETRYABLE) and record.attempts <= template.retries.count
            emit_failed_attempt(emitter, record.attempts, err, retrying)
        raise
    finally:
        if stopper is not None:
            stopper.detach(execution)
        for call in execution.calls:
            call.attempt = record.attempts
        record.calls += execution.calls  # every attempt's calls: they may have had effects
        record.stdout = stdout_before + execution.stdout  # what the last attempt printed
        record.host_time += execution.host_time


def _read_cache(key: str, seconds: float | None) -> tuple[bool, Any]:
    """The cached result under `key`. The read is bounded in time and memory by the
    store's reader limits; with a wall-clock `timeout`, it runs within it too."""
    store = result_cache.get_store()
    if seconds is None:
        return store.get(key)
    future = _on_helper(get_runtime(), store.get, key)
    done, _ = concurrent.futures.wait([future], timeout=seconds)
    if not done:
        raise TimeLimitError(
            f"reading the result cache took longer than timeout={seconds:g}s (wall clock)",
            hint=hint("wall-clock"),
        )
    return future.result()


def _on_helper(runtime: Any, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
    """`fn(*args)` on a helper thread, in a copy of the caller's context variables
    (the nesting depth, the redaction of this run) as in the caller's own thread."""
    return runtime.helpers().submit(contextvars.copy_context().run, fn, *args)


_INTERRUPT_GRACE_S = 2.0
"""How long an interrupted run may take to wind down (its worker is killed at once)."""


def _supervised(execution: Execution, runtime: Any, inputs: dict[str, Any], seconds: float) -> Any:
    """Feed on a helper thread and wait here, where the wait can be bounded (a host
    function may block the feeding thread past any deadline) and interrupted (Ctrl-C
    reaches a waiting main thread at once). On the deadline or an interrupt, the run
    is cancelled: its worker killed while it still holds it, its later host calls
    refused."""
    future = _on_helper(runtime, execution.run, runtime, inputs)
    try:
        done, _ = concurrent.futures.wait([future], timeout=seconds)
    except KeyboardInterrupt:
        execution.interrupt()
        with contextlib.suppress(KeyboardInterrupt):  # let it end, so the pool is left tidy
            concurrent.futures.wait([future], timeout=_INTERRUPT_GRACE_S)
        raise
    if not done:
        error = TimeLimitError(
            f"the run took longer than timeout={seconds:g}s (wall clock, host functions included); "
            "it was stopped and pending host calls were cancelled",
            source=execution.source,
            hint=hint("wall-clock"),
        )
        execution.cancel(error)
        raise error
    return future.result()


def _execute_with_retries(
    template: CodeTaskTemplate,
    inputs: dict[str, Any],
    loop: asyncio.AbstractEventLoop | None,
    record: RunRecord,
    secret_env: Mapping[str, str],
    state: SessionState | None,
    redactor: Redactor | None,
) -> Any:
    strategy = template.retries
    if strategy.count == 0:  # the common case, without tenacity's per-run set-up
        record.attempts = 1
        try:
            return run_attempt(template, inputs, loop, record, secret_env, state, redactor)
        except SandboxError as err:
            record.errors.append(err)
            raise
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(strategy.count + 1),
        retry=tenacity.retry_if_exception_type(RETRYABLE),
        wait=_wait(strategy.backoff),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            record.attempts += 1
            try:
                return run_attempt(template, inputs, loop, record, secret_env, state, redactor)
            except SandboxError as err:
                record.errors.append(err)
                raise
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


def _plain(template: CodeTaskTemplate) -> bool:
    """Whether a run of `template` needs none of the optional steps: hooks, secrets,
    the cache, retries, the wall-clock timeout, a report or debug frames. Those runs
    take `_run_plain`, the shortest path (most runs, and every trivial one)."""
    return not (
        template._custom_pre  # pyright: ignore[reportPrivateUsage]
        or template._custom_post  # pyright: ignore[reportPrivateUsage]
        or template.secrets
        or template.timeout is not None
        or template.retries.count
        or template.cache.behavior != "disable"
        or template.report
        or template.debuggable
    )


def _inputs(
    template: CodeTaskTemplate, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[dict[str, Any], int]:
    """The validated inputs, and the bytes they take against `max_inline_io_bytes`."""
    inputs = template.interface.prepare_inputs(args, kwargs)
    try:
        size = io_size(inputs) if inputs else 0
    except ValueError as exc:
        raise InputValidationError(f"the inputs cannot cross into the sandbox: {exc}") from exc
    limit = template.max_inline_io_bytes
    if size > limit:
        raise InputValidationError(f"the inputs take {size} bytes, over max_inline_io_bytes={limit}")
    return inputs, size


def validate_output(template: CodeTaskTemplate, value: Any, in_size: int) -> Any:
    """The sandbox's result, checked (not cut short by Monty, within
    `max_inline_io_bytes` with the inputs) and validated against the output type."""
    out_size, maybe_cut = measure(value) if value is not None else (0, False)
    if maybe_cut and cut_short(value, depth := template._plan().limits.max_stack_depth):  # pyright: ignore[reportPrivateUsage]
        raise OutputValidationError(
            f"the result is nested max_stack_depth={depth} or more levels deep, and the sandbox "
            f"hands back only that many (it put {CUT_MARKER!r} in place of the rest): return a "
            "flatter value, or raise max_stack_depth"
        )
    result = template.interface.validate_output(value)
    total = in_size + out_size
    if total > (limit := template.max_inline_io_bytes):
        raise OutputValidationError(
            f"inputs plus output take {total} bytes, over max_inline_io_bytes={limit}"
        )
    return result


def _run_plain(
    template: CodeTaskTemplate,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    loop: asyncio.AbstractEventLoop | None,
    pause: PauseOptions | None,
) -> RunRecord:
    """`run_template` for a template that needs none of the optional steps (`_plain`):
    the same checks in the same order, one attempt, nothing else."""
    started = time.perf_counter()
    record = RunRecord()
    in_size = 0
    try:
        inputs, in_size = _inputs(template, args, kwargs)
        record.attempts = 1  # as in the general path: inputs that fail validation make no attempt
        record.result = validate_output(
            template, run_attempt(template, inputs, loop, record, {}, None), in_size
        )
    except Paused as paused:
        keep_paused(template, paused, record, started, in_size, {}, None, pause, 0.0)
    except SandboxError as err:
        record.errors.append(err)
        err.record = record
        record.duration = time.perf_counter() - started
        raise
    record.duration = time.perf_counter() - started
    return record


def run_template(
    template: CodeTaskTemplate,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    loop: asyncio.AbstractEventLoop | None,
    *,
    state: SessionState | None = None,
    pause: PauseOptions | None = None,
    on_event: EventSink | None = None,
) -> RunRecord:
    """Run `template` once from the caller's point of view (maybe several attempts).
    With `state`, the run starts from its variables and leaves its own in it. A run
    that reaches a call needing approval pauses: the record's `pending` names the
    call and its token (kept in `pause.store`, or the process-wide store). With
    `on_event`, the run's live events go to it as they happen (see `base.events`)."""
    return with_events(
        template, on_event, lambda: _run_template(template, args, kwargs, loop, state=state, pause=pause)
    )


def _run_template(
    template: CodeTaskTemplate,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    loop: asyncio.AbstractEventLoop | None,
    *,
    state: SessionState | None = None,
    pause: PauseOptions | None = None,
) -> RunRecord:
    if state is None and _plain(template):
        return _run_plain(template, args, kwargs, loop, pause)
    started = time.perf_counter()
    record = RunRecord()
    redactor: Redactor | None = None
    inputs: dict[str, Any] = dict(kwargs)
    error: SandboxError | None = None
    token = None
    in_size = 0
    secret_env: dict[str, str] = {}
    try:
        try:
            # Secrets first: a missing one fails the run before anything (a `pre` hook, a
            # registered function) has run.
            secret_env = resolve_secrets(template) if template.secrets else {}
            redactor = Redactor(secret_env) if secret_env else None
            if redactor is not None:  # every text made from here on is redacted before it is cut
                token = redacting(redactor.text)
                emitter = current_emitter.get()
                if emitter is not None:  # and so is every event
                    emitter.redact = redactor.text
            if template._custom_pre:  # pyright: ignore[reportPrivateUsage]
                call_hook(template.pre(*args, **kwargs))
            inputs, in_size = _inputs(template, args, kwargs)
            cache = template.cache
            key = None if cache.behavior == "disable" else _cache_key(template, inputs, cache, secret_env)
            hit, value = (False, None)
            if key is not None and cache.behavior == "auto":
                hit, value = _read_cache(key, template.timeout.seconds if template.timeout else None)
            if hit:
                record.cached = True
            else:
                value = _execute_with_retries(template, inputs, loop, record, secret_env, state, redactor)
            result = validate_output(template, value, in_size)
            if key is not None and not hit:
                with contextlib.suppress(TypeError):  # a result that is not plain data is not cached
                    result_cache.get_store().put(key, value, secrets=secret_env)
            custom_post = template._custom_post  # pyright: ignore[reportPrivateUsage]
            record.result = call_hook(template.post(result)) if custom_post else result
        except Paused as paused:
            try:
                keep_paused(template, paused, record, started, in_size, secret_env, state, pause, 0.0)
            except SandboxError as err:  # it cannot be kept (a secret in its state, on disk)
                error = err
                record.errors.append(err)
                err.record = record
        except SandboxError as err:
            error = err
            if not record.errors or record.errors[-1] is not err:
                record.errors.append(err)
            err.record = record
        finally:
            record.duration = time.perf_counter() - started
        finish(template, record, inputs, error, redactor)
    finally:
        if token is not None:
            stop_redacting(token)
    if error is not None:
        raise error
    return record


def finish(
    template: CodeTaskTemplate,
    record: RunRecord,
    inputs: Mapping[str, Any],
    error: SandboxError | None,
    redactor: Redactor | None,
) -> None:
    if template.debuggable and error is not None:
        record.traceback, record.frames = error.traceback, list(error.frames)
    if redactor:
        redactor.record(record)
        if error is not None:
            redactor.error(error)
        inputs = redactor.value(dict(inputs))
        pending = record.pending
        if pending is not None:  # what a person is shown to decide on
            pending.args = tuple(redactor.value(list(pending.args)))
            pending.kwargs = redactor.value(dict(pending.kwargs))
            pending.arguments = redactor.value(dict(pending.arguments))
            pending.code_line = redactor.text(pending.code_line)
    if template.report:
        record.report_path = write_report(
            name=template.name,
            source=template._user_source,  # pyright: ignore[reportPrivateUsage]
            inputs=inputs,
            record=record,
            error=error,
            redact=redactor.text if redactor else (lambda s: s),
        )


async def arun_template(
    template: CodeTaskTemplate,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    *,
    state: SessionState | None = None,
    pause: PauseOptions | None = None,
    on_event: EventSink | None = None,
) -> RunRecord:
    """`run_template` from async code: on a runtime thread, so the caller's loop stays
    free (and serves the run's async functions). Cancelling the awaiting task stops
    the run: its worker is killed and its later host calls refused."""
    loop = asyncio.get_running_loop()
    stopper = Stopper()

    def in_thread() -> RunRecord:
        current_stopper.set(stopper)  # in the thread's own copy of the caller's context
        return run_template(template, args, kwargs, loop, state=state, pause=pause, on_event=on_event)

    try:
        return await get_runtime().run_in_thread(in_thread)
    except asyncio.CancelledError:
        stopper.stop(SandboxError("the run was cancelled by its caller"))
        raise
