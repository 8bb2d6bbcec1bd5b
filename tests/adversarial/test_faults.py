"""Faults: workers killed or stopped mid-run, every worker busy, and the pool used
from many threads and event loops at once. Only the run whose worker died may
fail; everything else queues and succeeds."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import agent_tools as at
from agent_tools.sandbox.pool import get_runtime

from ..conftest import add, monty_workers
from ._harness import Case, Context, Outcome, check_case, params, run_standard

pytestmark = pytest.mark.usefixtures("healthy")

_running = threading.Event()


def started() -> None:
    """The code calls this once it is running: the signal to strike."""
    _running.set()


def kill_workers(sig: int = signal.SIGKILL) -> list[int]:
    pids = monty_workers()
    for pid in pids:
        os.kill(pid, sig)  # only this process's own Monty workers
    return pids


def kill_from_inside() -> int:
    """A registered function that kills the worker waiting for its result."""
    kill_workers()
    time.sleep(0.05)
    return 1


async def akill_on_two(x: int) -> int:
    await asyncio.sleep(0.01)
    if x == 2:
        kill_workers()
    await asyncio.sleep(0.05)
    return x


async def aslow_add(a: int, b: int) -> int:
    await asyncio.sleep(0.005)
    return a + b


def _strike(sig: int, delay: float = 0.1) -> Callable[[Case, Context], Outcome]:
    """Run the case while another thread sends `sig` to the workers once the code
    has called started()."""

    def scenario(case: Case, ctx: Context) -> Outcome:
        _running.clear()
        struck: list[int] = []

        def striker() -> None:
            if _running.wait(10):
                time.sleep(delay)
                struck.extend(kill_workers(sig))

        thread = threading.Thread(target=striker)
        thread.start()
        outcome = run_standard(case, ctx)
        thread.join()
        outcome.extra["struck"] = struck
        return outcome

    return scenario


def _replaced(outcome: Outcome, ctx: Context) -> None:
    assert outcome.extra["struck"], "no worker was signalled"
    assert "replaced" in str(outcome.error)
    assert at.orchestrator_from_str("add(1, 2)", inputs={}, output=int, tasks=[add])() == 3
    assert not set(monty_workers()) & set(outcome.extra["struck"]), "a signalled worker is still in the pool"


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2]


def _not_left_stopped(outcome: Outcome, ctx: Context) -> None:
    assert outcome.extra["struck"]
    for pid in outcome.extra["struck"]:
        if pid in monty_workers():
            assert _state(pid) != "T", f"worker {pid} is left stopped in the pool"


def _idle_workers_killed(case: Case, ctx: Context) -> Outcome:
    assert at.orchestrator_from_str("1", inputs={}, output=int)() == 1  # the pool has workers
    assert kill_workers()
    time.sleep(0.05)
    return run_standard(case, ctx)


def _doubling() -> at.CodeTaskTemplate:
    return at.orchestrator_from_str(
        "import time\ntime.sleep(0.05)\nadd(x, x)", inputs={"x": int}, output=int, tasks=[add]
    )


def _more_runs_than_workers(case: Case, ctx: Context) -> Outcome:
    runs = 3 * get_runtime().settings.resolved_max_workers()
    template = _doubling()
    with ThreadPoolExecutor(runs) as pool:
        results = list(pool.map(lambda i: template(x=i), range(runs)))
    return Outcome(result=results == [2 * i for i in range(runs)])


def _gather_on_one_loop(case: Case, ctx: Context) -> Outcome:
    template = _doubling()

    async def main() -> list[int]:
        return list(await asyncio.gather(*(template.aio(x=i) for i in range(12))))

    return Outcome(result=asyncio.run(main()) == [2 * i for i in range(12)])


def _threads_and_loops(case: Case, ctx: Context) -> Outcome:
    template = at.orchestrator_from_str(
        "add(x, 1) + aslow_add(x, 2)", inputs={"x": int}, output=int, tasks=[add, aslow_add]
    )

    def in_thread(i: int) -> bool:
        async def several() -> list[int]:
            return list(await asyncio.gather(*(template.aio(x=i * 10 + k) for k in range(3))))

        got = [template(x=i), *asyncio.run(several())]
        return got == [2 * i + 3] + [2 * (i * 10 + k) + 3 for k in range(3)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(in_thread, range(16)))
    return Outcome(result=all(results))


def boom(x: int) -> int:
    raise ValueError(f"boom {x}")


MIXED: dict[str, tuple[str, dict[str, int]]] = {
    "ok": ("add(x, 1)", {}),
    "TimeLimitError": ("while True:\n    pass", {"timeout_ms": 200}),
    "MemoryLimitError": ("'a' * 10 ** 9", {"max_memory": 20_000_000}),
    "RecursionLimitError": ("def f(n):\n    return f(n + 1)\nf(x)", {"max_stack_depth": 50}),
    "HostFunctionError": ("boom(x)", {}),
    "CallLimitError": ("while True:\n    add(x, 1)", {"max_host_calls": 20}),
}


def _mixed_failures_at_once(case: Case, ctx: Context) -> Outcome:
    templates = {
        kind: at.orchestrator_from_str(
            code,
            inputs={"x": int},
            output=Any,
            tasks=[add, boom],
            plugin_config=at.SandboxedConfig(**limits),  # pyright: ignore[reportArgumentType]
        )
        for kind, (code, limits) in MIXED.items()
    }

    def one(kind: str) -> str:
        try:
            templates[kind](x=1)
        except at.SandboxError as exc:
            return type(exc).__name__
        return "ok"

    kinds = list(MIXED) * 3
    with ThreadPoolExecutor(len(kinds)) as pool:
        got = list(pool.map(one, kinds))
    return Outcome(result=got)


_all_busy: list[threading.Barrier] = []


def hold() -> None:
    """The busy runs and the test thread meet here: every worker is then busy."""
    _all_busy[-1].wait()


def _kill_while_queued(case: Case, ctx: Context) -> Outcome:
    """Every worker busy, one more run queued; the busy workers are killed: the
    busy runs fail with WorkerCrashedError and the queued one gets a new worker."""
    workers = get_runtime().settings.resolved_max_workers()
    _all_busy.append(threading.Barrier(workers + 1, timeout=10))
    busy = at.orchestrator_from_str(
        "hold()\nwhile True:\n    pass",
        inputs={},
        tasks=[hold],
        plugin_config=at.SandboxedConfig(timeout_ms=20_000),
    )
    queued = at.orchestrator_from_str("add(20, 22)", inputs={}, output=int, tasks=[add])

    def run(template: at.CodeTaskTemplate) -> str:
        try:
            return repr(template())
        except at.SandboxError as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(workers + 1) as pool:
        busy_runs = [pool.submit(run, busy) for _ in range(workers)]
        _all_busy[-1].wait()
        queued_run = pool.submit(run, queued)
        time.sleep(0.1)
        kill_workers()
        got = [f.result(timeout=20) for f in busy_runs] + [queued_run.result(timeout=20)]
    crashed = got[:-1] == ["WorkerCrashedError"] * workers
    return Outcome(result=(crashed, got[-1]) if crashed else got)


CASES = [
    Case(
        "sigkill_mid_run",
        "started()\nwhile True:\n    pass",
        at.WorkerCrashedError,
        tasks=(started,),
        limits={"timeout_ms": 20_000},
        scenario=_strike(signal.SIGKILL),
        check=_replaced,
    ),
    Case(
        "sigterm_mid_run",
        "started()\nwhile True:\n    pass",
        at.WorkerCrashedError,
        tasks=(started,),
        limits={"timeout_ms": 20_000},
        scenario=_strike(signal.SIGTERM),
        check=_replaced,
    ),
    Case(
        "sigstop_mid_run",
        "started()\nwhile True:\n    pass",
        at.TimeLimitError,
        tasks=(started,),
        limits={"timeout_ms": 300},
        scenario=_strike(signal.SIGSTOP, delay=0.05),
        check=_not_left_stopped,
    ),
    Case(
        "sigkill_during_host_call", "kill_from_inside() + 1", at.WorkerCrashedError, tasks=(kill_from_inside,)
    ),
    Case(
        "sigkill_during_async_fan_out",
        "parallel_map(akill_on_two, range(4))",
        at.WorkerCrashedError,
        tasks=(akill_on_two,),
    ),
    Case("sigkill_idle_workers", "add(1, 2)", tasks=(add,), scenario=_idle_workers_killed, result=3),
    Case(
        "sigkill_while_a_run_is_queued",
        scenario=_kill_while_queued,
        result=(True, "42"),
    ),
    Case("more_runs_than_workers", scenario=_more_runs_than_workers, result=True),
    Case("gather_of_aio_runs", scenario=_gather_on_one_loop, result=True),
    Case("many_threads_and_event_loops", scenario=_threads_and_loops, result=True),
    Case(
        "mixed_failures_at_once",
        scenario=_mixed_failures_at_once,
        result=list(MIXED) * 3,
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_faults(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_case(case, tmp_path, monkeypatch)
