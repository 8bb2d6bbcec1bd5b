"""Ctrl-C during a feed on the main thread.

Python runs a signal handler only between bytecodes of the main thread, and a feed
is one call into Monty that returns when the code ends or hits `timeout_ms` (30 s
by default): until then, SIGINT waits. Moving every feed off the main thread would
make it interruptible, but each hop wakes a second CPU (about 70 us on an idle VM).

Instead, while the main thread feeds, the signal module's wakeup fd points at a
pipe that a daemon thread reads. SIGINT writes a byte there at once (the C-level
handler does, even while the main thread is inside Monty); the thread stops the
feeding runs by killing their workers, the feed returns, and Python's own handler
raises `KeyboardInterrupt` in the main thread at its next bytecode. Cost on the
normal path: two `set_wakeup_fd` calls per run. The mechanism stands aside when
someone else owns the wakeup fd (an asyncio loop's signal handlers) or SIGINT has a
handler other than Python's default.
"""

from __future__ import annotations

import importlib
import os
import signal
import threading
from collections.abc import Callable
from typing import cast

__all__ = ["unwatch_interrupts", "watch_interrupts"]

_SIGINT = int(signal.SIGINT)
_getsignal = cast(Callable[[int], object], importlib.import_module("_signal").getsignal)
"""`signal.getsignal` without its conversion to an enum: this runs on every feed."""


class _Watch:
    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)
        self.lock = threading.Lock()
        self.stops: dict[int, Callable[[], None]] = {}
        threading.Thread(target=self._serve, name="agent-tools-interrupts", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data = os.read(self.read_fd, 64)
            except OSError:
                return
            if not data:
                return
            if signal.SIGINT in data:
                with self.lock:
                    stops = list(self.stops.values())
                for stop in stops:
                    stop()


_watch: _Watch | None = None
_watch_lock = threading.Lock()


def _get_watch() -> _Watch:
    global _watch
    if _watch is None:
        with _watch_lock:
            if _watch is None:
                _watch = _Watch()
    return _watch


def watch_interrupts(stop: Callable[[], None]) -> tuple[int, int] | None:
    """Call `stop` (from another thread) if SIGINT arrives before `unwatch_interrupts`,
    while this thread, the main one, feeds. Returns the token for `unwatch_interrupts`,
    or None where it stands aside: off the main thread, when SIGINT has a handler other
    than Python's default, or when the wakeup fd is someone else's. (Two plain calls
    rather than a context manager: this runs on every feed of the main thread.)"""
    if (
        threading.current_thread() is not threading.main_thread()
        or _getsignal(_SIGINT) is not signal.default_int_handler
    ):
        return None
    watch = _get_watch()
    previous = signal.set_wakeup_fd(watch.write_fd, warn_on_full_buffer=False)
    if previous not in (-1, watch.write_fd):  # an event loop's: leave it be
        signal.set_wakeup_fd(previous)
        return None
    key = id(stop)
    with watch.lock:
        watch.stops[key] = stop
    return key, previous


def unwatch_interrupts(token: tuple[int, int] | None) -> None:
    if token is None:
        return
    key, previous = token
    watch = _get_watch()
    with watch.lock:
        watch.stops.pop(key, None)
    if previous == -1:
        signal.set_wakeup_fd(-1)
