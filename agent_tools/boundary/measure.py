"""How big a value is as it crosses the wall (without ever expanding shared parts),
whether Monty cut it short, and the bounded copy the run record keeps.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Iterable, Sized
from typing import Any

import pydantic_core

__all__ = ["CUT_MARKER", "cut_short", "io_size", "measure", "preview"]


_SMALL = 24
"""An upper bound on the JSON size of None, a bool, a float or an int below 1e15."""

_SCALAR_TYPES = (type(None), bool, int, float)


def io_size(value: Any) -> int:
    """Bytes `value` takes as JSON (bytes as base64), the measure `max_inline_io_bytes`
    caps. A small scalar skips the encoder; anything else is encoded (pydantic-core's
    encoder measures a small dict faster than a Python loop over it could)."""
    return measure(value)[0]


def measure(value: Any) -> tuple[int, bool]:
    """`io_size(value)`, and whether `CUT_MARKER` may occur in the value (then
    `cut_short` says whether Monty put it there).

    A value whose containers are shared (`a = [a, a]` thirty times: a few KB in the
    sandbox, 2**30 leaves once expanded) is measured by a memoised walk over its
    distinct containers, never expanded: JSON-encoding it would allocate the whole
    expansion first. The size is then that of the expansion, which is what crossing
    the boundary as data would cost."""
    kind: type[Any] = type(typing.cast(object, value))
    if kind in _SCALAR_TYPES and (kind is not int or -(10**15) < value < 10**15):
        return _SMALL, False
    if kind in _WALKED and _shares(value):
        return _walk_size(value), True
    try:
        data = pydantic_core.to_json(value, bytes_mode="base64", fallback=repr)
    except (ValueError, RecursionError):  # nested past its depth, a frozenset key, a lone surrogate
        return _walk_size(value), True  # maybe deep: let cut_short look
    # `int in bytes` is a memchr; `bytes in bytes` costs several times more, so look
    # for the marker only where a '<' appears at all.
    return len(data), _LT in data and _CUT_JSON in data


CUT_MARKER = "<deeply nested>"
"""What Monty 1.4 puts, silently, in place of the part of a value it hands back that is
nested deeper than the session's `max_recursion_depth` (our `max_stack_depth`)."""

_CUT_JSON = b'"<deeply nested>"'

_LT = ord("<")


def cut_short(value: Any, depth: int) -> bool:
    """Whether `value`, handed back by Monty, had its part nested `depth` levels deep
    replaced by `CUT_MARKER`. Walks containers down to `depth`, without recursion,
    each (container, level) once; only called when `measure` saw the marker or could
    not encode the value."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen: set[tuple[int, int]] = set()
    while stack:
        item, level = stack.pop()
        if level == depth:
            if item == CUT_MARKER:
                return True
            continue
        if isinstance(item, (dict, list, tuple)):
            key = (id(typing.cast(object, item)), level)
            if key in seen:
                continue
            seen.add(key)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in typing.cast(dict[Any, Any], item).values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, level + 1) for v in typing.cast(Iterable[Any], item))
    return False


_WALKED = frozenset({dict, list, tuple, set, frozenset})


def _children(item: Any) -> Iterable[Any]:
    if type(item) is dict or isinstance(item, dict):
        pairs = typing.cast(dict[Any, Any], item)
        return [*pairs.keys(), *pairs.values()]
    return typing.cast(Iterable[Any], item)


def _shares(value: Any) -> bool:
    """Whether a container occurs twice in `value` (shared, or a cycle). Visits each
    container once and looks at no leaf twice."""
    # The usual value, a dict or list of scalars, has no inner container at all.
    is_dict = type(value) is dict
    top = typing.cast(dict[Any, Any], value).values() if is_dict else typing.cast(Iterable[Any], value)
    if not any(type(typing.cast(object, c)) in _WALKED for c in top) and (
        not is_dict
        or not any(type(typing.cast(object, k)) in _WALKED for k in typing.cast(dict[Any, Any], value))
    ):
        return False
    seen: set[int] = set()
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        ident = id(typing.cast(object, item))
        if ident in seen:
            return True
        seen.add(ident)
        stack.extend(c for c in _children(item) if type(typing.cast(object, c)) in _WALKED)
    return False


def _leaf_size(item: Any) -> int:
    """At least the bytes a non-container takes as JSON. A str that is not valid UTF-8
    (a lone surrogate), which no sandbox can hold, is a `ValueError`."""
    kind: type[Any] = type(typing.cast(object, item))
    if kind is str:  # with quotes and escapes
        try:
            return len(json.dumps(item, ensure_ascii=False).encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise ValueError(f"a str with a lone surrogate at position {exc.start - 1}") from None
    if kind in (bytes, bytearray):
        return 4 * -(-len(item) // 3) + 2
    if kind is bool or item is None:
        return 5
    if kind is float:  # JSON spells inf as Infinity
        return len(repr(item)) + 5
    if kind is int:
        return typing.cast(int, item).bit_length() * 31 // 100 + 2  # digits, rounded up
    return len(repr(item))


def _walk_size(value: Any) -> int:
    """`io_size` the slow way, for what pydantic's encoder refuses or must not expand:
    computes each distinct container's size once (post-order, without recursion) and
    adds it wherever the container occurs, so a shared structure costs its distinct
    containers, not its expansion. A container met again inside itself (a cycle)
    counts as its repr '[...]'."""
    if not isinstance(value, (dict, list, tuple, set, frozenset)):
        return _leaf_size(value)
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, done = stack.pop()
        ident = id(typing.cast(object, item))
        if done:
            children = list(_children(item))
            total = (
                2
                + len(children)
                + (3 * len(typing.cast(dict[Any, Any], item)) if isinstance(item, dict) else 0)
            )
            for child in children:
                if type(typing.cast(object, child)) in _WALKED:
                    total += sizes.get(id(typing.cast(object, child)), 5)  # 5: a cycle's '[...]'
                else:
                    total += _leaf_size(child)
            sizes[ident] = total
            open_.discard(ident)
            continue
        if ident in sizes or ident in open_:
            continue
        open_.add(ident)
        stack.append((item, True))
        stack.extend((c, False) for c in _children(item) if type(typing.cast(object, c)) in _WALKED)
    return sizes[id(typing.cast(object, value))]


_CUT_NOTE = "... [{} more {}]"


def preview(value: Any, budget: int, redact: Callable[[str], str] | None = None) -> Any:
    """`value` itself if it takes at most about `budget` bytes (strings by length,
    every other leaf and every container a few bytes each, shared parts once per
    occurrence); otherwise a copy cut to that size: long strings and bytes keep their
    start and say how much was cut, containers keep their first items and say how
    many more there were. What the run record keeps of a host call's values: the
    code may pass the same 5 MB string to a thousand calls. The walk stops at the
    budget, so it costs O(budget) whatever the value's size. With `redact`, a string
    is redacted before it is cut, so no cut can keep the start of a secret."""
    kind = type(typing.cast(object, value))
    if kind in _SCALAR_TYPES:
        return value
    if kind is tuple and len(value) * 9 + 2 <= budget and all(type(v) in _SCALAR_TYPES for v in value):
        return value  # the arguments of most calls: a few numbers
    if _fits(value, budget):
        return value
    return _cut(value, [budget], redact, 0)


def _fits(value: Any, budget: int) -> bool:
    room = budget
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            room -= len(item) + 2
        elif isinstance(item, (dict, list, tuple, set, frozenset)):
            room -= 2 + len(typing.cast(Sized, item))
            if room >= 0:
                stack.extend(_children(item))
        else:
            room -= 8
        if room < 0:
            return False
    return True


def _cut(value: Any, room: list[int], redact: Callable[[str], str] | None, depth: int) -> Any:
    """`value` cut to the budget left in `room[0]` (shared and spent as the walk goes)."""
    if isinstance(value, str):
        text = redact(value) if redact is not None else value
        keep = max(0, min(len(text), room[0] - 2))
        room[0] -= keep + 2
        return text if keep == len(text) else text[:keep] + _CUT_NOTE.format(len(text) - keep, "chars")
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        keep = max(0, min(len(data), room[0] - 2))
        room[0] -= keep + 2
        return (
            data if keep == len(data) else data[:keep] + _CUT_NOTE.format(len(data) - keep, "bytes").encode()
        )
    if not isinstance(value, (dict, list, tuple, set, frozenset)):
        room[0] -= 8
        return value
    if depth >= 32:
        room[0] -= 8
        return f"[{type(typing.cast(object, value)).__name__} nested too deep to record]"
    room[0] -= 2
    if isinstance(value, dict):
        pairs = typing.cast(dict[Any, Any], value)
        out: dict[Any, Any] = {}
        for count, (key, item) in enumerate(pairs.items()):
            if room[0] <= 0:
                out["..."] = _CUT_NOTE.format(len(pairs) - count, "items")[4:]
                break
            room[0] -= 1
            out[key if not isinstance(key, str) else _cut(key, room, redact, depth + 1)] = _cut(
                item, room, redact, depth + 1
            )
        return out
    items = (
        list(typing.cast(Iterable[Any], value))
        if not isinstance(value, list)
        else typing.cast(list[Any], value)
    )
    kept: list[Any] = []
    for count, item in enumerate(items):
        if room[0] <= 0:
            kept.append(_CUT_NOTE.format(len(items) - count, "items"))
            break
        room[0] -= 1
        kept.append(_cut(item, room, redact, depth + 1))
    if isinstance(value, list):
        return kept
    if isinstance(value, tuple):
        return tuple(kept)
    try:
        return frozenset(kept) if isinstance(value, frozenset) else set(kept)
    except TypeError:  # a cut item that no longer hashes
        return kept
