"""Reading a stored entry back: a bounded pickle reader that builds only plain data."""

from __future__ import annotations

import datetime
import decimal
import pickle
import struct
import typing
from collections.abc import Callable, Mapping
from typing import Any

from agent_tools.task.cache import bounds
from agent_tools.task.cache.plain import CONTAINER_TYPES, type_of

__all__ = ["refuse", "unpickle"]

_I32 = struct.Struct("<i").unpack_from
_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from
_U64 = struct.Struct("<Q").unpack_from
_F64 = struct.Struct(">d").unpack_from


_ALLOWED_GLOBALS: Mapping[tuple[str, str], Callable[..., Any]] = {
    ("datetime", "date"): datetime.date,
    ("datetime", "datetime"): datetime.datetime,
    ("datetime", "time"): datetime.time,
    ("datetime", "timedelta"): datetime.timedelta,
    ("datetime", "timezone"): datetime.timezone,
    ("decimal", "Decimal"): decimal.Decimal,
}
"""The only globals an entry may name; each is called only with the arguments its
own pickling gives it (`_REDUCE_ARGS`)."""

_REDUCE_ARGS: Mapping[int, tuple[Callable[..., Any], frozenset[tuple[type[Any], ...]]]] = {
    id(make): (make, signatures)
    for make, signatures in (
        (datetime.date, frozenset({(bytes,)})),
        (datetime.datetime, frozenset({(bytes,), (bytes, datetime.timezone)})),
        (datetime.time, frozenset({(bytes,), (bytes, datetime.timezone)})),
        (datetime.timedelta, frozenset({(int, int, int)})),
        (datetime.timezone, frozenset({(datetime.timedelta,), (datetime.timedelta, str)})),
        (decimal.Decimal, frozenset({(str,)})),
    )
}
"""By the global's id: the global and the types of the arguments it may get."""

_MADE: frozenset[type[Any]] = frozenset(typing.cast(type[Any], make) for make, _ in _REDUCE_ARGS.values())
"""The types only a global makes (all objects of them in an entry come from REDUCE)."""


def refuse(why: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f"the result cache refuses this entry: {why}")


def _count_keys(
    counts: dict[int, tuple[object, dict[int, int]]], target: dict[Any, Any] | set[Any], keys: list[Any]
) -> None:
    """Count the hash of each of `keys` about to go into `target` (a dict or set
    being filled; an empty set for the items of a frozenset about to be built); refuse
    past `MAX_SAME_HASH` keys of one hash, before the dict pays for the collisions.
    Nothing to count while the container stays within `MAX_SAME_HASH` keys; from
    the first batch that takes it past, its keys so far are counted too. `counts`
    is by the container's id, and holds the container so that the id stays its own."""
    if len(target) + len(keys) <= bounds.MAX_SAME_HASH:
        return
    entry = counts.get(id(target))
    if entry is None:
        entry = counts[id(target)] = (target, {})
        keys = [*target, *keys]
    seen = entry[1]
    for key in keys:
        h = hash(key)
        n = seen.get(h, 0) + 1
        if n > bounds.MAX_SAME_HASH:
            raise refuse(f"more than {bounds.MAX_SAME_HASH} keys of one dict or set share a hash")
        seen[h] = n


def unpickle(data: bytes) -> Any:
    """The plain value `data` pickles, read within the bounds above; anything else
    (another opcode or global, a second reference to a container, a bound
    exceeded) raises. Python errors from malformed data (an index out of range, a
    bad length) propagate for `loads` to turn into `UnpicklingError`.

    The opcodes are matched by value, most frequent first; each case names its
    opcode as the `pickle` module does (`pickle.MEMOIZE == b"\\x94"`)."""
    size = len(data)
    stack: list[Any] = []
    push = stack.append
    metastack: list[list[Any]] = []
    memo: list[Any] = []
    tuple_depth: dict[int, int] = {}  # id of each tuple built -> how many tuples deep it nests
    key_counts: dict[int, tuple[object, dict[int, int]]] = {}  # id of a dict or set -> it, keys by hash
    weights: dict[int, int] = {}  # id of each object a global made -> the length of the text it carries
    # `tuple_depth` and `weights` get an entry as each tuple (or object of a `_MADE`
    # type) is made, and are read only for those: an id reused after an object was
    # dropped (a dict value overwritten) never finds another object's entry.
    max_ops, max_nodes, max_text = bounds.MAX_OPS, bounds.MAX_NODES, bounds.MAX_TEXT
    pos = ops = nodes = text = 0
    n: int

    def new_tuple(items: list[Any]) -> tuple[Any, ...]:
        built = tuple(items)
        depth = 1
        for item in built:
            if type_of(item) is tuple:
                depth = max(depth, tuple_depth.get(id(item), bounds.MAX_DEPTH) + 1)
        if depth > bounds.MAX_DEPTH:
            raise refuse(f"tuples nested more than {bounds.MAX_DEPTH} deep")
        tuple_depth[id(built)] = depth
        return built

    def payload(width: int) -> bytes:
        """The bytes after a length of `width` bytes at `pos`; moves `pos` past them."""
        nonlocal pos
        if width == 1:
            n, start = data[pos], pos + 1
        else:
            n, start = (_U32 if width == 4 else _U64)(data, pos)[0], pos + width
        if start + n > size:
            raise refuse("a length past the end of the entry")
        pos = start + n
        return data[start:pos]

    while True:
        ops += 1
        if ops > max_ops or nodes > max_nodes or text > max_text:
            raise refuse(
                f"over the reader's bounds ({max_ops} opcodes, {max_nodes} values, {max_text} bytes)"
            )
        op = data[pos]
        pos += 1
        match op:
            case 0x94:  # MEMOIZE
                memo.append(stack[-1])
            case 0x8C:  # SHORT_BINUNICODE
                raw = payload(1)
                push(raw.decode("utf-8", "surrogatepass"))
                nodes += 1
                text += len(raw)
            case 0x4B:  # BININT1
                push(data[pos])
                pos += 1
                nodes += 1
            case 0x68 | 0x6A:  # BINGET, LONG_BINGET
                if op == 0x68:
                    n, pos = data[pos], pos + 1
                else:
                    n, pos = _U32(data, pos)[0], pos + 4
                obj = memo[n]
                kind: type[Any] = type_of(obj)
                if kind in CONTAINER_TYPES:
                    raise refuse(f"a {kind.__name__} referenced twice (a shared reference or a cycle)")
                push(obj)
                nodes += 1
                if kind is str or kind is bytes:
                    text += len(obj)
                elif kind is int:
                    text += int.bit_length(obj) >> 3
                elif kind in _MADE:
                    text += weights.get(id(obj), 0)
            case 0x47:  # BINFLOAT
                push(_F64(data, pos)[0])
                pos += 8
                nodes += 1
            case 0x28:  # MARK
                metastack.append(stack)
                stack = []
                push = stack.append
            case 0x65 | 0x75 | 0x90:  # APPENDS, SETITEMS, ADDITEMS
                items, stack = stack, metastack.pop()
                push = stack.append
                target = stack[-1]
                kind = type_of(target)
                if op == 0x65 and kind is list:
                    target.extend(items)
                elif op == 0x75 and kind is dict and len(items) % 2 == 0:
                    keys = items[0::2]
                    _count_keys(key_counts, target, keys)
                    target.update(zip(keys, items[1::2], strict=True))
                elif op == 0x90 and kind is set:
                    _count_keys(key_counts, target, items)
                    target.update(items)
                else:
                    raise refuse(f"{bytes([op])!r} on a {kind.__name__}")
            case 0x7D:  # EMPTY_DICT
                push({})
                nodes += 1
            case 0x5D:  # EMPTY_LIST
                push([])
                nodes += 1
            case 0x4A:  # BININT
                push(_I32(data, pos)[0])
                pos += 4
                nodes += 1
            case 0x4D:  # BININT2
                push(_U16(data, pos)[0])
                pos += 2
                nodes += 1
            case 0x85 | 0x86 | 0x87:  # TUPLE1, TUPLE2, TUPLE3
                n = op - 0x84
                if len(stack) < n:
                    raise refuse("a tuple of values that are not there")
                built = new_tuple(stack[-n:])
                del stack[-n:]
                push(built)
                nodes += 1
            case 0x4E:  # NONE
                push(None)
                nodes += 1
            case 0x88 | 0x89:  # NEWTRUE, NEWFALSE
                push(op == 0x88)
                nodes += 1
            case 0x43 | 0x42 | 0x8E:  # SHORT_BINBYTES, BINBYTES, BINBYTES8
                raw = payload(1 if op == 0x43 else 4 if op == 0x42 else 8)
                push(raw)
                nodes += 1
                text += len(raw)
            case 0x58 | 0x8D:  # BINUNICODE, BINUNICODE8
                raw = payload(4 if op == 0x58 else 8)
                push(raw.decode("utf-8", "surrogatepass"))
                nodes += 1
                text += len(raw)
            case 0x8A | 0x8B:  # LONG1, LONG4
                if op == 0x8B and _I32(data, pos)[0] < 0:
                    raise refuse("a negative length")
                raw = payload(1 if op == 0x8A else 4)
                push(int.from_bytes(raw, "little", signed=True))
                nodes += 1
                text += len(raw)
            case 0x95:  # FRAME
                pos += 8
            case 0x61:  # APPEND
                value = stack.pop()
                target = stack[-1]
                if type_of(target) is not list:
                    raise refuse("APPEND to a value that is not a list")
                target.append(value)
            case 0x73:  # SETITEM
                value, key = stack.pop(), stack.pop()
                target = stack[-1]
                if type_of(target) is not dict:
                    raise refuse("SETITEM on a value that is not a dict")
                _count_keys(key_counts, target, [key])
                target[key] = value
            case 0x74:  # TUPLE
                items, stack = stack, metastack.pop()
                push = stack.append
                push(new_tuple(items))
                nodes += 1
            case 0x29:  # EMPTY_TUPLE
                push(new_tuple([]))
                nodes += 1
            case 0x8F:  # EMPTY_SET
                push(set())
                nodes += 1
            case 0x91:  # FROZENSET
                items, stack = stack, metastack.pop()
                push = stack.append
                _count_keys({}, set[Any](), items)
                push(frozenset(items))
                nodes += 1
            case 0x52:  # REDUCE
                args, make = stack.pop(), stack[-1]
                allowed = _REDUCE_ARGS.get(id(make))
                if allowed is None or allowed[0] is not make or type_of(args) is not tuple:
                    raise refuse("REDUCE of something other than an allowed global")
                arguments = typing.cast(tuple[Any, ...], args)
                if tuple(map(type, arguments)) not in allowed[1]:
                    raise refuse(f"{allowed[0].__qualname__} with arguments it is never pickled with")
                made = make(*arguments)
                weight = 0
                for argument in arguments:  # the text a timezone's name or a Decimal carries along
                    weight += len(argument) if type(argument) is str else weights.get(id(argument), 0)
                weights[id(made)] = weight
                stack[-1] = made
                nodes += 1
            case 0x93:  # STACK_GLOBAL
                name, module = stack.pop(), stack.pop()
                if type(module) is not str or type(name) is not str:
                    raise refuse("STACK_GLOBAL of a name that is not a str")
                found = _ALLOWED_GLOBALS.get((module, name))
                if found is None:
                    raise pickle.UnpicklingError(f"the result cache refuses global {module:.100}.{name:.100}")
                push(found)
                nodes += 1
            case 0x80:  # PROTO
                if data[pos] > bounds.PICKLE_PROTOCOL:
                    raise refuse(f"pickle protocol {data[pos]}")
                pos += 1
            case 0x2E:  # STOP
                if metastack or len(stack) != 1 or pos != size:
                    raise refuse("it does not end where its one value does")
                return stack[0]
            case _:
                raise refuse(f"pickle opcode {bytes([op])!r}")
