"""The process-wide Monty worker pool, the OS policy, and the sync/async faces.

One `pydantic_monty.Monty` pool serves every run in the process. It is created
lazily on first use, checks out one fresh session per run (so no state, heap or
suspension count leaks from one run into the next) and replaces a crashed
worker by itself.

Why the sync pool and not `AsyncMonty`: with pydantic-monty 1.4.0, a process
that used an `AsyncMonty` pool aborted at exit (SIGABRT, status 134) in 5 of 16
runs after a feed hit its time limit; the sync pool did in 0 of 43 (measured by
hand; tests/test_runtime.py checks that our exit status survives timeouts and
memory errors). A sync feed blocks its thread with the
GIL released, so async callers run it on a thread of `executor()` and
concurrency comes from several threads each holding one worker.

Async registered functions run on an event loop: the caller's loop for
`await template.aio(...)`; for sync calls, the calling thread's own loop (see
`eager.py`), or a private background loop (`host_loop()`) when the calling thread
already runs a loop, which is what lets the sync API work inside one.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import contextvars
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pydantic_monty

from agent_tools.sandbox.affinity import Colocation, supported

__all__ = [
    "MAX_NESTING",
    "DaemonExecutor",
    "PoolSettings",
    "Runtime",
    "configure",
    "get_runtime",
    "nesting",
    "shutdown",
    "worker_pids",
]

T = TypeVar("T")

MAX_NESTING = 4
"""How deep templates may run inside registered functions of other templates."""

nesting: contextvars.ContextVar[int] = contextvars.ContextVar("agent_tools_nesting", default=0)
"""0 at top level; inside a registered function of a run at depth d, d + 1."""


_ON = frozenset({"1", "true", "yes", "on", "always"})
_OFF = frozenset({"0", "false", "no", "off", "never"})


@dataclass(frozen=True)
class PoolSettings:
    """How many Monty workers the process may run.

    `max_workers` defaults to the CPU count (env `AGENT_TOOLS_MAX_WORKERS`);
    runs beyond it wait for a free worker. `colocate` says when a run that calls
    registered functions is pinned to one CPU (see `affinity.py`): True from its first
    call, False never, None (the default) as env `AGENT_TOOLS_COLOCATE` says
    (`1`/`0`/`auto`), and adaptively when that is unset.
    """

    max_workers: int | None = None
    min_workers: int = 1
    max_threads: int = 64
    colocate: bool | None = None

    def resolved_max_workers(self) -> int:
        if self.max_workers is not None:
            return self.max_workers
        env = os.environ.get("AGENT_TOOLS_MAX_WORKERS")
        return int(env) if env else (os.cpu_count() or 2)

    def resolved_colocate(self) -> bool | None:
        """True (always), False (never) or None (adaptive)."""
        if self.colocate is not None:
            return self.colocate
        env = os.environ.get("AGENT_TOOLS_COLOCATE", "").strip().lower()
        if env in _ON:
            return True
        if env in _OFF:
            return False
        if env in ("", "auto"):
            return None
        raise ValueError(
            f"AGENT_TOOLS_COLOCATE={env!r} is not understood: use 1 (always pin), 0 (never) or auto"
        )


class LoopDelivery:
    """Stands in for a `concurrent.futures.Future` in a `DaemonExecutor` job: hands the
    outcome straight to an asyncio future on its loop (one `call_soon_threadsafe`),
    without the thread-safe future, its condition variable and the callbacks that
    `run_in_executor` chains between the two. A job whose waiter was cancelled before
    it started is skipped, as `run_in_executor` skips it."""

    __slots__ = ("loop", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[Any]) -> None:
        self.loop = loop
        self.waiter = waiter

    def set_running_or_notify_cancel(self) -> bool:
        return not self.waiter.cancelled()  # read from another thread: at worst the job runs

    def set_result(self, result: Any) -> None:
        self._post(_deliver_result, result)

    def set_exception(self, exception: BaseException) -> None:
        self._post(_deliver_exception, exception)

    def cancel(self) -> bool:
        self._post(_deliver_cancel, None)
        return True

    def _post(self, deliver: Callable[[asyncio.Future[Any], Any], None], value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self.loop.call_soon_threadsafe(deliver, self.waiter, value)


def _deliver_result(waiter: asyncio.Future[Any], result: Any) -> None:
    if not waiter.done():
        waiter.set_result(result)


def _deliver_exception(waiter: asyncio.Future[Any], exception: BaseException) -> None:
    if not waiter.done():
        waiter.set_exception(exception)


def _deliver_cancel(waiter: asyncio.Future[Any], _: Any) -> None:
    waiter.cancel()


_Job = tuple["Future[Any] | LoopDelivery", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonExecutor(Executor):
    """A thread pool whose threads never hold up the interpreter's exit.

    `concurrent.futures.ThreadPoolExecutor` joins its threads at exit, so one hung
    registered function (a sync call that never returns, after its run's `timeout`
    has long fired) keeps the process alive forever. These threads are daemons:
    a run that was given up on is abandoned with the process. Idle threads wait
    `idle_seconds` for work and then end; at most `max_threads` run at once, and
    work beyond that waits in order.
    """

    def __init__(self, name: str, max_threads: int | None = None, idle_seconds: float = 30.0) -> None:
        self._name = name
        self._max = max_threads
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[_Job]] = []
        self._waiting: collections.deque[_Job] = collections.deque()
        self._live = 0
        self._count = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        self._put((future, fn, args, kwargs))
        return future

    def run_on_loop(self, fn: Callable[..., T], /, *args: Any) -> asyncio.Future[T]:
        """`fn(*args)` on a thread of this pool; its outcome in an asyncio future of the
        calling (running) loop. What `run_in_executor` does, with one hop back."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        self._put((LoopDelivery(loop, waiter), fn, args, {}))
        return waiter

    def _put(self, job: _Job) -> None:
        with self._lock:
            if self._idle:
                self._idle.pop().put(job)
                return
            if self._max is not None and self._live >= self._max:
                self._waiting.append(job)
                return
            self._live += 1
            self._count += 1
            number = self._count
        inbox: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        inbox.put(job)
        threading.Thread(target=self._work, args=(inbox,), name=f"{self._name}-{number}", daemon=True).start()

    def _work(self, inbox: queue.SimpleQueue[_Job]) -> None:
        while True:
            try:
                job = inbox.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:  # nobody handed us work meanwhile: end
                        self._idle.remove(inbox)
                        self._live -= 1
                        return
                continue  # a job is on its way
            while True:
                future, fn, args, kwargs = job
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args, **kwargs))
                    except BaseException as exc:  # handed to whoever waits on the future
                        future.set_exception(exc)
                del job, future, fn, args, kwargs  # drop references while idle
                with self._lock:
                    if not self._waiting:
                        self._idle.append(inbox)
                        break
                    job = self._waiting.popleft()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Cancel work not yet started (with `cancel_futures`); running work is left to end."""
        if cancel_futures:
            with self._lock:
                waiting, self._waiting = list(self._waiting), collections.deque()
            for future, *_ in waiting:
                future.cancel()


class Runtime:
    """Owns the pool, the thread executor for async callers and the host loop."""

    def __init__(self, settings: PoolSettings | None = None) -> None:
        self.settings = settings or PoolSettings()
        self._lock = threading.Lock()
        self._pools: dict[int, pydantic_monty.Monty] = {}
        self._executor: DaemonExecutor | None = None
        self._helpers: DaemonExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        colocate = self.settings.resolved_colocate()
        self.colocation = (
            Colocation(adaptive=colocate is None) if colocate is not False and supported() else None
        )
        """Set when runs may pin their host-call round trips to one CPU; None when off."""

    @property
    def pool(self) -> pydantic_monty.Monty:
        """The pool of top-level runs."""
        return self.pool_at(0)

    def pool_at(self, depth: int) -> pydantic_monty.Monty:
        """The pool for runs nested `depth` deep (a template run from a registered
        function of another run is one deeper). Each level has its own workers, so a
        nested run never waits for a worker its callers hold: with every worker of a
        level held by runs whose functions start templates, one shared pool deadlocks."""
        pool = self._pools.get(depth)
        if pool is None:
            with self._lock:
                pool = self._pools.get(depth)
                if pool is None:
                    max_workers = self.settings.resolved_max_workers()
                    pool = pydantic_monty.Monty(
                        min_processes=min(self.settings.min_workers, max_workers),
                        max_processes=max_workers,
                    )
                    pool.__enter__()
                    self._pools[depth] = pool
        return pool

    def worker_cap(self) -> int:
        """The most worker processes the pools made so far may run together."""
        return self.settings.resolved_max_workers() * max(1, len(self._pools))

    def executor(self) -> DaemonExecutor:
        """Threads for the runs of async callers, at most `max_threads` at once."""
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = DaemonExecutor("agent-tools-run", self.settings.max_threads)
        return self._executor

    def helpers(self) -> DaemonExecutor:
        """Unbounded daemon threads for work inside a run: `parallel_map` fan-out, and the
        thread a supervised run feeds from (see `task.pipeline`). Never shares a bound with
        `executor()`, so a run waiting for its helpers cannot deadlock with other runs."""
        if self._helpers is None:
            with self._lock:
                if self._helpers is None:
                    self._helpers = DaemonExecutor("agent-tools-helper")
        return self._helpers

    def host_loop(self) -> asyncio.AbstractEventLoop:
        """A private event loop on a daemon thread, for async registered functions
        called from synchronous runs."""
        if self._loop is None:
            with self._lock:
                if self._loop is None:
                    loop = asyncio.new_event_loop()
                    thread = threading.Thread(
                        target=loop.run_forever, name="agent-tools-host-loop", daemon=True
                    )
                    thread.start()
                    self._loop, self._loop_thread = loop, thread
        return self._loop

    async def run_in_thread(self, fn: Callable[[], T]) -> T:
        """Run blocking `fn` on the executor, in a copy of the caller's context (as
        `asyncio.to_thread` does: the nesting depth travels with it), and await it
        from the caller's loop."""
        context = contextvars.copy_context()
        return await self.executor().run_on_loop(context.run, fn)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = self._pools, {}
            executor, self._executor = self._executor, None
            loop, self._loop = self._loop, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        for pool in pools.values():
            pool.__exit__(None, None, None)
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The process-wide runtime (created on first use)."""
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                _runtime = Runtime()
    return _runtime


def configure(
    *,
    max_workers: int | None = None,
    min_workers: int = 1,
    max_threads: int = 64,
    colocate: bool | None = None,
) -> None:
    """Set the pool size, and when runs are colocated on one CPU (Linux only):
    `colocate=True` always, False never, None adaptively (or as env
    `AGENT_TOOLS_COLOCATE` says). Closes the current pool, if any; the next run
    starts a new one."""
    global _runtime
    settings = PoolSettings(max_workers, min_workers, max_threads, colocate)
    with _runtime_lock:
        old, _runtime = _runtime, Runtime(settings)
    if old is not None:
        old.close()


def shutdown() -> None:
    """Stop the workers. Safe to call twice; a later run starts a new pool."""
    global _runtime
    with _runtime_lock:
        old, _runtime = _runtime, None
    if old is not None:
        old.close()


def worker_pids() -> list[int]:
    """PIDs of this process's live Monty worker processes (Linux /proc; empty
    elsewhere), for diagnostics, tests and the soak benchmark. A worker that died
    and is not reaped yet (a zombie, until the pool next looks at it) is not counted."""
    me = os.getpid()
    pids: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return pids
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == me and "monty" in comm and state not in ("Z", "X"):
            pids.append(int(entry.name))
    return pids


atexit.register(shutdown)
