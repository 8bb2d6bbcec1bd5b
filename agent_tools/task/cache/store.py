"""The result store: one SQLite file on disk, shared by threads and processes, so
later processes reuse results. The file can be written by anyone who can write
the cache directory, so an entry is read back by the bounded reader (`reader`,
`bounds`) that builds only plain data; an entry it refuses is a miss, not an
error. A result is stored only if that reader would accept it, and never if a
secret's value occurs in its stored bytes.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sqlite3
import threading
import time
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent_tools.task.cache import bounds
from agent_tools.task.cache.plain import check_tree
from agent_tools.task.cache.reader import refuse, unpickle
from agent_tools.task.sqlite_file import SQLiteFile

__all__ = [
    "CacheStore",
    "default_cache_path",
    "dumps",
    "get_store",
    "holds_secret",
    "loads",
    "set_cache_path",
]


# --- stored values --------------------------------------------------------------------------------


# The reader. `pickle.Unpickler` cannot bound its work: pickle's memo lets a row of
# a few hundred bytes stand for a value of 20**n leaves, and building a dict of
# crafted colliding keys takes quadratic time inside it. So entries are read by
# this small pickle machine instead: it knows only the opcodes the protocol-5
# pickler emits for plain data, builds only plain data, refuses a second
# reference to a container (which plain results never have), and counts opcodes,
# values, payload bytes, tuple depth and colliding keys as it goes.


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
        check_tree(value)
    except TypeError as exc:
        raise TypeError(_redact(str(exc), secrets)) from None
    try:
        data = pickle.dumps(value, protocol=bounds.PICKLE_PROTOCOL)
    except (pickle.PicklingError, RecursionError, ValueError) as exc:
        raise TypeError(f"the value cannot be pickled for the result cache: {type(exc).__name__}") from None
    if len(data) > bounds.MAX_ROW_BYTES:
        raise TypeError(f"the value takes {len(data)} bytes, over the result cache's {bounds.MAX_ROW_BYTES}")
    for name, secret in secrets.items():
        if _holds(data, secret):
            raise TypeError(f"the value holds the value of secret {name}: the result cache never stores it")
    try:
        loads(data)
    except (pickle.UnpicklingError, TypeError) as exc:
        raise TypeError(f"the result cache would not read the value back: {exc}") from None
    return data


def dumps(value: Any, secrets: Mapping[str, str] | None = None) -> bytes:
    """`value` as bytes `loads` reads back: plain data only, within the reader's
    bounds, and never holding the value of one of `secrets` (a `TypeError` otherwise,
    naming the secret, never its value). What the cache and the approval store write."""
    return _dumps(value, secrets)


def holds_secret(data: bytes, secrets: Mapping[str, str]) -> str | None:
    """The name of the first of `secrets` whose value occurs in `data`, or None."""
    for name, secret in secrets.items():
        if _holds(data, secret):
            return name
    return None


def loads(data: bytes) -> Any:
    """The value in `data`; any failure (corrupt, refused, not plain, out of bounds)
    raises `pickle.UnpicklingError` or `TypeError`."""
    if len(data) > bounds.MAX_ROW_BYTES:
        raise refuse(f"{len(data)} bytes, over {bounds.MAX_ROW_BYTES}")
    try:
        value = unpickle(data)
    except pickle.UnpicklingError:
        raise
    except Exception as exc:  # malformed data: an index or a length out of range, a bad argument
        raise refuse(f"malformed ({type(exc).__name__})") from None
    check_tree(value)
    return value


# --- the store ------------------------------------------------------------------------------------

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
"""The entry's bytes, or NULL when it is not a blob or is longer than `MAX_ROW_BYTES`:
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
        self._file = SQLiteFile(Path(default_cache_path() if path is None else path), _setup)
        self.path = self._file.path

    def __repr__(self) -> str:
        return f"CacheStore({str(self.path)!r})"

    def _connection(self) -> sqlite3.Connection:
        return self._file.connection()

    def get(self, key: str) -> tuple[bool, Any]:
        """`(True, value)` on a hit, `(False, None)` on a miss. An entry that cannot
        be read back as plain data within the reader's bounds (see `MAX_ROW_BYTES`
        and the limits after it) is deleted and counts as a miss."""
        conn = self._connection()
        row = conn.execute(_SELECT, (bounds.MAX_ROW_BYTES, key)).fetchone()
        if row is None:
            return False, None
        data = row[0]
        if data is None:  # not a blob, or too long to load: only such a row goes
            conn.execute(
                "DELETE FROM results WHERE key = ? AND (typeof(value) != 'blob' OR length(value) > ?)",
                (key, bounds.MAX_ROW_BYTES),
            )
            return False, None
        try:
            return True, loads(typing.cast(bytes, data))
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


def _setup(conn: sqlite3.Connection) -> None:
    conn.execute(_SCHEMA)
    _upgrade(conn)


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
