"""The state one execution carries, and its set-up; the parts that serve the run
subclass it (see `execution.Execution`).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Mapping

from agent_tools.base import errors as e
from agent_tools.base.record import HostCall
from agent_tools.sandbox.affinity import Colocation, Pin
from agent_tools.sandbox.eager import LoopCall
from agent_tools.sandbox.emit import Emitter
from agent_tools.sandbox.plan import Plan
from agent_tools.sandbox.pool import nesting
from agent_tools.sandbox.session import SessionData

__all__ = ["ExecutionCore"]


class ExecutionCore:
    """The state of one execution, shared by the parts that serve it: host calls and
    their budget (`hostcalls`), fan-out (`fanout`), error classification
    (`classify`) and feeding (`execution`). Not reusable: one per attempt."""

    # What most runs never change, as class-level defaults: an instance sets its own
    # only when it does, which keeps a trivial run's set-up short.
    stdout: str = ""
    host_time: float = 0.0
    _limit_hit: e.SandboxError | None = None
    _last_failed: HostCall | None = None
    _started: float = 0.0
    _worker_pid: int | None = None
    """The worker's pid while this run holds its session, else None: only then may the
    worker be killed (under `_lock`); a pid kept past the checkout would kill an idle
    worker, or one serving another run."""
    _killed: bool = False
    _cancel_error: e.SandboxError | None = None
    """Set by `cancel`: the error that names why the run was stopped."""
    _abort: BaseException | None = None
    """Set when a host function raised a BaseException that is not an Exception:
    what the run raises (see `_stop`), whether or not the code caught it."""
    _eager_loop: asyncio.AbstractEventLoop | None = None
    _cancelled: bool = False
    _colocation: Colocation | None = None
    _pin: Pin | None = None
    _pin_tried: bool = False
    _feeder: int = 0
    """`threading.get_ident()` of the thread feeding the code (with colocation on)."""
    _returned_at: float = 0.0
    """When the last host call returned to the sandbox (while deciding whether to pin)."""
    _gaps: int = 0
    _shortest_gap: float = float("inf")
    emitter: Emitter | None = None
    """The run's live events' emitter, when it has a listener (see `sandbox.emit`)."""
    _index_base: int = 0
    """Host calls the run made before this execution (earlier attempts, or before a
    pause): where this execution's call indexes start."""
    _entered_at: float = 0.0
    """When the last host call entered host code (while deciding whether to pin)."""
    _shortest_host_call: float = float("inf")

    def __init__(
        self,
        plan: Plan,
        host_loop: asyncio.AbstractEventLoop | None,
        secret_env: Mapping[str, str] | None = None,
        state: SessionData | None = None,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.plan = plan
        self.redact = redact
        """Replaces secret values in text; applied before anything recorded is cut."""
        self._lock = threading.Lock()
        self.env_vars: Mapping[str, str] = {**plan.env_vars, **secret_env} if secret_env else plan.env_vars
        self.secrets: tuple[str, ...] = tuple(v for v in secret_env.values() if v) if secret_env else ()
        self.source = plan.source
        self.functions = plan.functions
        self.limits = plan.limits
        # None: async functions run on the feed thread's own loop (see eager.py)
        self.host_loop = host_loop
        self.calls: list[HostCall] = []
        self._counter = itertools.count()
        self._pending: set[LoopCall] = set()
        """Async calls under way on the host loop (cancelled when the run is)."""
        self._indexes: dict[int, int] = {}
        """id(HostCall) -> its index, while an emitted call is in flight."""
        self.state = state
        self.depth = nesting.get()
        """How deep this run is nested in registered functions of other runs."""
