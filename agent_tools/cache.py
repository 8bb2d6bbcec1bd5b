"""Result caching: the `cache` setting of a template, the key of one run, and the store.

A cached run is keyed by everything that decides its result: the source, the
input values (less the ones `Cache.ignored_inputs` names), the output type, the
name and signature of every registered function, the `version` and `salt` of
the `Cache`, the template's `env_vars`, and each declared secret's names with a
sha256 of its current value (never the value). Values are encoded canonically
and type-tagged before hashing, so `1`, `1.0` and `True` are different keys
while dict and set order are not.

Results live in SQLite on disk so that later processes reuse them. The file can
be written by anyone who can write the cache directory, so an entry is read
back by a pickle reader of our own that builds only plain data, never calls
anything else, and bounds the work and memory one entry can cost (see
`_MAX_ROW_BYTES` and the limits after it); an entry it refuses is a miss, not an
error. A result is stored only if that reader would accept it, and never if a
secret's value occurs in its stored bytes.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import hashlib
import os
import pickle
import sqlite3
import struct
import threading
import time
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

__all__ = [
    "Cache",
    "CacheBehavior",
    "CacheRequest",
    "CacheStore",
    "cache_key",
    "default_cache_path",
    "get_store",
    "normalize_cache",
    "set_cache_path",
]

CacheBehavior = Literal["auto", "override", "disable"]
"""`auto`: reuse a stored result or store a new one; `override`: always run and
store the result; `disable`: neither read nor write the cache."""

_BEHAVIORS: tuple[str, ...] = typing.get_args(CacheBehavior)


@dataclass(frozen=True)
class Cache:
    """How a template caches its results, as in `flyte.Cache`.

    `version` and `salt` go into the key, so changing either starts a fresh cache
    for the template; `ignored_inputs` names inputs whose values do not affect the
    result (a request id, a logger) and are left out of the key. A single name may
    be given as a string; it is stored as a 1-tuple.
    """

    behavior: CacheBehavior = "auto"
    version: str | None = None
    ignored_inputs: tuple[str, ...] | str = ()
    salt: str = ""

    def __post_init__(self) -> None:
        behavior = typing.cast(object, self.behavior)
        if not isinstance(behavior, str):
            raise TypeError(f"Cache.behavior must be one of {_choices()}, got {behavior!r}")
        if behavior not in _BEHAVIORS:
            raise ValueError(f"Cache.behavior must be one of {_choices()}, got {behavior!r}")
        version = typing.cast(object, self.version)
        if version is not None and not isinstance(version, str):
            raise TypeError(f"Cache.version must be a str or None, got {version!r}")
        salt = typing.cast(object, self.salt)
        if not isinstance(salt, str):
            raise TypeError(f"Cache.salt must be a str, got {salt!r}")
        object.__setattr__(self, "ignored_inputs", _names(self.ignored_inputs))


def _choices() -> str:
    return ", ".join(repr(b) for b in _BEHAVIORS)


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)):
        items = tuple(typing.cast(tuple[object, ...] | list[object], value))
        if all(isinstance(item, str) for item in items):
            return typing.cast(tuple[str, ...], items)
    raise TypeError(f"Cache.ignored_inputs must be a str or a tuple of str (input names), got {value!r}")


CacheRequest: TypeAlias = CacheBehavior | Cache
"""What a template's `cache` parameter accepts."""


def normalize_cache(value: object) -> Cache:
    """The `Cache` a template's `cache` argument stands for: a behavior string
    becomes `Cache(behavior=...)`, a `Cache` passes through."""
    if isinstance(value, Cache):
        return value
    accepted = f"one of {_choices()} or a Cache(...)"
    if isinstance(value, str):
        if value not in _BEHAVIORS:
            raise ValueError(f"cache must be {accepted}, got {value!r}")
        return Cache(behavior=typing.cast(CacheBehavior, value))
    raise TypeError(f"cache must be {accepted}, got {value!r} ({type(value).__name__})")


# --- keys -----------------------------------------------------------------------------------------

_KEY_FORMAT = "agent-tools/cache-key/2"
"""Part of every key: a change to the encoding below must change this."""


def _frame(tag: bytes, payload: bytes) -> bytes:
    """`tag`, the payload's length, `:`, the payload: no two values frame alike."""
    return tag + str(len(payload)).encode() + b":" + payload


def _temporal_extra(value: datetime.datetime | datetime.time) -> bytes:
    """The parts of an aware datetime/time its isoformat leaves out."""
    return _frame(b"z", f"{value.fold}|{value.tzname()}".encode())


def _encode(value: Any) -> bytes:
    """The canonical, type-tagged encoding of a plain value (`TypeError` otherwise).
    Subclasses of the plain types (an IntEnum, an OrderedDict) encode as their base."""
    if value is None:
        return b"N"
    if value is True or value is False:
        return b"T" if value else b"F"
    if isinstance(value, int):
        return _frame(b"i", int.__repr__(value).encode())
    if isinstance(value, float):
        return _frame(b"f", float.hex(value).encode())
    if isinstance(value, str):
        return _frame(b"s", str.encode(value, "utf-8", "surrogatepass"))
    if isinstance(value, bytes):
        return _frame(b"y", bytes(value))
    if isinstance(value, list):
        return _frame(b"l", b"".join(_encode(v) for v in typing.cast(list[Any], value)))
    if isinstance(value, tuple):
        return _frame(b"t", b"".join(_encode(v) for v in typing.cast(tuple[Any, ...], value)))
    if isinstance(value, dict):
        items = typing.cast(dict[Any, Any], value).items()
        return _frame(b"d", b"".join(sorted(_encode(k) + _encode(v) for k, v in items)))
    if isinstance(value, frozenset):
        return _frame(b"r", b"".join(sorted(_encode(v) for v in typing.cast(frozenset[Any], value))))
    if isinstance(value, set):
        return _frame(b"e", b"".join(sorted(_encode(v) for v in typing.cast(set[Any], value))))
    if isinstance(value, datetime.datetime):
        return _frame(b"D", value.isoformat().encode() + _temporal_extra(value))
    if isinstance(value, datetime.date):
        return _frame(b"a", value.isoformat().encode())
    if isinstance(value, datetime.time):
        return _frame(b"h", value.isoformat().encode() + _temporal_extra(value))
    if isinstance(value, datetime.timedelta):
        return _frame(b"p", f"{value.days},{value.seconds},{value.microseconds}".encode())
    if isinstance(value, decimal.Decimal):
        return _frame(b"m", str(value).encode())
    raise TypeError(f"a value of type {type(value).__qualname__} cannot be part of a cache key")


def _secret_digest(value: str) -> str:
    """The sha256 hex digest of a secret's value: what a cache key holds of it."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def cache_key(
    *,
    source: str,
    inputs: Mapping[str, Any],
    output_type: str,
    functions: Mapping[str, str],
    cache: Cache,
    env_vars: Mapping[str, str] | None = None,
    secrets: Iterable[tuple[str, str, str]] = (),
) -> str:
    """The sha256 hex digest identifying one run's result.

    `functions` maps each registered name to its signature string, so renaming a
    function or changing its signature misses. Names in `cache.ignored_inputs`
    that are not inputs are ignored: a template may declare them for an input it
    has since dropped. A value that is not plain data is a `TypeError` naming the
    input.

    `env_vars` is what the code sees through `os.getenv` (no env vars is the same
    as `{}`). `secrets` holds `(key, env var name, value)` for each declared
    secret: the names and a sha256 of the value go into the key, so a result is
    not served to a template that declares another secret, nor after a secret's
    value changed. The order of the secrets does not matter.
    """
    ignored = set(_names(cache.ignored_inputs))
    encoded_inputs: list[bytes] = []
    for name, value in inputs.items():
        if name in ignored:
            continue
        try:
            encoded = _encode(value)
        except TypeError as exc:
            raise TypeError(f"cache key: input {name!r}: {exc}") from None
        except RecursionError:
            raise TypeError(f"cache key: input {name!r} is cyclic or nested too deeply") from None
        encoded_inputs.append(_encode(name) + encoded)
    declared = frozenset((key, env_var, _secret_digest(value)) for key, env_var, value in secrets)
    parts = [
        _encode(_KEY_FORMAT),
        _encode(source),
        _frame(b"d", b"".join(sorted(encoded_inputs))),
        _encode(output_type),
        _encode(dict(functions)),
        _encode(cache.version),
        _encode(cache.salt),
        _encode(dict(env_vars or {})),
        _encode(declared),
    ]
    return hashlib.sha256(b"".join(parts)).hexdigest()


# --- stored values --------------------------------------------------------------------------------

_PICKLE_PROTOCOL = 5
"""Fixed rather than HIGHEST_PROTOCOL so every Python that shares the file can read it."""

_MAX_ROW_BYTES = 64 * 1024 * 1024
"""The largest entry read or written, in bytes. The store does not know a template's
`max_inline_io_bytes` (10 MiB by default, measured as JSON), so this is a fixed
bound above it: a longer row is refused without being loaded, a larger result is
not stored."""

_MAX_NODES = 1_000_000
"""The most values one entry may hold, counting every occurrence of a shared string
(each value the reader pushes). Bounds the reader's work and memory, and the work
of whatever walks the result next (measuring it, validating it)."""

_MAX_OPS = 3 * _MAX_NODES
"""The most pickle opcodes one entry may have: the pickler writes at most three per
value (a list of empty frozensets takes that many)."""

_MAX_TEXT = _MAX_ROW_BYTES
"""The most bytes of str, bytes and int payload one entry may expand to, counting
every occurrence of a shared one: a row of a few KB must not stand for a value of
terabytes once a later step encodes it."""

_MAX_DEPTH = 256
"""How many containers deep a stored value may nest: the sandbox's default
`max_stack_depth`, deeper than any result it hands back by default. Well below
Python's recursion limit (the pickler takes two levels of it per list or dict),
so pickling the value, hashing a tuple key, comparing or encoding the value
cannot exhaust the stack."""

_MAX_SAME_HASH = 8
"""The most keys of one dict (or elements of one set) with one hash value. Plain
values almost never have two; an entry crafted with thousands (ints a multiple of
2**61 - 1 apart, or tuples built to collide) would make building the dict take
quadratic time."""

_kind: Callable[[object], type[Any]] = type
"""`type`, typed for a value of type `Any` (`typing.cast` would cost a call per value)."""

_SCALAR_TYPES: frozenset[type[Any]] = frozenset(
    {type(None), bool, int, float, str, bytes, datetime.date, datetime.timedelta, decimal.Decimal}
)
_CONTAINER_TYPES: frozenset[type[Any]] = frozenset({list, tuple, dict, set, frozenset})

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


def _check_tree(value: Any) -> None:
    """`TypeError` naming the type (or the rule) and where it sits unless `value` is
    plain data the store keeps: exactly the plain types (a subclass would pickle by
    its class, which the reader refuses), a tree (no container occurs twice: a
    cycle or a shared reference; the empty tuple, a singleton, may), at most
    `_MAX_DEPTH` containers deep and `_MAX_NODES` values. Iterative, each
    container once, so a value crafted to be exponential once expanded costs no
    more than its own size."""
    if (kind := _kind(value)) not in _CONTAINER_TYPES:
        _check_leaf(value, kind, None)
        return
    seen: set[int] = set()
    stack: list[tuple[Any, int, _Path]] = [(value, 0, None)]
    nodes = 1
    scalar, container = _SCALAR_TYPES, _CONTAINER_TYPES
    while stack:
        item, depth, path = stack.pop()
        kind = _kind(item)
        if kind is not tuple or item:  # the empty tuple is a singleton
            if id(item) in seen:
                raise TypeError(
                    f"{_where(path)} is cyclic or shared: this {kind.__name__} occurs twice in the value, "
                    "and the result cache stores only values where no container does"
                )
            seen.add(id(item))
        if depth >= _MAX_DEPTH:
            raise TypeError(f"{_where(path)} is nested more than {_MAX_DEPTH} containers deep to store")
        depth += 1
        nodes += 2 * len(item) if kind is dict else len(item)
        if nodes > _MAX_NODES:
            raise TypeError(f"the value holds more than {_MAX_NODES} values, over the result cache's bound")
        children: list[tuple[Any, _Path]] = []  # the parts that are neither scalars nor containers
        if kind is dict:
            for k, v in typing.cast(dict[Any, Any], item).items():
                if (key_kind := _kind(k)) not in scalar:
                    if key_kind in container:
                        stack.append((k, depth, (path, 1, None)))
                    else:
                        children.append((k, (path, 1, None)))
                if (value_kind := _kind(v)) not in scalar:
                    if value_kind in container:
                        stack.append((v, depth, (path, 0, k)))
                    else:
                        children.append((v, (path, 0, k)))
        elif kind is list or kind is tuple:
            for i, v in enumerate(typing.cast(list[Any], item)):
                if (value_kind := _kind(v)) not in scalar:
                    if value_kind in container:
                        stack.append((v, depth, (path, 0, i)))
                    else:
                        children.append((v, (path, 0, i)))
        else:
            for v in typing.cast(set[Any], item):
                if (value_kind := _kind(v)) not in scalar:
                    if value_kind in container:
                        stack.append((v, depth, (path, 2, None)))
                    else:
                        children.append((v, (path, 2, None)))
        for child, where in children:
            _check_leaf(child, _kind(child), where)


# The reader. `pickle.Unpickler` cannot bound its work: pickle's memo lets a row of
# a few hundred bytes stand for a value of 20**n leaves, and building a dict of
# crafted colliding keys takes quadratic time inside it. So entries are read by
# this small pickle machine instead: it knows only the opcodes the protocol-5
# pickler emits for plain data, builds only plain data, refuses a second
# reference to a container (which plain results never have), and counts opcodes,
# values, payload bytes, tuple depth and colliding keys as it goes.

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

_I32 = struct.Struct("<i").unpack_from
_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from
_U64 = struct.Struct("<Q").unpack_from
_F64 = struct.Struct(">d").unpack_from


def _refuse(why: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f"the result cache refuses this entry: {why}")


def _count_keys(
    counts: dict[int, tuple[object, dict[int, int]]], target: dict[Any, Any] | set[Any], keys: list[Any]
) -> None:
    """Count the hash of each of `keys` about to go into `target` (a dict or set
    being filled; an empty set for the items of a frozenset about to be built); refuse
    past `_MAX_SAME_HASH` keys of one hash, before the dict pays for the collisions.
    Nothing to count while the container stays within `_MAX_SAME_HASH` keys; from
    the first batch that takes it past, its keys so far are counted too. `counts`
    is by the container's id, and holds the container so that the id stays its own."""
    if len(target) + len(keys) <= _MAX_SAME_HASH:
        return
    entry = counts.get(id(target))
    if entry is None:
        entry = counts[id(target)] = (target, {})
        keys = [*target, *keys]
    seen = entry[1]
    for key in keys:
        h = hash(key)
        n = seen.get(h, 0) + 1
        if n > _MAX_SAME_HASH:
            raise _refuse(f"more than {_MAX_SAME_HASH} keys of one dict or set share a hash")
        seen[h] = n


def _unpickle(data: bytes) -> Any:
    """The plain value `data` pickles, read within the bounds above; anything else
    (another opcode or global, a second reference to a container, a bound
    exceeded) raises. Python errors from malformed data (an index out of range, a
    bad length) propagate for `_loads` to turn into `UnpicklingError`.

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
    max_ops, max_nodes, max_text = _MAX_OPS, _MAX_NODES, _MAX_TEXT
    pos = ops = nodes = text = 0
    n: int

    def new_tuple(items: list[Any]) -> tuple[Any, ...]:
        built = tuple(items)
        depth = 1
        for item in built:
            if _kind(item) is tuple:
                depth = max(depth, tuple_depth.get(id(item), _MAX_DEPTH) + 1)
        if depth > _MAX_DEPTH:
            raise _refuse(f"tuples nested more than {_MAX_DEPTH} deep")
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
            raise _refuse("a length past the end of the entry")
        pos = start + n
        return data[start:pos]

    while True:
        ops += 1
        if ops > max_ops or nodes > max_nodes or text > max_text:
            raise _refuse(
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
                kind: type[Any] = _kind(obj)
                if kind in _CONTAINER_TYPES:
                    raise _refuse(f"a {kind.__name__} referenced twice (a shared reference or a cycle)")
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
                kind = _kind(target)
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
                    raise _refuse(f"{bytes([op])!r} on a {kind.__name__}")
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
                    raise _refuse("a tuple of values that are not there")
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
                    raise _refuse("a negative length")
                raw = payload(1 if op == 0x8A else 4)
                push(int.from_bytes(raw, "little", signed=True))
                nodes += 1
                text += len(raw)
            case 0x95:  # FRAME
                pos += 8
            case 0x61:  # APPEND
                value = stack.pop()
                target = stack[-1]
                if _kind(target) is not list:
                    raise _refuse("APPEND to a value that is not a list")
                target.append(value)
            case 0x73:  # SETITEM
                value, key = stack.pop(), stack.pop()
                target = stack[-1]
                if _kind(target) is not dict:
                    raise _refuse("SETITEM on a value that is not a dict")
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
                if allowed is None or allowed[0] is not make or _kind(args) is not tuple:
                    raise _refuse("REDUCE of something other than an allowed global")
                arguments = typing.cast(tuple[Any, ...], args)
                if tuple(map(type, arguments)) not in allowed[1]:
                    raise _refuse(f"{allowed[0].__qualname__} with arguments it is never pickled with")
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
                    raise _refuse("STACK_GLOBAL of a name that is not a str")
                found = _ALLOWED_GLOBALS.get((module, name))
                if found is None:
                    raise pickle.UnpicklingError(f"the result cache refuses global {module:.100}.{name:.100}")
                push(found)
                nodes += 1
            case 0x80:  # PROTO
                if data[pos] > _PICKLE_PROTOCOL:
                    raise _refuse(f"pickle protocol {data[pos]}")
                pos += 1
            case 0x2E:  # STOP
                if metastack or len(stack) != 1 or pos != size:
                    raise _refuse("it does not end where its one value does")
                return stack[0]
            case _:
                raise _refuse(f"pickle opcode {bytes([op])!r}")


def _holds(data: bytes, secret: str) -> bool:
    """Whether a secret's value occurs in `data`: as UTF-8 (how pickle writes a str),
    or as the bytes the host environment held (`os.environ` keeps undecodable bytes
    as surrogate escapes)."""
    if not secret:
        return False
    forms = {secret.encode("utf-8", "surrogatepass")}
    with contextlib.suppress(UnicodeEncodeError):
        forms.add(secret.encode("utf-8", "surrogateescape"))
    return any(form in data for form in forms)


def _redact(text: str, secrets: Mapping[str, str]) -> str:
    """`text` with each secret's value, as itself or as `repr` shows it inside a
    string (an error message shows dict keys by their repr), replaced by its name."""
    for name, secret in sorted(secrets.items(), key=lambda item: -len(item[1])):
        if secret:
            for form in (secret, repr(secret)[1:-1]):
                text = text.replace(form, f"[secret {name}]")
    return text


def _dumps(value: Any, secrets: Mapping[str, str] | None = None) -> bytes:
    """The entry for `value`; `TypeError` unless it is plain data the reader takes
    back (checked by reading it back) and no value of `secrets` (env var name ->
    value) occurs in its bytes. The error never holds a secret's value."""
    secrets = secrets or {}
    try:
        _check_tree(value)
    except TypeError as exc:
        raise TypeError(_redact(str(exc), secrets)) from None
    try:
        data = pickle.dumps(value, protocol=_PICKLE_PROTOCOL)
    except (pickle.PicklingError, RecursionError, ValueError) as exc:
        raise TypeError(f"the value cannot be pickled for the result cache: {type(exc).__name__}") from None
    if len(data) > _MAX_ROW_BYTES:
        raise TypeError(f"the value takes {len(data)} bytes, over the result cache's {_MAX_ROW_BYTES}")
    for name, secret in secrets.items():
        if _holds(data, secret):
            raise TypeError(f"the value holds the value of secret {name}: the result cache never stores it")
    try:
        _loads(data)
    except (pickle.UnpicklingError, TypeError) as exc:
        raise TypeError(f"the result cache would not read the value back: {exc}") from None
    return data


def _loads(data: bytes) -> Any:
    """The value in `data`; any failure (corrupt, refused, not plain, out of bounds)
    raises `pickle.UnpicklingError` or `TypeError`."""
    if len(data) > _MAX_ROW_BYTES:
        raise _refuse(f"{len(data)} bytes, over {_MAX_ROW_BYTES}")
    try:
        value = _unpickle(data)
    except pickle.UnpicklingError:
        raise
    except Exception as exc:  # malformed data: an index or a length out of range, a bad argument
        raise _refuse(f"malformed ({type(exc).__name__})") from None
    _check_tree(value)
    return value


# --- the store ------------------------------------------------------------------------------------

_BUSY_TIMEOUT_S = 30.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    created_at REAL NOT NULL
)
"""
_STORE_FORMAT = 2
"""The file's `user_version`. A file below it was written before keys covered env
vars and secrets, and before results holding a secret were refused: its entries
can never be hit again and may hold secret values, so they are deleted (their
pages zeroed) when a store first opens it."""

_SELECT = (
    "SELECT CASE WHEN typeof(value) = 'blob' AND length(value) <= ? THEN value END FROM results WHERE key = ?"
)
"""The entry's bytes, or NULL when it is not a blob or is longer than `_MAX_ROW_BYTES`:
SQLite reads neither the type nor the length from the value itself, so an
oversized row is refused without being loaded."""


class CacheStore:
    """Persistent result cache in one SQLite file, shared by threads and processes.

    Each thread gets its own connection (SQLite connections must not be shared
    across threads, and one reopened after a fork), in WAL mode so readers never
    wait for a writer, with a busy timeout so concurrent writers queue instead of
    failing. Every statement commits on its own. WAL needs shared memory, so the
    file should be on a local disk, not a network share.
    """

    path: Path

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        # Absolute, so a thread opening its connection after a chdir finds the same file.
        self.path = Path(default_cache_path() if path is None else path).expanduser().absolute()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connection()  # fail here, not on first use, if the file cannot be opened

    def __repr__(self) -> str:
        return f"CacheStore({str(self.path)!r})"

    def _connection(self) -> sqlite3.Connection:
        pid = os.getpid()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == pid:
            return conn
        conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA secure_delete = ON")  # a deleted entry's bytes are overwritten
            conn.execute("PRAGMA trusted_schema = OFF")
            conn.execute(_SCHEMA)
            _upgrade(conn)
        except BaseException:
            conn.close()
            raise
        self._local.conn, self._local.pid = conn, pid
        return conn

    def get(self, key: str) -> tuple[bool, Any]:
        """`(True, value)` on a hit, `(False, None)` on a miss. An entry that cannot
        be read back as plain data within the reader's bounds (see `_MAX_ROW_BYTES`
        and the limits after it) is deleted and counts as a miss."""
        conn = self._connection()
        row = conn.execute(_SELECT, (_MAX_ROW_BYTES, key)).fetchone()
        if row is None:
            return False, None
        data = row[0]
        if data is None:  # not a blob, or too long to load: only such a row goes
            conn.execute(
                "DELETE FROM results WHERE key = ? AND (typeof(value) != 'blob' OR length(value) > ?)",
                (key, _MAX_ROW_BYTES),
            )
            return False, None
        try:
            return True, _loads(typing.cast(bytes, data))
        except Exception:
            # Only this entry: a concurrent put of a good value must survive.
            conn.execute("DELETE FROM results WHERE key = ? AND value IS ?", (key, data))
            return False, None

    def put(self, key: str, value: Any, *, secrets: Mapping[str, str] | None = None) -> None:
        """Store `value` under `key`, replacing any entry. `TypeError`, and nothing
        stored, unless `value` is plain data that `get` would read back (a tree of
        plain types within its bounds), or if the value of one of `secrets` (env var
        name -> value, as the run resolved them) occurs anywhere in the bytes that
        would be stored. The error names a secret, never its value."""
        data = _dumps(value, secrets)
        self._connection().execute(
            "INSERT OR REPLACE INTO results (key, value, created_at) VALUES (?, ?, ?)",
            (key, data, time.time()),
        )

    def delete(self, key: str) -> None:
        self._connection().execute("DELETE FROM results WHERE key = ?", (key,))

    def clear(self) -> None:
        self._connection().execute("DELETE FROM results")

    def __len__(self) -> int:
        (count,) = self._connection().execute("SELECT COUNT(*) FROM results").fetchone()
        return int(count)


def _upgrade(conn: sqlite3.Connection) -> None:
    """Bring a file below `_STORE_FORMAT` up to it: delete its entries, zeroing
    their pages (secure_delete), and truncate the WAL that held them. Once per
    file, atomically, so a concurrent store's new entries survive."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version >= _STORE_FORMAT:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        deleted = 0
        if version < _STORE_FORMAT:
            deleted = conn.execute("DELETE FROM results").rowcount
            conn.execute(f"PRAGMA user_version = {_STORE_FORMAT}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if deleted:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def default_cache_path() -> Path:
    """`$AGENT_TOOLS_CACHE_PATH` if set; else `$XDG_CACHE_HOME/agent-tools/results.sqlite3`;
    else `~/.cache/agent-tools/results.sqlite3`. Per the XDG spec an empty or
    relative `XDG_CACHE_HOME` is ignored."""
    explicit = os.environ.get("AGENT_TOOLS_CACHE_PATH")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "agent-tools" / "results.sqlite3"


_store: CacheStore | None = None
_store_lock = threading.Lock()


def get_store() -> CacheStore:
    """The process-wide store, opened at `default_cache_path()` on first use."""
    global _store
    store = _store
    if store is not None:
        return store
    with _store_lock:
        if _store is None:
            _store = CacheStore()
        return _store


def set_cache_path(path: str | os.PathLike[str] | None) -> None:
    """Point the process-wide store at `path`, opened now; `None` goes back to
    `default_cache_path()`, read on next use."""
    global _store
    store = None if path is None else CacheStore(path)
    with _store_lock:
        _store = store
