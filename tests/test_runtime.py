"""The runtime (point 8): one lazy pool, safe from threads and event loops, the sync
API inside a running loop, crashes contained, and the process's own exit status."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import agent_tools as at
from agent_tools.sandbox.eager import LoopCall, run_eager
from agent_tools.sandbox.pool import DaemonExecutor, get_runtime

from .conftest import add, monty_workers


async def aslow_add(a: int, b: int) -> int:
    await asyncio.sleep(0.005)
    return a + b


def template() -> at.CodeTaskTemplate:
    return at.orchestrator_from_str(
        "add(x, 1) + aslow_add(x, 2)", inputs={"x": int}, output=int, tasks=[add, aslow_add]
    )


def test_pool_is_created_lazily_and_reused() -> None:
    at.shutdown()
    assert monty_workers() == []
    t = template()
    assert monty_workers() == []  # making a template starts nothing
    assert t(x=1) == 5
    first = get_runtime().pool
    assert t(x=2) == 7
    assert get_runtime().pool is first
    assert 1 <= len(monty_workers()) <= get_runtime().settings.resolved_max_workers()


def test_many_threads_and_event_loops_at_once() -> None:
    at.shutdown()  # only this test's workers are counted, whatever ran before it
    t = template()

    def in_thread(i: int) -> list[int]:
        async def several() -> list[int]:
            return list(await asyncio.gather(*(t.aio(x=i * 10 + k) for k in range(4))))

        return [t(x=i), *asyncio.run(several())]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(in_thread, range(16)))
    for i, got in enumerate(results):
        assert got == [2 * i + 3] + [2 * (i * 10 + k) + 3 for k in range(4)]
    assert len(monty_workers()) <= get_runtime().settings.resolved_max_workers()


async def test_sync_api_inside_a_running_event_loop() -> None:
    # As in a notebook cell: the loop is running and blocked by the sync call, so
    # async functions must run elsewhere.
    assert template()(x=1) == 5


def test_eager_runner_handles_real_waits_and_errors() -> None:
    async def fails() -> None:
        await asyncio.sleep(0.001)
        raise KeyError("k")

    assert run_eager(aslow_add(1, 2)) == 3
    with pytest.raises(KeyError):
        run_eager(fails())


def test_a_killed_worker_fails_that_run_only() -> None:
    running = threading.Event()

    def started() -> None:
        running.set()

    t = at.orchestrator_from_str(
        "started()\nwhile True:\n    pass",
        inputs={},
        tasks=[started],
        plugin_config=at.SandboxedConfig(timeout_ms=20_000),
    )
    at.shutdown()  # a fresh pool, whatever ran before
    assert template()(x=1) == 5  # the pool is up, so `before` holds its workers
    before = set(monty_workers())
    assert before

    def kill_busy_worker() -> None:
        assert running.wait(10)  # the code is in its loop: kill while it runs
        time.sleep(0.1)
        for pid in monty_workers():
            os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_busy_worker)
    killer.start()
    with pytest.raises(at.WorkerCrashedError, match="SIGKILL") as info:
        t()
    killer.join()
    assert "SIGKILL" in str(info.value)
    assert template()(x=1) == 5
    assert not (set(monty_workers()) & before)  # the dead workers were replaced


def test_a_dead_worker_not_reaped_yet_is_not_counted_as_a_worker() -> None:
    at.shutdown()
    assert template()(x=1) == 5
    before = monty_workers()
    assert before
    for pid in before:  # idle: the pool reaps them only when it next hands one out
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(_state(pid) != "Z" for pid in before):
        assert time.monotonic() < deadline, "the killed workers never became zombies"
        time.sleep(0.01)
    assert monty_workers() == []
    assert template()(x=2) == 7
    assert monty_workers() and not set(monty_workers()) & set(before)


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def test_a_run_never_fails_for_an_idle_worker_killed_from_outside() -> None:
    """An idle worker killed by someone else (the OOM killer, an operator) is one the
    pool may hand out before it notices: the run that gets it runs on a fresh one."""
    calls: list[int] = []

    def note(x: int) -> int:
        calls.append(x)
        return x

    t = at.orchestrator_from_str("note(x) + 1", inputs={"x": int}, output=int, tasks=[note])
    for round_ in range(5):
        assert t(x=round_) == round_ + 1
        for pid in monty_workers():  # every worker is idle now
            os.kill(pid, signal.SIGKILL)
        assert t(x=100 + round_) == 101 + round_  # at once, before the pool can notice
    assert calls == [n for r in range(5) for n in (r, 100 + r)]  # each ran once


def test_a_crash_after_a_host_call_is_not_run_again() -> None:
    """A worker that dies after the code called a host function fails that run: running
    it again would repeat the call's effects."""
    calls: list[int] = []

    def note(x: int) -> int:
        calls.append(x)
        for pid in monty_workers():
            os.kill(pid, signal.SIGKILL)
        return x

    t = at.orchestrator_from_str("note(1)\nnote(2)", inputs={}, tasks=[note])
    with pytest.raises(at.WorkerCrashedError):
        t()
    assert calls == [1]


EXIT_SCRIPT = textwrap.dedent(
    """
    import sys, threading, os, signal, time
    import agent_tools as at

    def add(a: int, b: int) -> int:
        return a + b

    spin = at.orchestrator_from_str("while True:\\n    pass", inputs={},
                                    plugin_config=at.SandboxedConfig(timeout_ms=150))
    try:
        spin()
    except at.TimeLimitError:
        pass
    try:
        at.orchestrator_from_str("x = 10 ** 10 ** 7", inputs={},
                                 plugin_config=at.SandboxedConfig(timeout_ms=150))()
    except (at.TimeLimitError, at.MemoryLimitError):
        pass
    ok = at.orchestrator_from_str("add(1, 2)", inputs={}, output=int, tasks=[add])
    assert ok() == 3
    sys.exit(int(sys.argv[1]))
    """
)


@pytest.mark.parametrize("status", [0, 7, 3])
def test_process_exits_with_its_own_status_after_timeouts(status: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, str(status)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == status, proc.stderr


# -- the hand-off from an event loop to a runtime thread and back ---------------------------------


def test_run_on_loop_hands_back_results_and_errors_on_the_loop_thread() -> None:
    executor = DaemonExecutor("test-handoff", max_threads=2)
    workers: list[int] = []

    def work(x: int) -> int:
        workers.append(threading.get_ident())
        if x < 0:
            raise ValueError(f"negative: {x}")
        return x * 2

    async def main() -> None:
        here = threading.get_ident()
        assert await executor.run_on_loop(work, 21) == 42
        with pytest.raises(ValueError, match="negative: -1"):
            await executor.run_on_loop(work, -1)
        results = await asyncio.gather(*(executor.run_on_loop(work, i) for i in range(20)))
        assert results == [2 * i for i in range(20)]
        assert here not in workers  # every job ran on a pool thread, never the loop's

    asyncio.run(main())


def test_run_on_loop_skips_a_job_cancelled_before_it_started() -> None:
    """As with `run_in_executor`: a waiter cancelled while its job waits for a thread
    means the job never runs; a job already running finishes, its result dropped."""
    executor = DaemonExecutor("test-cancel", max_threads=1)
    release = threading.Event()
    ran: list[str] = []

    def slow() -> str:
        ran.append("slow")
        release.wait(10)
        return "slow"

    def queued() -> str:
        ran.append("queued")
        return "queued"

    async def main() -> None:
        first = executor.run_on_loop(slow)
        second = executor.run_on_loop(queued)  # waits: the one thread is busy
        await asyncio.sleep(0.05)
        second.cancel()
        first.cancel()  # already running: it goes on, nobody reads its result
        release.set()
        assert await executor.run_on_loop(queued) == "queued"  # the thread is free again

    asyncio.run(main())
    assert ran == ["slow", "queued"]


def test_run_on_loop_outliving_its_loop_leaves_the_thread_serving() -> None:
    """A job that ends after its loop closed has nobody to hand its result to: the
    thread drops it and serves the next job."""
    executor = DaemonExecutor("test-closed", max_threads=1)
    started, release = threading.Event(), threading.Event()

    def slow() -> int:
        started.set()
        release.wait(10)
        return 1

    async def leave() -> None:
        executor.run_on_loop(slow)
        started.wait(10)

    asyncio.run(leave())  # the loop closes while `slow` still runs
    release.set()

    async def again() -> int:
        return await executor.run_on_loop(lambda: 7)

    assert asyncio.run(again()) == 7


# -- an async function's call from the feeding thread to a loop on another thread ------------------


@pytest.fixture
def other_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_loop_call_returns_raises_and_keeps_context(other_loop: asyncio.AbstractEventLoop) -> None:
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")
    seen: list[tuple[str, int]] = []

    async def work(x: int) -> int:
        seen.append((marker.get(), threading.get_ident()))
        await asyncio.sleep(0.001)
        if x < 0:
            raise ValueError("negative")
        return x + 1

    marker.set("from the caller")
    assert LoopCall(work(1), other_loop).result() == 2
    with pytest.raises(ValueError, match="negative"):
        LoopCall(work(-1), other_loop).result()
    assert [m for m, _ in seen] == ["from the caller"] * 2  # the caller's context variables
    assert threading.get_ident() not in {t for _, t in seen}  # run on the loop's thread

    async def forever() -> None:
        await asyncio.sleep(60)

    call = LoopCall(forever(), other_loop)
    threading.Timer(0.05, call.cancel).start()
    started = time.monotonic()
    with pytest.raises(concurrent.futures.CancelledError):
        call.result()  # freed at once by cancel(), from another thread
    assert time.monotonic() - started < 5
    time.sleep(0.05)
    assert not [t for t in asyncio.all_tasks(other_loop) if not t.done()]  # the task was cancelled too


def test_loop_call_cancelled_before_it_starts_never_runs(other_loop: asyncio.AbstractEventLoop) -> None:
    ran: list[int] = []
    gate = threading.Event()
    other_loop.call_soon_threadsafe(gate.wait, 5)  # the loop is busy until the gate opens

    async def work() -> int:
        ran.append(1)
        return 1

    call = LoopCall(work(), other_loop)
    call.cancel()
    gate.set()
    with pytest.raises(concurrent.futures.CancelledError):
        call.result()
    assert LoopCall(work(), other_loop).result() == 1  # the loop serves the next one
    assert ran == [1]
