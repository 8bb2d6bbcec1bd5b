"""One SQLite file shared by threads and processes: how the result cache and the
approval store open it.

Each thread gets its own connection (SQLite connections must not be shared across
threads, and one is reopened after a fork), in WAL mode so readers never wait for
a writer, with a busy timeout so concurrent writers queue instead of failing, and
in autocommit mode: every statement commits on its own unless a caller opens a
transaction. Deleted rows' bytes are overwritten (`secure_delete`). WAL needs
shared memory, so the file should be on a local disk, not a network share.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import tenacity

__all__ = ["BUSY_TIMEOUT_S", "SQLiteFile"]

BUSY_TIMEOUT_S = 30.0
"""How long a statement waits for another connection's write lock."""


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


@tenacity.retry(
    retry=tenacity.retry_if_exception(_locked),
    stop=tenacity.stop_after_attempt(5),
    wait=tenacity.wait_random(0.01, 0.2),
    reraise=True,
)
def _open(path: Path, setup: Callable[[sqlite3.Connection], None]) -> sqlite3.Connection:
    """A connection set up as described above, then by `setup` (the store's schema).
    Switching a new file to WAL can fail with "database is locked" without waiting on
    the busy timeout when several processes or threads open it at once; that is retried."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA trusted_schema = OFF")
        setup(conn)
    except BaseException:
        conn.close()
        raise
    return conn


class SQLiteFile:
    """The file at `path` (absolute, so a thread opening its connection after a chdir
    finds the same file; its folder is made), opened on first use in each thread."""

    def __init__(self, path: Path, setup: Callable[[sqlite3.Connection], None]) -> None:
        self.path = path.expanduser().absolute()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._setup = setup
        self._local = threading.local()
        self.connection()  # fail here, not on first use, if the file cannot be opened

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (a new one after a fork)."""
        pid = os.getpid()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == pid:
            return conn
        conn = _open(self.path, self._setup)
        self._local.conn, self._local.pid = conn, pid
        return conn
