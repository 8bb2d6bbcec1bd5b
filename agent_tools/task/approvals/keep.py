"""Keeping a run that paused for approval: where it goes (`PauseOptions`), what a
resumed run carries (`Resumption`), and the record of it in the store
(`keep_paused`), for the run pipeline (`task.pipeline`) and the resume
(`task.resume`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent_tools.base.events import Paused as PausedEvent
from agent_tools.base.record import RunRecord
from agent_tools.sandbox.emit import current_emitter
from agent_tools.sandbox.execution import Decision, Paused
from agent_tools.task.approvals.paused import PausedRun, fingerprint, new_token
from agent_tools.task.approvals.store import ApprovalStore, resolve_store

if TYPE_CHECKING:
    from agent_tools.task.state import SessionState
    from agent_tools.task.template import CodeTaskTemplate

__all__ = ["PauseOptions", "Resumption", "keep_paused"]


@dataclass(frozen=True)
class PauseOptions:
    """Where a run that pauses for approval is kept (`store`, None: the process-wide
    one) and the caller's own key for it (`ref`: a pydantic-ai tool call id)."""

    store: ApprovalStore | None = None
    ref: str | None = None


@dataclass(frozen=True)
class Resumption:
    """A paused run going on: what it had done, and the answer to its waiting call."""

    paused: PausedRun
    decision: Decision


def keep_paused(
    template: CodeTaskTemplate,
    paused: Paused,
    record: RunRecord,
    started: float,
    in_size: int,
    secret_env: Mapping[str, str],
    state: SessionState | None,
    pause: PauseOptions | None,
    spent: float,
) -> None:
    """The run paused at a call that needs approval: keep it in the store, and name
    the call and its token in the record. `spent`: seconds of earlier segments."""
    store = resolve_store(pause.store if pause is not None else None)
    now = time.time()
    lines = template._user_source.splitlines()  # pyright: ignore[reportPrivateUsage]
    line = paused.line
    kept = PausedRun(
        token=new_token(),
        fingerprint=fingerprint(template),
        snapshot=paused.snapshot,
        source=template._user_source,  # pyright: ignore[reportPrivateUsage]
        function=paused.function,
        args=paused.args,
        kwargs=paused.kwargs,
        arguments=dict(paused.request.arguments),
        line=line,
        code_line=lines[line - 1].strip() if line is not None and 0 < line <= len(lines) else "",
        calls=list(record.calls),
        stdout=record.stdout,
        attempts=record.attempts,
        host_time=record.host_time,
        active_seconds=spent + (time.perf_counter() - started),
        in_size=in_size,
        created_at=now,
        expires_at=now + store.expire_after,
        ref=pause.ref if pause is not None else None,
        template=template,
        state=state,
    )
    store.put(kept, secrets=secret_env)
    record.pending = kept.pending()
    emitter = current_emitter.get()
    if emitter is not None:
        emitter(
            PausedEvent,
            function=kept.function,
            arguments=emitter.value(dict(kept.arguments)),
            line=kept.line,
            token=kept.token,
        )
