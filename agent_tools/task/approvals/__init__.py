"""Paused runs: what a run that waits for a person's approval leaves (`paused`), and
where it waits (`store`: in memory, or a SQLite file shared by processes)."""

from agent_tools.task.approvals.paused import PausedRun, fingerprint, new_token
from agent_tools.task.approvals.store import (
    DEFAULT_EXPIRE_AFTER,
    ApprovalStore,
    MemoryApprovalStore,
    SQLiteApprovalStore,
    get_approval_store,
    resolve_store,
    set_approval_store,
)

__all__ = [
    "DEFAULT_EXPIRE_AFTER",
    "ApprovalStore",
    "MemoryApprovalStore",
    "PausedRun",
    "SQLiteApprovalStore",
    "fingerprint",
    "get_approval_store",
    "new_token",
    "resolve_store",
    "set_approval_store",
]
