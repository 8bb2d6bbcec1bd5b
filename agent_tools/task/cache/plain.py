"""What may be stored: plain data of exactly the plain types, checked in one walk."""

from __future__ import annotations

import datetime
import decimal
import typing
from collections.abc import Callable
from typing import Any, TypeAlias

from agent_tools.task.cache import bounds

__all__ = ["CONTAINER_TYPES", "check_tree", "type_of"]


type_of: Callable[[object], type[Any]] = type
"""`type`, typed for a value of type `Any` (`typing.cast` would cost a call per value)."""

_SCALAR_TYPES: frozenset[type[Any]] = frozenset(
    {type(None), bool, int, float, str, bytes, datetime.date, datetime.timedelta, decimal.Decimal}
)

CONTAINER_TYPES: frozenset[type[Any]] = frozenset({list, tuple, dict, set, frozenset})

_Path: TypeAlias = tuple[Any, ...] | None
"""Where a part of a value sits, rendered only for an error: `(parent, step, key)`,
with step 0 for `[key]`, 1 for a dict key, 2 for a set element."""


def _where(path: _Path) -> str:
    steps: list[str] = []
    while path is not None:
        path, step, key = path
        if step == 0:
            shown = repr(key)
            steps.append(f"[{shown}]" if len(shown) <= 80 else f"[<a {type(key).__name__} key>]")
        else:
            steps.append(" (a key)" if step == 1 else " (an element)")
    return "value" + "".join(reversed(steps))


def _check_leaf(item: Any, kind: type[Any], path: _Path) -> None:
    """`TypeError` unless `item` (of type `kind`, not a container) is storable."""
    if kind in _SCALAR_TYPES:
        return
    if kind in (datetime.datetime, datetime.time):
        tz = typing.cast(datetime.datetime | datetime.time, item).tzinfo
        if tz is None or type(tz) is datetime.timezone:
            return
        raise TypeError(
            f"{_where(path)}: a {kind.__name__} with tzinfo of type {type(tz).__qualname__} cannot be "
            "stored in the result cache; use a datetime.timezone (or convert to UTC)"
        )
    raise TypeError(
        f"{_where(path)}: a value of type {kind.__qualname__} cannot be stored in the result cache; "
        "plain data only (None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset, "
        "datetime, date, time, timedelta, Decimal)"
    )


def check_tree(value: Any) -> None:
    """`TypeError` naming the type (or the rule) and where it sits unless `value` is
    plain data the store keeps: exactly the plain types (a subclass would pickle by
    its class, which the reader refuses), a tree (no container occurs twice: a
    cycle or a shared reference; the empty tuple, a singleton, may), at most
    `MAX_DEPTH` containers deep and `MAX_NODES` values. Iterative, each
    container once, so a value crafted to be exponential once expanded costs no
    more than its own size."""
    if (kind := type_of(value)) not in CONTAINER_TYPES:
        _check_leaf(value, kind, None)
        return
    seen: set[int] = set()
    stack: list[tuple[Any, int, _Path]] = [(value, 0, None)]
    nodes = 1
    scalar, container = _SCALAR_TYPES, CONTAINER_TYPES
    while stack:
        item, depth, path = stack.pop()
        kind = type_of(item)
        if kind is not tuple or item:  # the empty tuple is a singleton
            if id(item) in seen:
                raise TypeError(
                    f"{_where(path)} is cyclic or shared: this {kind.__name__} occurs twice in the value, "
                    "and the result cache stores only values where no container does"
                )
            seen.add(id(item))
        if depth >= bounds.MAX_DEPTH:
            raise TypeError(f"{_where(path)} is nested more than {bounds.MAX_DEPTH} containers deep to store")
        depth += 1
        nodes += 2 * len(item) if kind is dict else len(item)
        if nodes > bounds.MAX_NODES:
            raise TypeError(
                f"the value holds more than {bounds.MAX_NODES} values, over the result cache's bound"
            )
        children: list[tuple[Any, _Path]] = []  # the parts that are neither scalars nor containers
        if kind is dict:
            for k, v in typing.cast(dict[Any, Any], item).items():
                if (key_kind := type_of(k)) not in scalar:
                    if key_kind in container:
                        stack.append((k, depth, (path, 1, None)))
                    else:
                        children.append((k, (path, 1, None)))
                if (value_kind := type_of(v)) not in scalar:
                    if value_kind in container:
                        stack.append((v, depth, (path, 0, k)))
                    else:
                        children.append((v, (path, 0, k)))
        elif kind is list or kind is tuple:
            for i, v in enumerate(typing.cast(list[Any], item)):
                if (value_kind := type_of(v)) not in scalar:
                    if value_kind in container:
                        stack.append((v, depth, (path, 0, i)))
                    else:
                        children.append((v, (path, 0, i)))
        else:
            for v in typing.cast(set[Any], item):
                if (value_kind := type_of(v)) not in scalar:
                    if value_kind in container:
                        stack.append((v, depth, (path, 2, None)))
                    else:
                        children.append((v, (path, 2, None)))
        for child, where in children:
            _check_leaf(child, type_of(child), where)
