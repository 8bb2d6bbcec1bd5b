"""Colocation: keep one run's host-call round trips on a single CPU (Linux).

Each call from the sandbox to a registered function is a round trip between three
threads: the Monty worker, the pool's I/O thread in this process (Monty's tokio
runtime) and the thread feeding the code. On an idle machine, and on virtual
machines above all, every hop that wakes a sleeping CPU costs tens of
microseconds: measured on a 2-core VM, a round trip took about 70 us spread over
two CPUs and about 13 us with all three threads on one CPU.

`Colocation` pins those threads to the CPU the feeding thread is on, from the
run's first host call until it ends, then restores every mask it changed. While a
registered function runs, the feeding thread gets its own mask back, so threads
the function starts never inherit the pin. A registered function whose work is done
by another thread of this process (an MCP connection's event loop: see
`functions.SERVED_BY`) adds that thread to the pin instead, and the feeding thread
stays pinned while it waits, so the hop there and back stays on the CPU too (the
`mcp_calls.py` figures in the README compare it with that thread left free); what
such a thread starts inside `starting_children()` is never pinned. One run at a
time is colocated (the I/O threads are shared by the whole pool); concurrent runs
go unpinned.

Pinning gives up the scheduler's freedom to move a run off a busy CPU, which pays
only where round trips are slow because CPUs sleep: on a busy machine the round trip
is already fast and pinning makes it slower (measured: 20 against 13.6 us). So by
default colocation is adaptive: a run measures the gaps between its first host calls
(the round trip, plus whatever the code computes in between) and pins only if even
the shortest of them is slow. `always` pins from the first call.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
from collections.abc import Callable, Generator, Iterable
from functools import cache

__all__ = ["Colocation", "Pin", "keeping_mask", "starting_children", "supported"]

_IO_THREAD_PREFIX = "tokio-"
"""Monty's host-side I/O threads (pydantic-monty 1.4 names them `tokio-rt-worker`)."""


def supported() -> bool:
    return sys.platform == "linux" and hasattr(os, "sched_setaffinity")


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _current_cpu() -> int:
    """The CPU the calling thread is on (glibc's `sched_getcpu`), -1 if unknown."""
    value: object = _libc().sched_getcpu()
    return value if isinstance(value, int) else -1


def _threads(pid: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


_io_comm: dict[int, bool] = {}
"""Whether each thread of this process seen so far is one of Monty's I/O threads (its
name read once: opening /proc for every thread at every pin cost most of a pin)."""


def _io_threads() -> list[int]:
    python = {t.native_id for t in threading.enumerate()}
    tids = _threads(os.getpid())
    for gone in _io_comm.keys() - set(tids):  # a thread id may be reused by a new thread
        del _io_comm[gone]
    found: list[int] = []
    for tid in tids:
        if tid in python:
            continue
        known = _io_comm.get(tid)
        if known is None:
            try:
                with open(f"/proc/self/task/{tid}/comm") as comm:
                    known = _io_comm[tid] = comm.read().startswith(_IO_THREAD_PREFIX)
            except OSError:
                continue
        if known:
            found.append(tid)
    return found


_served_lock = threading.Lock()
_served: dict[int, tuple[set[int], set[int]]] = {}
"""Serving threads a pin holds: thread id -> (its pinned mask, the mask to put back)."""
_starting: dict[int, int] = {}
"""Serving threads inside `starting_children()`: thread id -> how deep."""


def keeping_mask() -> Callable[[], None]:
    """An initializer for the threads a pool on this thread will start (an executor's):
    each takes this thread's mask as it is now, never a pin this thread may hold when
    the pool starts it."""
    mask = os.sched_getaffinity(0) if supported() else None

    def take() -> None:
        if mask is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, mask)

    return take


@contextlib.contextmanager
def starting_children() -> Generator[None]:
    """Around code on a serving thread (`functions.SERVED_BY`) that may start processes
    or threads (an MCP connection starting its server, or an executor thread): inside,
    the thread has its own mask back even while a pin holds it, so what it starts never
    inherits the pin; the pin, if it still holds the thread, is put back on leaving.
    The block may span `await`s (the other tasks of the thread's loop run unpinned
    meanwhile)."""
    tid = threading.get_native_id()
    with _served_lock:
        _starting[tid] = _starting.get(tid, 0) + 1
        held = _served.get(tid)
        if held is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, held[1])
    try:
        yield
    finally:
        with _served_lock:
            depth = _starting.pop(tid) - 1
            if depth:
                _starting[tid] = depth
            held = _served.get(tid)
            if not depth and held is not None:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(0, held[0])


class Pin:
    """The masks one colocated run changed, and the CPU it is pinned to."""

    def __init__(self, cpu: int, worker_pid: int) -> None:
        self.cpu = {cpu}
        self.feeder = threading.get_native_id()
        self.feeder_mask = os.sched_getaffinity(0)
        self.released = False
        self.guard = threading.Lock()
        self._saved: dict[int, set[int]] = {}
        self._sources: set[Callable[[], Iterable[int]]] = set()
        self._pin([*_threads(worker_pid), *_io_threads()])

    def _pin(self, tids: Iterable[int], *, serving: bool = False) -> None:
        """Pin `tids` (those whose mask has the CPU), saving their masks. A serving
        thread is also noted for `starting_children`, which pins it itself on leaving
        if it is inside one now. Serving threads are pinned under `_served_lock`."""
        for tid in tids:
            if tid in self._saved or tid == self.feeder:
                continue
            with contextlib.suppress(OSError):
                mask = os.sched_getaffinity(tid)
                if not self.cpu <= mask:
                    continue
                if not (serving and tid in _starting):
                    os.sched_setaffinity(tid, self.cpu)
                self._saved[tid] = mask
                if serving:
                    _served[tid] = (self.cpu, mask)

    def serve(self, source: Callable[[], Iterable[int]]) -> None:
        """Pin as well the threads `source` names (a registered function's serving
        threads, `functions.SERVED_BY`): asked once per source, from the feeding thread."""
        if source in self._sources:
            return
        self._sources.add(source)
        with self.guard:
            if self.released:
                return
            try:
                named = set(source())
            except Exception:  # a source that fails pins nothing more
                return
            ours = [tid for tid in _threads(os.getpid()) if tid in named]  # never another process's
            with _served_lock:
                self._pin(ours, serving=True)

    def hold(self) -> None:
        """Pin the feeding thread: it is about to wait on the sandbox."""
        with self.guard, contextlib.suppress(OSError):
            if not self.released:
                os.sched_setaffinity(self.feeder, self.cpu)

    def let_go(self) -> None:
        """Give the feeding thread its own mask back: host code is about to run."""
        with contextlib.suppress(OSError):
            os.sched_setaffinity(self.feeder, self.feeder_mask)

    def restore(self) -> None:
        """Put back every mask this pin changed (safe from any thread)."""
        self.let_go()
        with _served_lock:
            for tid, mask in self._saved.items():
                _served.pop(tid, None)
                with contextlib.suppress(OSError):  # the worker may be gone
                    os.sched_setaffinity(tid, mask)
            self._saved.clear()


class Colocation:
    """Hands out at most one `Pin` at a time. With `adaptive`, a run asks for one only
    after `samples` gaps between its host calls, only if the shortest of them took at
    least `slow_round_trip` seconds, only if its host calls are quick (the shortest
    under `slow_host_call` seconds: where host code on the feeding thread dominates,
    the round trip is a small part and moving the feeding thread on and off the CPU
    costs more than pinning saves; calls to functions served by threads of their own,
    MCP tools, do not count, as their threads are pinned too), and only while it is
    the one run in flight (with several, the gaps measure contention, and the shared
    I/O threads must stay free); a pinned run lets go as soon as another one starts."""

    def __init__(
        self,
        *,
        adaptive: bool = True,
        samples: int = 2,
        slow_round_trip: float = 40e-6,
        slow_host_call: float = 200e-6,
    ) -> None:
        self._lock = threading.Lock()
        self.adaptive = adaptive
        self.samples = samples
        self.slow_round_trip = slow_round_trip
        self.slow_host_call = slow_host_call
        self.running: set[int] = set()
        """Ids of the runs in flight (set.add and discard are atomic under the GIL)."""

    def alone(self) -> bool:
        return len(self.running) <= 1

    def pin(self, worker_pid: int | None) -> Pin | None:
        """Pin a run whose worker is `worker_pid`, or None if another run holds the
        pin or this platform cannot."""
        if worker_pid is None or not supported() or not self._lock.acquire(blocking=False):
            return None
        try:
            cpu = _current_cpu()
            if cpu < 0 or cpu not in os.sched_getaffinity(0):
                raise OSError("no current CPU")
            return Pin(cpu, worker_pid)
        except (OSError, AttributeError):
            self._lock.release()
            return None

    def unpin(self, pin: Pin) -> None:
        """End `pin`; a second call (the run's end after a cancel) does nothing."""
        with pin.guard:
            if pin.released:
                return
            pin.released = True
        try:
            pin.restore()
        finally:
            self._lock.release()
