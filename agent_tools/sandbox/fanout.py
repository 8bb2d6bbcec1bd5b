"""Fan-out: `parallel_map` calls one registered function per item, on daemon threads
(or concurrently, for an async function), in item order, within the call budget.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import itertools
import re
import threading
from typing import Any

from agent_tools.base import errors as e
from agent_tools.base.prompts import hint
from agent_tools.sandbox.functions import HostFunction
from agent_tools.sandbox.hostcalls import HostCalls
from agent_tools.sandbox.plan import RANGE_REPR, VIEW_REPR
from agent_tools.sandbox.pool import get_runtime, nesting

__all__ = ["FanOut", "gather_values"]


_MAX_FAN_OUT = 32
"""Threads (or concurrent coroutines) one parallel_map may use, whatever the code asks."""

_OPAQUE = re.compile(r"<[\w.]+ object(?: at 0x[0-9a-f]+)?>")


class FanOut(HostCalls):
    """`parallel_map`/`flyte_map`: one registered function over many items, on the host."""

    def _parallel_map(self, fn: Any, *iterables: Any, concurrency: int = 8) -> list[Any]:
        pin = self._host_side() if self._colocation is not None else None
        try:
            return self._map(fn, iterables, concurrency)
        finally:
            if self._colocation is not None:
                self._left_host(pin)

    def _map(self, fn: Any, iterables: tuple[Any, ...], concurrency: int) -> list[Any]:
        name = fn if isinstance(fn, str) else getattr(fn, "__name__", repr(fn))
        target = self.functions.get(name)
        if target is None:
            raise NameError(
                f"parallel_map: {name!r} is not a registered function "
                f"(registered: {', '.join(self.functions) or 'none'})"
            )
        if not iterables:
            raise TypeError("parallel_map needs at least one iterable of arguments")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValueError(f"parallel_map: concurrency must be a positive int, got {concurrency!r}")
        # Never more items than the call budget has room for: the code must not make
        # the host build millions of argument tuples (or threads) before the budget bites.
        room = max(0, self.limits.max_host_calls - len(self.calls))
        literals = self.plan.repr_like_literals
        rebuilt = [_iterable(it, literals) for it in iterables]
        items = list(itertools.islice(zip(*rebuilt, strict=False), room + 1))
        if len(items) > room:
            error = e.CallLimitError(
                f"parallel_map over more items than the {self.limits.max_host_calls} calls a run may make",
                hint=hint("call-limit"),
            )
            self._limit_hit = self._limit_hit or error
            raise RuntimeError(error.message)
        if not items:
            return []
        concurrency = min(concurrency, _MAX_FAN_OUT)
        try:
            return self._fan_out(target, items, concurrency)
        except Exception as exc:
            # Report the failure the sandbox sees (the first in item order), not
            # whichever call happened to fail last.
            self._last_failed = next((c for c in reversed(self.calls) if c.error is exc), self._last_failed)
            raise

    def _fan_out(self, target: HostFunction, items: list[tuple[Any, ...]], concurrency: int) -> list[Any]:
        if target.is_async:

            async def fan_out() -> list[Any]:
                sem = asyncio.Semaphore(concurrency)
                return list(await asyncio.gather(*(self._ainvoke(target, a, sem) for a in items)))

            return self._await(fan_out())
        if concurrency == 1 or len(items) == 1:
            return [self._invoke(target, a, {}) for a in items]
        return self._threads(target, items, min(concurrency, len(items)))

    def _threads(self, target: HostFunction, items: list[tuple[Any, ...]], lanes: int) -> list[Any]:
        """Call `target` once per item on `lanes` daemon threads (a hung call must not
        keep the process from exiting), each taking the next item in order. Every item
        runs, as with a thread pool's map; the failure raised is the first in item order."""
        results: list[Any] = [None] * len(items)
        failures: dict[int, BaseException] = {}
        order = iter(range(len(items)))
        take = threading.Lock()
        context = contextvars.copy_context()  # the run's context variables, in every lane

        def lane() -> None:
            nesting.set(self.depth + 1)
            while True:
                with take:
                    index = next(order, None)
                if index is None:
                    return
                try:
                    results[index] = self._invoke(target, items[index], {})
                except BaseException as exc:
                    failures[index] = exc

        helpers = get_runtime().helpers()
        futures = [helpers.submit(context.copy().run, lane) for _ in range(lanes)]
        concurrent.futures.wait(futures)
        if failures:
            raise failures[min(failures)]
        return results


def _iterable(value: Any, literals: frozenset[str] = frozenset()) -> Any:
    """Monty 1.4.0 hands a `range` or dict view to the host as its repr string
    ('range(0, 5)', 'dict_keys([1])'); rebuild those so `parallel_map(f, range(n))`
    works. Any other string is iterated as a string, as in Python, and so is one
    that the code spells out as a literal (the two cannot be told apart here)."""
    if isinstance(value, str) and value not in literals:
        if _OPAQUE.fullmatch(value):  # an iterator or generator, which Monty hands over as its repr
            raise TypeError(f"parallel_map got {value}: pass a list, e.g. list(...)")
        if m := RANGE_REPR.fullmatch(value):
            return range(*(int(g) for g in m.groups() if g is not None))
        if VIEW_REPR.fullmatch(value):
            # Only reached when parallel_map was called under another name, so the
            # iterable was not made a list in the sandbox (see source.wrap_map_iterables):
            # the text is not parsed, which would let code make the host allocate at will.
            raise TypeError(f"parallel_map got the text of a dict view ({value[:40]}...): pass list(...)")
    return value


def gather_values(*values: Any) -> list[Any]:
    return list(values)
