"""One run never harms another: a time limit, a wall-clock timeout, an output cap or
a cancellation stops only the worker of the run it belongs to, and the error names
the limit that fired."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import agent_tools as at

from ..conftest import add


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def healthy_template() -> at.CodeTaskTemplate:
    return at.orchestrator_from_str("x + 1", inputs={"x": int}, output=int)


def calls_template() -> at.CodeTaskTemplate:
    return at.orchestrator_from_str(
        "s = 0\nfor i in range(n):\n    s = add(s, i)\ns", inputs={"n": int}, output=int, tasks=[add]
    )


@pytest.mark.parametrize("rounds", [1, 3, 6])
def test_sandbox_time_limit_with_a_wall_clock_timeout_kills_no_other_run(rounds: int) -> None:
    ok = healthy_template()
    cpu = at.orchestrator_from_str("while True:\n    pass", inputs={}, timeout_ms=300, timeout=2)
    for i in range(rounds):
        started = time.perf_counter()
        with pytest.raises(at.TimeLimitError) as info:
            cpu()
        elapsed = time.perf_counter() - started
        # the sandbox's own limit fired (0.3 s), not the 2 s wall clock
        assert "timeout_ms=300" in str(info.value)
        assert "wall clock" not in str(info.value)
        assert elapsed < 1.9
        assert ok(x=i) == i + 1


def test_wall_clock_timeout_names_itself_and_spares_the_next_run() -> None:
    ok = healthy_template()
    slow = at.orchestrator_from_str("nap(1.5)", inputs={}, output=float, tasks=[nap], timeout=0.4)
    for i in range(3):
        with pytest.raises(at.TimeLimitError) as info:
            slow()
        assert "timeout=0.4s (wall clock" in str(info.value)
        assert ok(x=i) == i + 1


def test_wall_clock_timeout_of_a_cpu_loop_kills_its_worker_only() -> None:
    ok = healthy_template()
    cpu = at.orchestrator_from_str("while True:\n    pass", inputs={}, timeout_ms=60_000, timeout=0.3)
    for i in range(3):
        started = time.perf_counter()
        with pytest.raises(at.TimeLimitError) as info:
            cpu()
        assert time.perf_counter() - started < 5
        assert "wall clock" in str(info.value)
        assert ok(x=i) == i + 1


@pytest.mark.parametrize("cap", [100, 10_000])
def test_output_flood_kills_only_its_worker(cap: int) -> None:
    ok = healthy_template()
    flood = at.orchestrator_from_str(
        "while True:\n    print('x' * 100)", inputs={}, plugin_config=at.SandboxedConfig(max_output_bytes=cap)
    )
    for i in range(3):
        with pytest.raises(at.OutputLimitError):
            flood()
        assert ok(x=i) == i + 1


async def test_sandbox_time_limit_in_the_async_face_spares_the_next_run() -> None:
    ok = healthy_template()
    cpu = at.orchestrator_from_str("while True:\n    pass", inputs={}, timeout_ms=200, timeout=3)
    for i in range(3):
        with pytest.raises(at.TimeLimitError) as info:
            await cpu.aio()
        assert "timeout_ms=200" in str(info.value)
        assert await ok.aio(x=i) == i + 1


async def test_cancelling_an_async_run_stops_its_worker_and_no_other() -> None:
    ok = healthy_template()
    cpu = at.orchestrator_from_str("while True:\n    pass", inputs={}, timeout_ms=60_000)
    for i in range(3):
        task = asyncio.create_task(cpu.aio())
        await asyncio.sleep(0.3)
        started = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await ok.aio(x=i) == i + 1
        # the worker was killed, not left spinning for 60 s: every worker is free again
        assert time.perf_counter() - started < 10


async def test_cancelled_run_makes_no_more_host_calls() -> None:
    made: list[int] = []

    def tick(i: int) -> int:
        made.append(i)
        time.sleep(0.05)
        return i

    t = at.orchestrator_from_str("for i in range(200):\n    tick(i)", inputs={}, tasks=[tick])
    task = asyncio.create_task(t.aio())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    count = len(made)
    await asyncio.sleep(0.5)
    assert len(made) <= count + 1  # at most the call already in flight
    assert count < 200


def test_wall_clock_timeout_refuses_later_host_calls_and_parallel_map_items() -> None:
    made: list[int] = []
    lock = threading.Lock()

    def slow(i: int) -> int:
        with lock:
            made.append(i)
        time.sleep(0.1)
        return i

    t = at.orchestrator_from_str(
        "parallel_map(slow, range(40), concurrency=4)",
        inputs={},
        output=list[int],
        tasks=[slow],
        timeout=0.35,
    )
    with pytest.raises(at.TimeLimitError) as info:
        t()
    time.sleep(1.0)  # whatever was still queued would run by now
    # 4 lanes x about 4 rounds before the deadline, plus the calls in flight
    assert len(made) <= 4 * 5, made
    record = info.value.record
    assert record is not None
    assert len(record.calls) <= len(made)


Kind = tuple[str, Callable[[int], Any], Callable[[int, Any], bool]]


def _mixed_kinds() -> list[Kind]:
    ok = healthy_template()
    calls = calls_template()
    cpu = at.orchestrator_from_str("while True:\n    pass", inputs={"n": int}, timeout_ms=150, timeout=5)
    wall = at.orchestrator_from_str(
        "while True:\n    pass", inputs={"n": int}, timeout_ms=60_000, timeout=0.2
    )
    sleepy = at.orchestrator_from_str("nap(3)", inputs={"n": int}, output=float, tasks=[nap], timeout=0.2)
    flood = at.orchestrator_from_str(
        "while True:\n    print('y' * 50)",
        inputs={"n": int},
        plugin_config=at.SandboxedConfig(max_output_bytes=500),
    )
    memory = at.orchestrator_from_str(
        "x = []\nwhile True:\n    x.append('z' * 10000)",
        inputs={"n": int},
        plugin_config=at.SandboxedConfig(max_memory=2_000_000),
    )
    return [
        ("healthy", lambda n: ok(x=n), lambda n, r: r == n + 1),
        ("calls", lambda n: calls(n=n % 20), lambda n, r: r == sum(range(n % 20))),
        ("time limit", lambda n: cpu(n=n), lambda n, r: isinstance(r, at.TimeLimitError)),
        ("wall clock cpu", lambda n: wall(n=n), lambda n, r: isinstance(r, at.TimeLimitError)),
        ("wall clock host", lambda n: sleepy(n=n), lambda n, r: isinstance(r, at.TimeLimitError)),
        ("flood", lambda n: flood(n=n), lambda n, r: isinstance(r, at.OutputLimitError)),
        ("memory", lambda n: memory(n=n), lambda n, r: isinstance(r, at.MemoryLimitError)),
        ("healthy", lambda n: ok(x=n), lambda n, r: r == n + 1),
    ]


@pytest.mark.parametrize("round_", range(3))
def test_64_concurrent_mixed_runs_every_healthy_run_succeeds(round_: int) -> None:
    kinds = _mixed_kinds()
    plan = [kinds[i % len(kinds)] for i in range(64)]
    random.Random(round_).shuffle(plan)
    wrong: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        name, run, check = plan[i]
        try:
            outcome: Any = run(i)
        except at.SandboxError as exc:
            outcome = exc
        if not check(i, outcome):
            with lock:
                wrong.append(f"{i} {name}: {outcome!r}"[:300])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert wrong == []
    assert healthy_template()(x=1) == 2


async def test_64_concurrent_mixed_async_runs_with_cancellations() -> None:
    ok = healthy_template()
    calls = calls_template()
    cpu = at.orchestrator_from_str("while True:\n    pass", inputs={}, timeout_ms=60_000)

    async def healthy(i: int) -> bool:
        return await ok.aio(x=i) == i + 1 and await calls.aio(n=5) == 10

    async def cancelled() -> bool:
        task = asyncio.create_task(cpu.aio())
        await asyncio.sleep(0.1)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True
        return False

    jobs = [healthy(i) if i % 4 else cancelled() for i in range(64)]
    results = await asyncio.gather(*jobs)
    assert all(results)
    assert await ok.aio(x=41) == 42
