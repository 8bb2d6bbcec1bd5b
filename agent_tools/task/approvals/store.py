"""Where paused runs wait: in this process's memory (the default), or in a SQLite
file that several processes share, so a run paused in one resumes in another.

Both stores hand a paused run out once (`claim`): a second resume of the same
token is an error that names it, as is an unknown or expired token. Paused runs
expire `expire_after` seconds after they paused. The SQLite store writes plain
data only (the snapshot is Monty's own bytes, loaded only into a sandbox; the rest
is read back by the result cache's bounded reader, which builds nothing but plain
data), never writes a run that holds a secret's value, and signs every row (HMAC
with a key kept beside the file, or given), so a row changed on disk is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import sqlite3
import struct
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent_tools.base.approval import ApprovalTokenError
from agent_tools.base.errors import SecretError
from agent_tools.task.approvals.paused import PausedRun, check_token
from agent_tools.task.cache.store import dumps, holds_secret, loads
from agent_tools.task.sqlite_file import SQLiteFile

__all__ = [
    "DEFAULT_EXPIRE_AFTER",
    "ApprovalStore",
    "MemoryApprovalStore",
    "SQLiteApprovalStore",
    "get_approval_store",
    "resolve_store",
    "set_approval_store",
]

DEFAULT_EXPIRE_AFTER = 24 * 3600.0
"""Seconds a paused run waits before it expires, unless the store says otherwise."""


def _expired(token: str, at: float) -> ApprovalTokenError:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
    return ApprovalTokenError(
        token, "expired", f"the paused run {token!r} expired at {when}; it cannot be resumed"
    )


def _used(token: str) -> ApprovalTokenError:
    return ApprovalTokenError(
        token, "used", f"the paused run {token!r} was already resumed: a token resumes its run once"
    )


def _unknown(token: str, where: str) -> ApprovalTokenError:
    return ApprovalTokenError(token, "unknown", f"no paused run has the token {token!r} in {where}")


def _mismatch(token: str) -> ApprovalTokenError:
    return ApprovalTokenError(
        token,
        "mismatch",
        f"the paused run {token!r} was made from other code or other registered functions than the "
        "template given to resume it: resume it with the template that paused it",
    )


class ApprovalStore(ABC):
    """Keeps paused runs until they are resumed or expire."""

    expire_after: float

    def __init__(self, expire_after: float = DEFAULT_EXPIRE_AFTER) -> None:
        if not isinstance(expire_after, (int, float)) or isinstance(expire_after, bool) or expire_after <= 0:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValueError(f"expire_after must be a positive number of seconds, got {expire_after!r}")
        self.expire_after = float(expire_after)

    @abstractmethod
    def put(self, paused: PausedRun, *, secrets: Mapping[str, str] | None = None) -> None:
        """Keep `paused` under its token. `secrets` (env var name -> value): values a
        store on disk must never write."""

    @abstractmethod
    def claim(self, token: str, fingerprint: str | None = None) -> PausedRun:
        """Hand out the paused run of `token`, once. With `fingerprint`, a run made
        from other code or functions is refused, and stays claimable."""

    @abstractmethod
    def peek(self, token: str) -> PausedRun:
        """The paused run of `token`, without claiming it."""

    @abstractmethod
    def find(self, ref: str) -> str | None:
        """The token of the unclaimed paused run stored with `ref`, if any."""

    @abstractmethod
    def __len__(self) -> int:
        """Paused runs waiting (not claimed, not expired)."""

    def __bool__(self) -> bool:
        return True  # a store is a store, empty or not (`store or default` must not skip it)


class MemoryApprovalStore(ApprovalStore):
    """Paused runs in this process's memory: the default. They are gone when the
    process ends."""

    def __init__(self, expire_after: float = DEFAULT_EXPIRE_AFTER) -> None:
        super().__init__(expire_after)
        self._lock = threading.Lock()
        self._runs: dict[str, PausedRun] = {}
        self._used: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"MemoryApprovalStore(expire_after={self.expire_after:g})"

    def _purge(self, now: float) -> None:
        for token in [t for t, run in self._runs.items() if run.expires_at <= now - self.expire_after]:
            del self._runs[token]
        for token in [t for t, at in self._used.items() if at <= now - self.expire_after]:
            del self._used[token]

    def put(self, paused: PausedRun, *, secrets: Mapping[str, str] | None = None) -> None:
        with self._lock:
            self._purge(time.time())
            self._runs[paused.token] = paused

    def _get(self, token: str) -> PausedRun:
        check_token(token)
        if token in self._used:
            raise _used(token)
        paused = self._runs.get(token)
        if paused is None:
            raise _unknown(token, "this process's approval store")
        if paused.expired:
            del self._runs[token]
            raise _expired(token, paused.expires_at)
        return paused

    def claim(self, token: str, fingerprint: str | None = None) -> PausedRun:
        with self._lock:
            paused = self._get(token)
            if fingerprint is not None and paused.fingerprint != fingerprint:
                raise _mismatch(token)
            del self._runs[token]
            self._used[token] = time.time()
            return paused

    def peek(self, token: str) -> PausedRun:
        with self._lock:
            return self._get(token)

    def find(self, ref: str) -> str | None:
        with self._lock:
            for token, paused in self._runs.items():
                if paused.ref == ref and not paused.expired:
                    return token
        return None

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for run in self._runs.values() if not run.expired)


# --- SQLite ---------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS paused (
    token TEXT PRIMARY KEY,
    ref TEXT,
    fingerprint TEXT NOT NULL,
    snapshot BLOB NOT NULL,
    meta BLOB NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    mac TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS paused_ref ON paused (ref);
"""
_KEY_ENV = "AGENT_TOOLS_APPROVAL_KEY"


def _setup(conn: sqlite3.Connection) -> None:
    conn.executescript(_SCHEMA)


def _key_for(path: Path, key: bytes | str | None) -> bytes:
    """The signing key: given, else `$AGENT_TOOLS_APPROVAL_KEY`, else the key file beside
    the store (`<file>.key`, made once, readable by its owner only)."""
    if key is None:
        key = os.environ.get(_KEY_ENV) or None
    if key is not None:
        raw = key.encode() if isinstance(key, str) else bytes(key)
        if len(raw) < 16:
            raise ValueError("the approval store's key must be at least 16 bytes")
        return raw
    key_path = path.with_name(path.name + ".key")
    with contextlib.suppress(FileExistsError):
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, os.urandom(32).hex().encode())
        finally:
            os.close(fd)
    for _ in range(50):  # another process may be writing it this instant
        raw = key_path.read_bytes().strip()
        if len(raw) >= 32:
            return raw
        time.sleep(0.01)
    raise ValueError(f"the approval store's key file {key_path} is empty or too short")


def _mac(
    key: bytes,
    token: str,
    ref: str | None,
    fingerprint: str,
    snapshot: bytes,
    meta: bytes,
    created: float,
    expires: float,
) -> str:
    h = hmac.new(key, digestmod=hashlib.sha256)
    for part in (token.encode(), (ref or "").encode(), fingerprint.encode()):
        h.update(struct.pack(">Q", len(part)) + part)
    for blob in (snapshot, meta):
        h.update(struct.pack(">Q", len(blob)))
        h.update(blob)
    h.update(struct.pack(">dd", created, expires))
    return h.hexdigest()


class SQLiteApprovalStore(ApprovalStore):
    """Paused runs in one SQLite file, shared by threads and processes.

    Args:
        path: the file (made, with its folder, if missing).
        key: the key rows are signed with (16 bytes or more); by default
            `$AGENT_TOOLS_APPROVAL_KEY`, else a random key kept in `<path>.key`
            (made on first use, mode 0600). Every process sharing the file needs it.
        expire_after: seconds a paused run waits before it expires (default a day).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        key: bytes | str | None = None,
        expire_after: float = DEFAULT_EXPIRE_AFTER,
    ) -> None:
        super().__init__(expire_after)
        self._file = SQLiteFile(Path(path), _setup)
        self.path = self._file.path
        self._key = _key_for(self.path, key)

    def __repr__(self) -> str:
        return f"SQLiteApprovalStore({str(self.path)!r}, expire_after={self.expire_after:g})"

    def _connection(self) -> sqlite3.Connection:
        return self._file.connection()

    def put(self, paused: PausedRun, *, secrets: Mapping[str, str] | None = None) -> None:
        secrets = secrets or {}
        name = holds_secret(paused.snapshot, secrets)
        if name is not None:
            raise SecretError(
                f"the paused run holds the value of secret {name} in its sandbox state, so it is not "
                f"written to {self.path}: a store on disk never holds a secret. Keep secrets out of the "
                "code's variables, or use the in-memory store for this run"
            )
        try:
            meta = dumps(paused.meta(), secrets)
        except TypeError as exc:
            raise SecretError(f"the paused run cannot be written to {self.path}: {exc}") from None
        mac = _mac(
            self._key,
            paused.token,
            paused.ref,
            paused.fingerprint,
            paused.snapshot,
            meta,
            paused.created_at,
            paused.expires_at,
        )
        conn = self._connection()
        now = time.time()
        conn.execute("DELETE FROM paused WHERE expires_at <= ?", (now - self.expire_after,))
        conn.execute(
            "INSERT INTO paused (token, ref, fingerprint, snapshot, meta, created_at, expires_at, used, mac) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
            (
                paused.token,
                paused.ref,
                paused.fingerprint,
                paused.snapshot,
                meta,
                paused.created_at,
                paused.expires_at,
                mac,
            ),
        )

    def _read(self, conn: sqlite3.Connection, token: str) -> PausedRun:
        """The run of `token`, checked; expired: deleted (the caller commits), then raised."""
        check_token(token)
        row = conn.execute(
            # Each column as it must be: a changed type is a changed row, and text that is
            # not UTF-8 must not fail the read before the check can refuse it.
            "SELECT ref, fingerprint, CAST(snapshot AS BLOB), CAST(meta AS BLOB), created_at, "
            "expires_at, used, mac, typeof(snapshot) = 'blob' AND typeof(meta) = 'blob' "
            "FROM paused WHERE token = ?",
            (token,),
        ).fetchone()
        if row is None:
            raise _unknown(token, str(self.path))
        ref, fingerprint, snapshot, meta, created, expires, used, mac, blobs = row
        if used:
            raise _used(token)
        valid = (
            blobs == 1
            and isinstance(snapshot, bytes)
            and isinstance(meta, bytes)
            and isinstance(fingerprint, str)
            and isinstance(mac, str)
            and isinstance(created, float)
            and isinstance(expires, float)
            and (ref is None or isinstance(ref, str))
            and hmac.compare_digest(
                mac, _mac(self._key, token, ref, fingerprint, snapshot, meta, created, expires)
            )
        )
        if not valid:
            raise ApprovalTokenError(
                token,
                "tampered",
                f"the paused run {token!r} in {self.path} fails its integrity check (the row was changed "
                "outside agent-tools, or signed with another key): it is not resumed",
            )
        if expires <= time.time():
            conn.execute("DELETE FROM paused WHERE token = ?", (token,))
            raise _expired(token, expires)
        try:
            plain: Any = loads(meta)
            return PausedRun.from_meta(token, fingerprint, snapshot, plain, created, expires, ref)
        except Exception as exc:
            raise ApprovalTokenError(
                token, "tampered", f"the paused run {token!r} in {self.path} cannot be read back: {exc}"
            ) from None

    def claim(self, token: str, fingerprint: str | None = None) -> PausedRun:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            paused = self._read(conn, token)
            if fingerprint is not None and paused.fingerprint != fingerprint:
                raise _mismatch(token)
            # The row stays, emptied, so that a second resume says "already resumed".
            conn.execute("UPDATE paused SET used = 1, snapshot = x'', meta = x'' WHERE token = ?", (token,))
            conn.execute("COMMIT")
        except ApprovalTokenError as exc:
            # An expired run's row was deleted: that stays. Nothing else was changed.
            conn.execute("COMMIT" if exc.reason == "expired" else "ROLLBACK")
            raise
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return paused

    def peek(self, token: str) -> PausedRun:
        return self._read(self._connection(), token)

    def find(self, ref: str) -> str | None:
        row = (
            self._connection()
            .execute(
                "SELECT token FROM paused WHERE ref = ? AND used = 0 AND expires_at > ? "
                "ORDER BY created_at DESC LIMIT 1",
                (ref, time.time()),
            )
            .fetchone()
        )
        return None if row is None else str(row[0])

    def __len__(self) -> int:
        (count,) = (
            self._connection()
            .execute("SELECT COUNT(*) FROM paused WHERE used = 0 AND expires_at > ?", (time.time(),))
            .fetchone()
        )
        return int(count)


_store: ApprovalStore | None = None
_store_lock = threading.Lock()


def get_approval_store() -> ApprovalStore:
    """The process-wide store paused runs go to: in memory unless set."""
    global _store
    with _store_lock:
        if _store is None:
            _store = MemoryApprovalStore()
        return _store


def resolve_store(store: ApprovalStore | None) -> ApprovalStore:
    """`store`, or the process-wide one when None."""
    return get_approval_store() if store is None else store


def set_approval_store(store: ApprovalStore | None) -> None:
    """Make `store` where paused runs go (None: a new in-memory one)."""
    global _store
    if store is not None and not isinstance(store, ApprovalStore):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"set_approval_store: expected an ApprovalStore, got {type(store).__name__}")
    with _store_lock:
        _store = store
