"""Result caching: the `cache` setting of a template, the key of one run, and the store.

A cached run is keyed by everything that decides its result: the source, the
input values (less the ones `Cache.ignored_inputs` names), the output type, the
name and signature of every registered function, and the `version` and `salt` of
the `Cache`. Values are encoded canonically and type-tagged before hashing, so
`1`, `1.0` and `True` are different keys while dict and set order are not.

Results live in SQLite on disk so that later processes reuse them. The file can
be written by anyone who can write the cache directory, so entries are read back
with an unpickler that builds only plain data and never calls anything else; an
entry it refuses is a miss, not an error.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import io
import os
import pickle
import sqlite3
import threading
import time
import typing
from collections.abc import Callable, Mapping
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

_KEY_FORMAT = "agent-tools/cache-key/1"
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


def cache_key(
    *,
    source: str,
    inputs: Mapping[str, Any],
    output_type: str,
    functions: Mapping[str, str],
    cache: Cache,
) -> str:
    """The sha256 hex digest identifying one run's result.

    `functions` maps each registered name to its signature string, so renaming a
    function or changing its signature misses. Names in `cache.ignored_inputs`
    that are not inputs are ignored: a template may declare them for an input it
    has since dropped. A value that is not plain data is a `TypeError` naming the
    input.
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
    parts = [
        _encode(_KEY_FORMAT),
        _encode(source),
        _frame(b"d", b"".join(sorted(encoded_inputs))),
        _encode(output_type),
        _encode(dict(functions)),
        _encode(cache.version),
        _encode(cache.salt),
    ]
    return hashlib.sha256(b"".join(parts)).hexdigest()


# --- stored values --------------------------------------------------------------------------------

_PICKLE_PROTOCOL = 5
"""Fixed rather than HIGHEST_PROTOCOL so every Python that shares the file can read it."""

_SCALAR_TYPES: frozenset[type[Any]] = frozenset(
    {type(None), bool, int, float, str, bytes, datetime.date, datetime.timedelta, decimal.Decimal}
)
_CONTAINER_TYPES: frozenset[type[Any]] = frozenset({list, tuple, dict, set, frozenset})


def _check_storable(value: Any, where: str) -> None:
    """`TypeError` naming the type and where it sits unless `value` is plain data of
    exactly the plain types: a subclass would pickle by its class, which the reader
    refuses."""
    kind: type[Any] = type(typing.cast(object, value))
    if kind in _SCALAR_TYPES:
        return
    if kind in (datetime.datetime, datetime.time):
        tz = typing.cast(datetime.datetime | datetime.time, value).tzinfo
        if tz is None or type(tz) is datetime.timezone:
            return
        raise TypeError(
            f"{where}: a {kind.__name__} with tzinfo of type {type(tz).__qualname__} cannot be stored "
            "in the result cache; use a datetime.timezone (or convert to UTC)"
        )
    if kind is dict:
        for k, v in typing.cast(dict[Any, Any], value).items():
            _check_storable(k, f"{where} (a key)")
            _check_storable(v, f"{where}[{k!r}]")
        return
    if kind in _CONTAINER_TYPES:
        for i, v in enumerate(typing.cast(list[Any], value)):
            _check_storable(v, f"{where}[{i}]" if kind in (list, tuple) else f"{where} (an element)")
        return
    raise TypeError(
        f"{where}: a value of type {kind.__qualname__} cannot be stored in the result cache; "
        "plain data only (None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset, "
        "datetime, date, time, timedelta, Decimal)"
    )


def _storable(value: Any) -> None:
    try:
        _check_storable(value, "value")
    except RecursionError:
        raise TypeError("value is cyclic or nested too deeply to store in the result cache") from None


_ALLOWED_GLOBALS: Mapping[tuple[str, str], Callable[..., Any]] = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("datetime", "date"): datetime.date,
    ("datetime", "datetime"): datetime.datetime,
    ("datetime", "time"): datetime.time,
    ("datetime", "timedelta"): datetime.timedelta,
    ("datetime", "timezone"): datetime.timezone,
    ("decimal", "Decimal"): decimal.Decimal,
}


class _PlainUnpickler(pickle.Unpickler):
    """Loads only plain data: any other global (a function, a class) is refused
    before it can be called, so a tampered entry cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED_GLOBALS.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"the result cache refuses global {module}.{name}")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("the result cache refuses persistent ids")


def _dumps(value: Any) -> bytes:
    _storable(value)
    return pickle.dumps(value, protocol=_PICKLE_PROTOCOL)


def _loads(data: bytes) -> Any:
    """The value in `data`; any failure (corrupt, refused, not plain) raises."""
    value = _PlainUnpickler(io.BytesIO(data)).load()
    _storable(value)
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
            conn.execute(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        self._local.conn, self._local.pid = conn, pid
        return conn

    def get(self, key: str) -> tuple[bool, Any]:
        """`(True, value)` on a hit, `(False, None)` on a miss. An entry that cannot
        be read back as plain data is deleted and counts as a miss."""
        row = self._connection().execute("SELECT value FROM results WHERE key = ?", (key,)).fetchone()
        if row is None:
            return False, None
        data = row[0]
        try:
            if not isinstance(data, bytes):
                raise pickle.UnpicklingError(f"stored value is {type(data).__name__}, not bytes")
            return True, _loads(data)
        except Exception:
            # Only this entry: a concurrent put of a good value must survive.
            self._connection().execute("DELETE FROM results WHERE key = ? AND value IS ?", (key, data))
            return False, None

    def put(self, key: str, value: Any) -> None:
        """Store `value` under `key`, replacing any entry. `TypeError` naming the type
        unless `value` is plain data."""
        data = _dumps(value)
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
