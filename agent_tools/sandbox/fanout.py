"""Fan-out: `parallel_map` calls one registered function per item, on daemon threads
(or concurrently, for an async function), in item order, within the call budget.

`flyte_map` is the same builtin with Flyte's defaults (`flyte.sandbox`'s `flyte_map`,
which hands a task to `flyte.map`): no concurrency limit (`concurrency=0`), and a
failed item's exception returned in the list in its place (`return_exceptions=True`).
Both take Flyte's keywords: `concurrency`, `group_name`, `return_exceptions`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import itertools
import re
import threading
from dataclasses import dataclass
from typing import Any

from agent_tools.base import errors as e
from agent_tools.base.prompts import hint
from agent_tools.sandbox.classify import unknown_function_hint
from agent_tools.sandbox.functions import FLYTE_MAP, MAP_DEFAULTS, MAP_KEYWORDS, PARALLEL_MAP, HostFunction
from agent_tools.sandbox.hostcalls import HostCalls
from agent_tools.sandbox.plan import RANGE_REPR, VIEW_REPR
from agent_tools.sandbox.pool import get_runtime, nesting

__all__ = ["FanOut", "UnknownTaskError", "gather_values"]


_MAX_FAN_OUT = 32
"""Threads (or concurrent coroutines) one parallel_map may use, whatever the code asks."""

_OPAQUE = re.compile(r"<[\w.]+ object(?: at 0x[0-9a-f]+)?>")

_MAP_NAME = re.compile(rf"\b({PARALLEL_MAP}|{FLYTE_MAP})\b")


class UnknownTaskError(e.UnknownFunctionError, RuntimeError):
    """`flyte_map` of a name that is not registered. Flyte raises a `RuntimeError` for
    it, which ends the run whatever the code does; so does this, and `except
    RuntimeError` around the run catches it as it catches Flyte's."""


@dataclass(frozen=True)
class _MapCall:
    """One call of `parallel_map` or `flyte_map`, its keywords checked, defaults filled."""

    name: str
    """Which of the two the code called: messages name it, defaults follow it."""
    concurrency: int
    """At most this many calls at once; 0: no limit (`flyte_map`'s default)."""
    return_exceptions: bool
    group_name: str | None
    """Accepted as Flyte's `group_name` is; there is no Flyte UI to group the calls in."""


def _options(name: str, given: dict[str, Any]) -> _MapCall:
    unknown = [k for k in given if k not in MAP_KEYWORDS]
    if unknown:
        raise TypeError(
            f"{name}() got an unexpected keyword argument {unknown[0]!r} (it takes {', '.join(MAP_KEYWORDS)})"
        )
    values = {**MAP_DEFAULTS[name], **given}
    concurrency, return_exceptions, group_name = (
        values["concurrency"],
        values["return_exceptions"],
        values["group_name"],
    )
    if name == FLYTE_MAP:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 0:
            raise ValueError(f"{name}: concurrency must be an int >= 0 (0: no limit), got {concurrency!r}")
    elif isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"{name}: concurrency must be a positive int, got {concurrency!r}")
    if not isinstance(return_exceptions, bool):
        raise TypeError(f"{name}: return_exceptions must be True or False, got {return_exceptions!r}")
    if group_name is not None and not isinstance(group_name, str):
        raise TypeError(f"{name}: group_name must be a str or None, got {group_name!r}")
    return _MapCall(name, concurrency, return_exceptions, group_name)


class FanOut(HostCalls):
    """`parallel_map`/`flyte_map`: one registered function over many items, on the host."""

    def _parallel_map(self, fn: Any, *iterables: Any, **options: Any) -> list[Any]:
        """The code's `parallel_map`."""
        return self._mapping(PARALLEL_MAP, fn, iterables, options)

    def _flyte_map(self, fn: Any, *iterables: Any, **options: Any) -> list[Any]:
        """The code's `flyte_map`: Flyte's keywords and defaults."""
        return self._mapping(FLYTE_MAP, fn, iterables, options)

    def _mapping(self, name: str, fn: Any, iterables: tuple[Any, ...], options: dict[str, Any]) -> list[Any]:
        pin = self._host_side() if self._colocation is not None else None
        try:
            return self._map(fn, iterables, _options(name, options))
        finally:
            if self._colocation is not None:
                self._left_host(pin)

    def _map(self, fn: Any, iterables: tuple[Any, ...], call: _MapCall) -> list[Any]:
        name = fn if isinstance(fn, str) else getattr(fn, "__name__", repr(fn))
        target = self.functions.get(name)
        if target is None:
            registered = ", ".join(self.functions) or "none"
            message = f"{call.name}: {name!r} is not a registered function (registered: {registered})"
            if call.name == FLYTE_MAP:
                available = sorted(self.functions)
                error = UnknownTaskError(
                    message,
                    name=name,
                    available=available,
                    exc_type="RuntimeError",
                    exc_message=f"RuntimeError: {message}",
                    hint=unknown_function_hint(name, self.functions),
                )
                # Kept as a limit is: the run ends with it, even if the code catches
                # the RuntimeError it sees here (Flyte's ends the run at once).
                self._limit_hit = self._limit_hit or error
                raise RuntimeError(message)
            raise NameError(message)
        if not iterables:
            raise TypeError(f"{call.name} needs at least one iterable of arguments")
        # Never more items than the call budget has room for: the code must not make
        # the host build millions of argument tuples (or threads) before the budget bites.
        room = max(0, self.limits.max_host_calls - len(self.calls))
        literals = self.plan.repr_like_literals
        rebuilt = [_iterable(it, literals, call.name) for it in iterables]
        items = list(itertools.islice(zip(*rebuilt, strict=False), room + 1))
        if len(items) > room:
            error = e.CallLimitError(
                f"{call.name} over more items than the {self.limits.max_host_calls} calls a run may make",
                hint=hint("call-limit"),
            )
            self._limit_hit = self._limit_hit or error
            raise RuntimeError(error.message)
        if not items:
            return []
        concurrency = min(call.concurrency or _MAX_FAN_OUT, _MAX_FAN_OUT)
        try:
            return self._fan_out(target, items, concurrency, call.return_exceptions)
        except Exception as exc:
            # Report the failure the sandbox sees (the first in item order), not
            # whichever call happened to fail last.
            self._last_failed = next((c for c in reversed(self.calls) if c.error is exc), self._last_failed)
            raise

    def _fan_out(
        self, target: HostFunction, items: list[tuple[Any, ...]], concurrency: int, keep: bool
    ) -> list[Any]:
        """`keep`: a failed call's exception goes in the list in its place (Flyte's
        `return_exceptions=True`); else the first failure in item order is raised."""
        if target.is_async:

            async def one(args: tuple[Any, ...], sem: asyncio.Semaphore) -> Any:
                try:
                    return await self._ainvoke(target, args, sem)
                except Exception as exc:
                    if keep:
                        return exc
                    raise

            async def fan_out() -> list[Any]:
                sem = asyncio.Semaphore(concurrency)
                return list(await asyncio.gather(*(one(a, sem) for a in items)))

            return self._await(fan_out())
        if concurrency == 1 or len(items) == 1:
            return [self._call_one(target, a, keep) for a in items]
        return self._threads(target, items, min(concurrency, len(items)), keep)

    def _call_one(self, target: HostFunction, args: tuple[Any, ...], keep: bool) -> Any:
        try:
            return self._invoke(target, args, {})
        except Exception as exc:
            if keep:
                return exc
            raise

    def _threads(
        self, target: HostFunction, items: list[tuple[Any, ...]], lanes: int, keep: bool
    ) -> list[Any]:
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
                except Exception as exc:
                    if keep:
                        results[index] = exc
                    else:
                        failures[index] = exc
                except BaseException as exc:
                    failures[index] = exc

        helpers = get_runtime().helpers()
        futures = [helpers.submit(context.copy().run, lane) for _ in range(lanes)]
        concurrent.futures.wait(futures)
        if failures:
            raise failures[min(failures)]
        return results


def _iterable(value: Any, literals: frozenset[str] = frozenset(), name: str = PARALLEL_MAP) -> Any:
    """Monty 1.4.0 hands a `range` or dict view to the host as its repr string
    ('range(0, 5)', 'dict_keys([1])'); rebuild those so `parallel_map(f, range(n))`
    works. Any other string is iterated as a string, as in Python, and so is one
    that the code spells out as a literal (the two cannot be told apart here)."""
    if isinstance(value, str) and value not in literals:
        if _OPAQUE.fullmatch(value):  # an iterator or generator, which Monty hands over as its repr
            raise TypeError(f"{name} got {value}: pass a list, e.g. list(...)")
        if m := RANGE_REPR.fullmatch(value):
            return range(*(int(g) for g in m.groups() if g is not None))
        if VIEW_REPR.fullmatch(value):
            # Only reached when parallel_map was called under another name, so the
            # iterable was not made a list in the sandbox (see source.wrap_map_iterables):
            # the text is not parsed, which would let code make the host allocate at will.
            raise TypeError(f"{name} got the text of a dict view ({value[:40]}...): pass list(...)")
    return value


def gather_values(*values: Any) -> list[Any]:
    return list(values)
