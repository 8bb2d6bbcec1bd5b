"""Load: the 500-run soak (the CI version of benchmarks/soak.py) and 64 runs at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import agent_tools as at
from agent_tools.sandbox.pool import get_runtime

from .conftest import add, monty_workers

ROOT = Path(__file__).resolve().parents[1]


def test_soak_500_mixed_runs() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--runs", "500"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "wrong results: 0" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_64_simultaneous_runs_from_threads_and_tasks() -> None:
    t = at.orchestrator_from_str(
        "s = 0\nfor i in range(n):\n    s = add(s, i)\ns", inputs={"n": int}, output=int, tasks=[add]
    )
    results: dict[str, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(33)

    def in_thread(k: int) -> None:
        barrier.wait()
        value = t(n=k)
        with lock:
            results[f"thread-{k}"] = value

    async def in_loop() -> None:
        async def one(k: int) -> None:
            results[f"task-{k}"] = await t.aio(n=k)

        barrier.wait()
        await asyncio.gather(*(one(k) for k in range(32)))

    threads = [threading.Thread(target=in_thread, args=(k,)) for k in range(32)]
    for th in threads:
        th.start()
    loop_thread = threading.Thread(target=lambda: asyncio.run(in_loop()))
    loop_thread.start()
    for th in [*threads, loop_thread]:
        th.join(120)
    expected = {f"{kind}-{k}": k * (k - 1) // 2 for kind in ("thread", "task") for k in range(32)}
    assert results == expected
    assert len(monty_workers()) <= get_runtime().settings.resolved_max_workers()
