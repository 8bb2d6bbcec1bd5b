"""What a run carries over from the one before, as the sandbox sees it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SessionData"]


@dataclass
class SessionData:
    """A Monty session dumped after a successful run (`data`), loaded into the next
    run's fresh session; None before the first. `task.state.SessionState` adds the
    ways to run with it."""

    data: bytes | None = None
    """Monty's dump of the last successful run's session; None before the first."""
    names: frozenset[str] = frozenset()
    """The names the successful runs so far defined: the pre-flight check knows them."""
