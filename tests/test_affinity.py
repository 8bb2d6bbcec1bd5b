"""Colocation: a run's host-call round trips pinned to one CPU (always, or adaptively
once its first calls show slow round trips), and every mask put back afterwards."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import agent_tools as at
from agent_tools.sandbox import pool as rt
from agent_tools.sandbox.affinity import Colocation, _io_threads  # pyright: ignore[reportPrivateUsage]
from agent_tools.sandbox.pool import worker_pids

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or len(os.sched_getaffinity(0)) < 2,
    reason="CPU pinning is Linux-only and means nothing with one CPU",
)

LOOP = "t = 0\nfor i in range(n):\n    t = probe(t, i)\nt"


def all_masks() -> dict[int, set[int]]:
    """Every thread of this process and of its Monty workers, with its CPU mask."""
    masks: dict[int, set[int]] = {}
    for pid in [os.getpid(), *worker_pids()]:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                masks[int(tid)] = os.sched_getaffinity(int(tid))
            except OSError:
                continue
    return masks


@pytest.fixture
def colocated() -> Iterator[None]:
    at.configure(colocate=True)
    yield
    at.configure()


def test_adaptive_by_default_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENT_TOOLS_COLOCATE", raising=False)
    default = rt.Runtime().colocation
    assert default is not None and default.adaptive
    for value, adaptive in [("1", False), ("always", False), ("auto", True), (" On ", False)]:
        monkeypatch.setenv("AGENT_TOOLS_COLOCATE", value)
        colocation = rt.Runtime().colocation
        assert colocation is not None and colocation.adaptive is adaptive, value
    for value in ["0", "off", "never"]:
        monkeypatch.setenv("AGENT_TOOLS_COLOCATE", value)
        assert rt.Runtime().colocation is None
    monkeypatch.setenv("AGENT_TOOLS_COLOCATE", "sometimes")
    with pytest.raises(ValueError, match="AGENT_TOOLS_COLOCATE='sometimes'"):
        rt.Runtime()
    assert rt.Runtime(rt.PoolSettings(colocate=False)).colocation is None
    assert rt.Runtime(rt.PoolSettings(colocate=True)).colocation.adaptive is False  # type: ignore[union-attr]


def worker_masks_per_call(n: int, at_call: Callable[[int], object] = lambda i: None) -> list[set[int]]:
    """Run a loop of `n` host calls; the union of the worker's thread masks seen by each.
    `at_call(i)` runs in each call, after the masks are read."""
    seen: list[set[int]] = []

    def probe(t: int, i: int) -> int:
        worker = [os.sched_getaffinity(int(tid)) for tid in os.listdir(f"/proc/{worker_pids()[0]}/task")]
        seen.append(set[int]().union(*worker))
        at_call(i)
        return t + i

    template = at.orchestrator_from_str(LOOP, inputs={"n": int}, output=int, tasks=[probe])
    assert template(n=n) == sum(range(n))
    return seen


@pytest.mark.parametrize("slow", [True, False])
def test_adaptive_pins_only_after_slow_round_trips(slow: bool) -> None:
    at.configure(colocate=None, max_workers=1)
    try:
        colocation = rt.get_runtime().colocation
        assert colocation is not None and colocation.adaptive
        # Every gap counts as slow (threshold 0), or none does (threshold infinite);
        # the probe's own time never counts as slow host code here.
        colocation.slow_round_trip = 0.0 if slow else float("inf")
        colocation.slow_host_call = float("inf")
        full = os.sched_getaffinity(0)
        seen = worker_masks_per_call(colocation.samples + 6)
        # The first call starts the clock, the next `samples` measure a gap each, and
        # the last of those decides: pinned (or not) from there on.
        assert all(mask == full for mask in seen[: colocation.samples])
        later = seen[colocation.samples :]
        assert all(len(mask) == 1 for mask in later) if slow else all(mask == full for mask in later)
        assert all(mask == full for mask in all_masks().values())
    finally:
        at.configure()


def test_monty_names_its_io_threads_as_colocation_expects() -> None:
    """Colocation finds Monty's host-side I/O threads by name: if a Monty release
    renames them, this fails, rather than the gain quietly shrinking."""
    assert at.orchestrator_from_str("1", inputs={}, output=int)() == 1
    assert _io_threads(), "no thread named tokio-* in this process while a Monty pool is open"


@pytest.fixture
def adaptive_slow() -> Iterator[Colocation]:
    """Adaptive colocation that finds every round trip slow (threshold 0)."""
    at.configure(colocate=None, max_workers=1)
    colocation = rt.get_runtime().colocation
    assert colocation is not None and colocation.adaptive
    colocation.slow_round_trip = 0.0
    colocation.slow_host_call = float("inf")
    yield colocation
    at.configure()


def test_adaptive_never_pins_a_run_whose_host_calls_are_slow(adaptive_slow: Colocation) -> None:
    """Where host code dominates each call (an MCP tool), pinning saves little of the
    round trip and costs moving the feeding thread on and off the CPU: no pin."""
    full = os.sched_getaffinity(0)
    adaptive_slow.slow_host_call = 0.0  # every host call counts as slow
    seen = worker_masks_per_call(adaptive_slow.samples + 6)
    assert all(mask == full for mask in seen)


def test_adaptive_judges_host_calls_by_the_shortest(adaptive_slow: Colocation) -> None:
    """One slow call among quick ones does not keep a run from being pinned."""
    adaptive_slow.slow_host_call = 0.05

    def at_call(i: int) -> None:
        if i == 1:
            time.sleep(0.08)

    seen = worker_masks_per_call(adaptive_slow.samples + 6, at_call)
    assert all(len(mask) == 1 for mask in seen[adaptive_slow.samples :])


def test_adaptive_never_pins_a_run_that_has_company(adaptive_slow: Colocation) -> None:
    full = os.sched_getaffinity(0)
    adaptive_slow.running.add(-1)  # another run in flight
    try:
        seen = worker_masks_per_call(adaptive_slow.samples + 6)
    finally:
        adaptive_slow.running.discard(-1)
    assert all(mask == full for mask in seen)


def test_adaptive_pin_lets_go_when_another_run_starts(adaptive_slow: Colocation) -> None:
    full = os.sched_getaffinity(0)
    company = adaptive_slow.samples + 3

    def at_call(i: int) -> None:
        if i == company:
            adaptive_slow.running.add(-1)

    try:
        seen = worker_masks_per_call(adaptive_slow.samples + 8, at_call)
    finally:
        adaptive_slow.running.discard(-1)
    assert all(len(mask) == 1 for mask in seen[adaptive_slow.samples : company + 1])
    assert all(mask == full for mask in seen[company + 1 :])
    assert all(mask == full for mask in all_masks().values())
    assert adaptive_slow.running == set()


def test_pins_the_round_trip_but_never_the_host_code(colocated: None) -> None:
    full = os.sched_getaffinity(0)
    seen: list[tuple[set[int], set[int], set[int]]] = []

    def probe(t: int, i: int) -> int:
        worker = [os.sched_getaffinity(int(tid)) for tid in os.listdir(f"/proc/{worker_pids()[0]}/task")]
        spawned: list[set[int]] = []
        thread = threading.Thread(target=lambda: spawned.append(os.sched_getaffinity(0)))
        thread.start()
        thread.join()
        seen.append((os.sched_getaffinity(0), spawned[0], set[int]().union(*worker)))
        return t + i

    at.configure(colocate=True, max_workers=1)
    template = at.orchestrator_from_str(LOOP, inputs={"n": int}, output=int, tasks=[probe])
    assert template(n=5) == 10
    # Host code always runs with the thread's own mask, and threads it starts inherit that.
    assert all(own == full and spawned == full for own, spawned, _ in seen)
    # From the second call on, the worker is pinned to a single CPU.
    assert all(len(worker) == 1 for _, _, worker in seen[1:])
    assert all(mask == full for mask in all_masks().values())


def test_one_pinned_run_at_a_time_and_all_results_right(colocated: None) -> None:
    def probe(t: int, i: int) -> int:
        return t + i

    template = at.orchestrator_from_str(LOOP, inputs={"n": int}, output=int, tasks=[probe])

    def run_one(n: int) -> int:
        return int(template(n=n))

    full = os.sched_getaffinity(0)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run_one, range(100, 140)))
    assert results == [sum(range(n)) for n in range(100, 140)]
    assert all(mask == full for mask in all_masks().values())
    colocation = rt.get_runtime().colocation
    assert colocation is not None
    pin = colocation.pin(worker_pids()[0])  # the slot was given back
    assert pin is not None
    colocation.unpin(pin)


def test_masks_restored_after_a_wall_clock_timeout_and_errors(colocated: None) -> None:
    release = threading.Event()

    def probe(t: int, i: int) -> int:
        if i == 3:
            release.wait(5)
        return t + i

    full = os.sched_getaffinity(0)
    slow = at.orchestrator_from_str(LOOP, inputs={"n": int}, output=int, tasks=[probe])
    with pytest.raises(at.TimeLimitError):
        slow.override(timeout=0.5)(n=10)
    release.set()
    failing = at.orchestrator_from_str("probe(1, 2)\n1 / 0", inputs={}, output=int, tasks=[probe])
    with pytest.raises(at.SandboxRuntimeError):
        failing()
    assert slow(n=3) == 3
    assert all(mask == full for mask in all_masks().values())


def test_never_two_runs_pinned_at_once(colocated: None, monkeypatch: pytest.MonkeyPatch) -> None:
    colocation = rt.get_runtime().colocation
    assert colocation is not None
    held = {"now": 0, "peak": 0, "pins": 0}
    guard = threading.Lock()
    real_pin, real_unpin = colocation.pin, colocation.unpin

    def pin(worker_pid: int | None) -> Any:
        given = real_pin(worker_pid)
        if given is not None:
            with guard:
                held["now"] += 1
                held["pins"] += 1
                held["peak"] = max(held["peak"], held["now"])
        return given

    def unpin(given: Any) -> None:
        with guard:
            if not given.released:
                held["now"] -= 1
        real_unpin(given)

    monkeypatch.setattr(colocation, "pin", pin)
    monkeypatch.setattr(colocation, "unpin", unpin)

    def probe(t: int, i: int) -> int:
        time.sleep(0.001)
        return t + i

    template = at.orchestrator_from_str(LOOP, inputs={"n": int}, output=int, tasks=[probe])
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: int(template(n=n)), range(30, 70)))
    assert results == [sum(range(n)) for n in range(30, 70)]
    assert held["pins"] >= 1  # colocation did pin runs
    assert held["peak"] == 1  # but never two at once
