"""Going on with a run that paused for approval: claim it from its store, answer
the call it waits on, and run the rest through the same pipeline steps as any run
(`task.pipeline`): secrets, the wall-clock timeout, output validation, `post`,
redaction and the report."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from agent_tools.base.approval import ApprovalTokenError
from agent_tools.base.errors import SandboxError, redacting, stop_redacting
from agent_tools.base.events import EventSink
from agent_tools.base.record import RunRecord
from agent_tools.sandbox.execution import Decision, Paused
from agent_tools.sandbox.pool import get_runtime
from agent_tools.task.approvals.keep import PauseOptions, Resumption, keep_paused
from agent_tools.task.approvals.paused import PausedRun, fingerprint
from agent_tools.task.approvals.store import ApprovalStore, resolve_store
from agent_tools.task.events import with_events
from agent_tools.task.pipeline import (
    Stopper,
    call_hook,
    current_stopper,
    finish,
    resolve_secrets,
    run_attempt,
    validate_output,
)
from agent_tools.task.redaction import Redactor

if TYPE_CHECKING:
    from agent_tools.task.template import CodeTaskTemplate

__all__ = ["aresume_template", "resume_template"]


def _claim(
    template: CodeTaskTemplate | None, token: str, store: ApprovalStore
) -> tuple[CodeTaskTemplate, PausedRun]:
    """Claim the paused run of `token` for `template` (None: the template that paused
    it, known only in the process that paused it). Nothing is claimed on an error."""
    if template is None:
        template = store.peek(token).template
        if template is None:
            raise ApprovalTokenError(
                token,
                "unavailable",
                f"the paused run {token!r} was paused in another process (or its store keeps no "
                "templates): resume it through the template that paused it, template.resume(token, ...)",
            )
    return template, store.claim(token, fingerprint(template))


def resume_template(
    template: CodeTaskTemplate | None,
    token: str,
    *,
    approve: bool,
    reason: str | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
    pause: PauseOptions | None = None,
    on_event: EventSink | None = None,
) -> RunRecord:
    """Go on with the paused run of `token`: the call it waits on runs now (`approve`)
    or raises `PermissionError` with `reason` in the sandbox; the code continues from
    there, and may pause again. The record holds every host call since the run began
    (none made twice) and all it printed. A bad, expired or used token, or a stored
    run that fails its checks, raises `ApprovalTokenError` and nothing runs. With
    `on_event`, the resumed part's events go to it (a `RunStarted` first)."""
    if not isinstance(approve, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"approve must be True or False, got {approve!r}")
    if reason is not None and not isinstance(reason, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"reason must be a str or None, got {type(reason).__name__}")
    store = resolve_store(pause.store if pause is not None else None)
    template, paused = _claim(template, token, store)
    claimed = template
    return with_events(
        claimed, on_event, lambda: _resumed(claimed, paused, approve, reason, loop, pause, store)
    )


def _resumed(
    template: CodeTaskTemplate,
    paused: PausedRun,
    approve: bool,
    reason: str | None,
    loop: asyncio.AbstractEventLoop | None,
    pause: PauseOptions | None,
    store: ApprovalStore,
) -> RunRecord:
    pause = PauseOptions(store, (pause.ref if pause is not None else None) or paused.ref)
    started = time.perf_counter()
    record = RunRecord(
        calls=list(paused.calls), stdout=paused.stdout, attempts=paused.attempts, host_time=paused.host_time
    )
    redactor: Redactor | None = None
    error: SandboxError | None = None
    redact_token = None
    secret_env: dict[str, str] = {}
    decision = Decision(paused.snapshot, paused.function, paused.args, paused.kwargs, approve, reason)
    try:
        try:
            secret_env = resolve_secrets(template) if template.secrets else {}
            redactor = Redactor(secret_env) if secret_env else None
            if redactor is not None:
                redact_token = redacting(redactor.text)
            value = run_attempt(
                template, {}, loop, record, secret_env, paused.state, redactor, Resumption(paused, decision)
            )
            result = validate_output(template, value, paused.in_size)
            custom_post = template._custom_post  # pyright: ignore[reportPrivateUsage]
            record.result = call_hook(template.post(result)) if custom_post else result
        except Paused as again:
            try:
                keep_paused(
                    template,
                    again,
                    record,
                    started,
                    paused.in_size,
                    secret_env,
                    paused.state,
                    pause,
                    paused.active_seconds,
                )
            except SandboxError as err:
                error = err
        except SandboxError as err:
            error = err
        if error is not None:
            if not record.errors or record.errors[-1] is not error:
                record.errors.append(error)
            error.record = record
        record.duration = paused.active_seconds + (time.perf_counter() - started)
        finish(template, record, {}, error, redactor)
    finally:
        if redact_token is not None:
            stop_redacting(redact_token)
    if error is not None:
        raise error
    return record


async def aresume_template(
    template: CodeTaskTemplate | None,
    token: str,
    *,
    approve: bool,
    reason: str | None = None,
    pause: PauseOptions | None = None,
    on_event: EventSink | None = None,
) -> RunRecord:
    """`resume_template` from async code (the loop stays free, as in `arun_template`)."""
    loop = asyncio.get_running_loop()
    stopper = Stopper()

    def in_thread() -> RunRecord:
        current_stopper.set(stopper)
        return resume_template(
            template, token, approve=approve, reason=reason, loop=loop, pause=pause, on_event=on_event
        )

    try:
        return await get_runtime().run_in_thread(in_thread)
    except asyncio.CancelledError:
        stopper.stop(SandboxError("the run was cancelled by its caller"))
        raise
