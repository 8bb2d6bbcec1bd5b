"""Colocation: a run's host-call round trips pinned to one CPU (always, or adaptively
once its first calls show slow round trips), and every mask put back afterwards."""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import agent_tools as at
from agent_tools.sandbox import pool as rt
from agent_tools.sandbox.affinity import (
    Colocation,
    _io_threads,  # pyright: ignore[reportPrivateUsage]
    keeping_mask,
    starting_children,
)
from agent_tools.sandbox.functions import SERVED_BY
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


# -- functions served by threads of their own (an MCP connection's loop) -------------------


class Served:
    """A registered function whose work is done on a thread of its own, which it names
    under `SERVED_BY` (as an MCP tool names its connection's thread): each call hands
    its arguments to that thread and waits. The thread notes its CPU mask at each call."""

    def __init__(self, source: Callable[[], Any] | None = None, watch: int | None = None) -> None:
        self.jobs: queue.SimpleQueue[tuple[int, int, queue.SimpleQueue[int]] | None] = queue.SimpleQueue()
        self.masks: list[set[int]] = []
        self.watch = watch
        self.watched: list[set[int]] = []
        """The masks of thread or process `watch` seen at each call."""
        self.callers: list[set[int]] = []
        """The calling (feeding) thread's mask at each call."""
        self.thread = threading.Thread(target=self._serve, name="served", daemon=True)
        self.thread.start()
        jobs, callers = self.jobs, self.callers

        def served(t: int, i: int) -> int:
            callers.append(os.sched_getaffinity(0))
            box: queue.SimpleQueue[int] = queue.SimpleQueue()
            jobs.put((t, i, box))
            return box.get()

        setattr(served, SERVED_BY, source or self.thread_ids)
        self.function = served

    def thread_ids(self) -> list[int]:
        native = self.thread.native_id
        return [] if native is None else [native]

    def _serve(self) -> None:
        while (job := self.jobs.get()) is not None:
            t, i, box = job
            self.masks.append(os.sched_getaffinity(0))
            if self.watch is not None:
                self.watched.append(os.sched_getaffinity(self.watch))
            box.put(t + i)

    def own_mask(self) -> set[int]:
        return os.sched_getaffinity(self.thread_ids()[0])

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join(5)


@pytest.fixture
def served() -> Iterator[Served]:
    server = Served()
    yield server
    server.close()


def run_served(function: Callable[..., Any], n: int) -> None:
    template = at.orchestrator_from_str(
        "t = 0\nfor i in range(n):\n    t = served(t, i)\nt", inputs={"n": int}, output=int, tasks=[function]
    )
    assert template(n=n) == sum(range(n))


def test_a_function_served_by_its_own_thread_pins_that_thread_with_the_run(served: Served) -> None:
    full = os.sched_getaffinity(0)
    at.configure(colocate=True, max_workers=1)
    try:
        run_served(served.function, 6)
        # Pinned from the first call, the serving thread with the rest of the round trip;
        # the feeding thread stays pinned while it waits (it runs no host code itself).
        assert [len(mask) for mask in served.masks] == [1] * 6
        assert len(set[int]().union(*served.masks, *served.callers)) == 1
        assert [len(mask) for mask in served.callers] == [1] * 6
        assert served.own_mask() == full  # put back when the run ended
        assert all(mask == full for mask in all_masks().values())
        # A run that never calls it leaves the thread alone.
        probe_only = worker_masks_per_call(4)
        assert all(len(mask) == 1 for mask in probe_only[1:])
        assert served.own_mask() == full
    finally:
        at.configure()


def test_adaptive_counts_a_served_call_as_round_trip_not_host_code(
    adaptive_slow: Colocation, served: Served
) -> None:
    """Every host call would count as slow host code (threshold 0), which keeps a run
    unpinned (see above); a call served by its own thread is not host code on the
    feeding thread, so a run of such calls is pinned, serving thread included."""
    full = os.sched_getaffinity(0)
    adaptive_slow.slow_host_call = 0.0
    run_served(served.function, adaptive_slow.samples + 6)
    assert all(mask == full for mask in served.masks[: adaptive_slow.samples])
    assert all(len(mask) == 1 for mask in served.masks[adaptive_slow.samples :])
    assert served.own_mask() == full
    assert all(mask == full for mask in all_masks().values())


def test_adaptive_still_refuses_a_run_whose_own_host_code_is_slow(
    adaptive_slow: Colocation, served: Served
) -> None:
    full = os.sched_getaffinity(0)
    adaptive_slow.slow_host_call = 0.0

    def probe(t: int, i: int) -> int:
        return t + i

    code = "t = 0\nfor i in range(n):\n    t = probe(served(t, i), 0)\nt"
    template = at.orchestrator_from_str(code, inputs={"n": int}, output=int, tasks=[probe, served.function])
    assert template(n=10) == sum(range(10))
    assert all(mask == full for mask in served.masks)


@pytest.mark.parametrize("source", ["raises", "gone thread", "not a thread of ours", "empty"])
def test_a_bad_serving_source_pins_nothing_more_and_breaks_nothing(source: str) -> None:
    def raises() -> list[int]:
        raise RuntimeError("no threads today")

    gone = threading.Thread(target=lambda: None)
    gone.start()
    gone.join()
    sources: dict[str, Callable[[], Any]] = {
        "raises": raises,
        "gone thread": lambda: [gone.native_id],
        "not a thread of ours": lambda: [1],  # init: another process, never pinned (even as root)
        "empty": lambda: (),
    }
    server = Served(sources[source], watch=1)
    init_mask = os.sched_getaffinity(1)
    full = os.sched_getaffinity(0)
    at.configure(colocate=True, max_workers=1)
    try:
        run_served(server.function, 5)
        run_served(server.function, 3)  # the next run is unharmed
        assert all(mask == full for mask in server.masks)  # the real thread was never named
        assert server.watched and all(mask == init_mask for mask in server.watched)
        assert all(mask == full for mask in all_masks().values())
    finally:
        at.configure()
        server.close()


class OnThread:
    """A thread that runs what it is handed, one thing at a time (a serving thread)."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Callable[[], Any] | None] = queue.SimpleQueue()
        self.answers: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while (job := self.jobs.get()) is not None:
            self.answers.put(job())

    def do(self, job: Callable[[], Any]) -> Any:
        self.jobs.put(job)
        return self.answers.get(timeout=10)

    def tid(self) -> int:
        assert self.thread.native_id is not None
        return self.thread.native_id


def test_starting_children_unpins_a_served_thread_while_inside() -> None:
    """What a serving thread starts inside `starting_children()` has the normal mask
    (an MCP server started again during a pinned run); leaving puts the pin back, unless
    the run ended meanwhile."""
    full = os.sched_getaffinity(0)
    worker = subprocess.Popen(["sleep", "60"])  # stands for the Monty worker the pin takes
    serving = OnThread()
    stack = contextlib.ExitStack()
    colocation = Colocation(adaptive=False)
    try:

        def spawned_mask() -> set[int]:
            seen: list[set[int]] = []
            child = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
            child.start()
            child.join()
            return seen[0]

        def enter() -> None:
            stack.enter_context(starting_children())

        own = lambda: os.sched_getaffinity(0)  # noqa: E731
        pin = colocation.pin(worker.pid)
        assert pin is not None
        pin.serve(lambda: [serving.tid()])
        assert len(serving.do(own)) == 1 and len(serving.do(spawned_mask)) == 1  # what it starts inherits
        serving.do(enter)
        assert serving.do(own) == full and serving.do(spawned_mask) == full
        serving.do(enter)  # nested
        serving.do(lambda: stack.close())  # leaves both
        assert serving.do(own) == pin.cpu  # pinned again

        serving.do(enter)
        colocation.unpin(pin)  # the run ends while the thread is inside
        serving.do(lambda: stack.close())
        assert serving.do(own) == full  # not pinned again by leaving
        assert os.sched_getaffinity(worker.pid) == full

        serving.do(enter)  # with no pin at all: nothing changes
        assert serving.do(own) == full
        serving.do(lambda: stack.close())
        assert serving.do(own) == full
    finally:
        serving.jobs.put(None)
        worker.kill()
        worker.wait()


def test_a_thread_entering_starting_children_before_the_pin_is_pinned_on_leaving() -> None:
    full = os.sched_getaffinity(0)
    worker = subprocess.Popen(["sleep", "60"])
    serving = OnThread()
    stack = contextlib.ExitStack()
    colocation = Colocation(adaptive=False)
    try:
        serving.do(lambda: stack.enter_context(starting_children()))
        pin = colocation.pin(worker.pid)
        assert pin is not None
        pin.serve(lambda: [serving.tid()])
        assert serving.do(lambda: os.sched_getaffinity(0)) == full  # still inside: left alone
        serving.do(lambda: stack.close())
        assert serving.do(lambda: os.sched_getaffinity(0)) == pin.cpu
        colocation.unpin(pin)
        assert serving.do(lambda: os.sched_getaffinity(0)) == full
    finally:
        serving.jobs.put(None)
        worker.kill()
        worker.wait()


def test_host_code_between_served_calls_still_runs_with_its_own_mask(served: Served) -> None:
    full = os.sched_getaffinity(0)
    own: list[set[int]] = []

    def probe(t: int, i: int) -> int:
        own.append(os.sched_getaffinity(0))
        return t + i

    at.configure(colocate=True, max_workers=1)
    try:
        code = "t = 0\nfor i in range(6):\n    t = probe(served(t, i), 0)\nt"
        template = at.orchestrator_from_str(code, inputs={}, output=int, tasks=[probe, served.function])
        assert template() == sum(range(6))
    finally:
        at.configure()
    assert own and all(mask == full for mask in own)
    assert all(len(mask) == 1 for mask in served.callers) and all(len(m) == 1 for m in served.masks)
    assert all(mask == full for mask in all_masks().values())


def test_threads_a_pool_starts_on_a_pinned_serving_thread_keep_its_own_mask() -> None:
    """The initializer an MCP connection gives its loop's executor: threads it starts
    while a pin holds the connection's thread take the mask that thread had before."""
    full = os.sched_getaffinity(0)
    worker = subprocess.Popen(["sleep", "60"])
    serving = OnThread()
    colocation = Colocation(adaptive=False)
    pool = serving.do(lambda: ThreadPoolExecutor(max_workers=1, initializer=keeping_mask()))
    try:
        pin = colocation.pin(worker.pid)
        assert pin is not None
        pin.serve(lambda: [serving.tid()])
        assert serving.do(lambda: os.sched_getaffinity(0)) == pin.cpu
        started = serving.do(lambda: pool.submit(lambda: os.sched_getaffinity(0)))  # starts its thread now
        assert started.result(10) == full
        colocation.unpin(pin)
    finally:
        pool.shutdown()
        serving.jobs.put(None)
        worker.kill()
        worker.wait()
