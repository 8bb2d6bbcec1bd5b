"""The `run_code` tool without a framework: what both agent adapters share.

A `CodeRunner` holds the registered functions and the template options. Each
`run_code` call becomes a `CodeTaskTemplate` (via `orchestrator_from_str`) and
runs; the outcome becomes the text the model reads: the result (and printed
output) as compact JSON, or an error it can fix, with the numbered code, the
failing line, a hint and the host calls already made. Errors the model cannot
fix are raised to the caller instead.
"""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pydantic_core

from agent_tools.base.approval import PendingApproval
from agent_tools.base.config import SandboxedConfig
from agent_tools.base.errors import (
    FatalToolError,
    HostFunctionError,
    SandboxError,
    SecretError,
    excerpt,
    format_call,
    short_repr,
)
from agent_tools.base.events import EventSink, RunEvent
from agent_tools.base.prompts import render
from agent_tools.base.record import HostCall, RunRecord
from agent_tools.sandbox.functions import HostFunction, build_catalog, register
from agent_tools.task.approvals import ApprovalStore, resolve_store
from agent_tools.task.approvals.keep import PauseOptions
from agent_tools.task.events import event_stream
from agent_tools.task.pipeline import arun_template, run_template
from agent_tools.task.resume import aresume_template, resume_template
from agent_tools.task.state import SessionState
from agent_tools.task.template import CodeTaskTemplate, orchestrator_from_str
from agent_tools.tool.description import (
    DEFAULT_CATALOG_BUDGET,
    CatalogMode,
    catalog_builtins,
    run_code_description,
    uses_search,
)

__all__ = [
    "DEFAULT_MAX_RESULT_CHARS",
    "CodeRunner",
    "FatalToolError",
    "Preflight",
    "ToolReply",
    "format_pending",
]

DEFAULT_MAX_RESULT_CHARS = 20_000
"""How much of a result the model gets back before it is cut (configurable)."""


@dataclass(frozen=True)
class ToolReply:
    """What one `run_code` call produced: the text for the model, and the details."""

    text: str
    ok: bool
    record: RunRecord | None
    error: SandboxError | None
    pending: PendingApproval | None = None
    """Set when the run paused for a person's approval (`text` says so; `ok` is
    False): the call, and the token `CodeRunner.resume` takes."""


def _json(value: Any) -> str:
    return pydantic_core.to_json(value, bytes_mode="base64", fallback=repr).decode()


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return (
        f"{text[:limit]}... [truncated: {cut} of {len(text)} characters cut; "
        "return less, such as a summary, a count or the first items]"
    )


def format_result(record: RunRecord, max_chars: int) -> str:
    """`{"result": ...}` plus `"printed"` when the code printed, as compact JSON."""
    body: dict[str, Any] = {"result": record.result}
    if record.stdout:
        body["printed"] = record.stdout
    return _truncate(_json(body), max_chars)


def _call_line(call: HostCall) -> str:
    outcome = (
        f"raised {type(call.error).__name__}: {call.error}" if call.error else f"-> {short_repr(call.result)}"
    )
    return f"- {format_call(call.function, call.args, call.kwargs)} {outcome}"


def format_error(error: SandboxError, code: str) -> str:
    """The error as the model reads it: the whole code numbered with the failing line
    marked, what went wrong, a hint, and the host calls already made."""
    source = error.source or code
    lines = source.splitlines() or [""]
    if error.line is not None:
        listing = excerpt(source, error.line, error.column, error.end_column, context=len(lines))
    else:
        width = len(str(len(lines)))
        listing = "\n".join(f"  {n:>{width}} | {text}" for n, text in enumerate(lines, 1))
    record = error.record
    calls = record.calls if record is not None else []
    call_text = ""
    if calls:
        shown = [_call_line(c) for c in calls[:20]]
        if len(calls) > 20:
            shown.append(f"- ... and {len(calls) - 20} more")
        call_text = "Calls already made (they may have had effects):\n" + "\n".join(shown) + "\n"
    printed = record.stdout if record is not None else ""
    if printed:
        call_text += f"Printed before the error:\n{_truncate(printed, 2_000)}\n"
    details = (f"hint: {error.hint}\n" if error.hint else "") + call_text
    return render("error", headline=error.headline(), code=listing, details=details)


def format_pending(pending: PendingApproval) -> str:
    """What a paused run says while it waits (the model reads it only where the
    framework shows it one)."""
    return (
        f"The code is paused at line {pending.line}, waiting for a person to approve "
        f"{pending.describe()}. {pending.calls_made} earlier call(s) already ran and will not run again."
    )


def _fatal(error: SandboxError) -> BaseException | None:
    """The exception to raise to the caller when the model cannot fix `error`."""
    if isinstance(error, SecretError):
        return error
    if isinstance(error, HostFunctionError) and isinstance(error.__cause__, FatalToolError):
        return error.__cause__
    return None


Preflight = Literal["fast", "full", "off"]
"""What checks the code before it runs: "fast" (the default) is our pre-flight check
(`sandbox.preflight`, tens of microseconds), "full" adds Monty's type checker (a few
to 25 ms a call; it also catches wrong types that are not literals), "off" runs the
code as written."""

_PREFLIGHTS: tuple[Preflight, ...] = ("fast", "full", "off")

_MAX_BASES = 16


def _config(preflight: Preflight | None, type_check: bool | None, timeout_ms: int) -> SandboxedConfig:
    if preflight is not None and type_check is not None:
        raise TypeError("pass preflight= or type_check=, not both (type_check=True is preflight='full')")
    if preflight is None:
        preflight = "fast" if type_check is None else ("full" if type_check else "off")
    if preflight not in _PREFLIGHTS:
        raise ValueError(f"preflight must be one of {', '.join(map(repr, _PREFLIGHTS))}, got {preflight!r}")
    return SandboxedConfig(
        timeout_ms=timeout_ms, type_check=preflight == "full", preflight=preflight != "off"
    )


class CodeRunner:
    """Registered functions plus template options; runs model code and answers it.

    What does not change from call to call (the registered functions, their stubs and
    signatures, the interface, the limits) is built once; each call binds only its code.
    """

    def __init__(
        self,
        tasks: Iterable[Callable[..., Any]] | Mapping[str, Callable[..., Any]],
        *,
        max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
        preflight: Preflight | None = None,
        type_check: bool | None = None,
        timeout_ms: int = 30_000,
        approval_store: ApprovalStore | None = None,
        catalog: CatalogMode = "auto",
        catalog_budget: int = DEFAULT_CATALOG_BUDGET,
        **template_options: Any,
    ) -> None:
        if catalog not in ("auto", "full", "search"):
            raise ValueError(f"catalog must be 'auto', 'full' or 'search', got {catalog!r}")
        if not isinstance(catalog_budget, int) or catalog_budget < 0:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValueError(f"catalog_budget must be a number of characters >= 0, got {catalog_budget!r}")
        self.catalog_mode: CatalogMode = catalog
        self.catalog_budget = catalog_budget
        self.functions: dict[str, HostFunction] = register(tasks)
        self.max_result_chars = max_result_chars
        self.approval_store = approval_store
        """Where runs that pause for approval wait (None: the process-wide store)."""
        if "plugin_config" not in template_options:
            template_options["plugin_config"] = _config(preflight, type_check, timeout_ms)
        elif preflight is not None or type_check is not None:
            raise TypeError("pass preflight=/type_check= or plugin_config=, not both")
        self.options = template_options
        self._bases: dict[tuple[tuple[str, int], ...], CodeTaskTemplate] = {}
        self._catalog: str | None = None
        self._description: str | None = None
        self._base = self._make_base(self.callables)  # fails fast on bad options

    @property
    def callables(self) -> dict[str, Callable[..., Any]]:
        return {name: fn.func for name, fn in self.functions.items()}

    def catalog(self) -> str:
        """The registered functions as Python stubs, with docstrings, after the classes
        their signatures use (built once)."""
        if self._catalog is None:
            self._catalog = build_catalog(self.functions)
        return self._catalog

    @property
    def config(self) -> SandboxedConfig:
        """The sandbox settings every run of this runner gets."""
        return typing.cast(SandboxedConfig, self.options["plugin_config"])

    def description(self, *, stateful: bool = False) -> str:
        """The `run_code` tool description: how to use it, this runner's limits, the
        catalog (full stubs, or summaries above `catalog_budget` characters) and the
        compact capability sheet (built once)."""
        if self._description is None or stateful:
            text = run_code_description(
                self.functions,
                self.config,
                stateful=stateful,
                catalog=self.catalog_mode,
                budget=self.catalog_budget,
            )
            if stateful:
                return text
            self._description = text
        return self._description

    def searching(self, functions: Mapping[str, HostFunction]) -> bool:
        """Whether the code gets `describe` and `search_functions` over `functions`."""
        return uses_search(functions, self.catalog_mode, self.catalog_budget)

    def system_prompt(self) -> str:
        return render("system_prompt")

    def _make_base(self, tasks: Mapping[str, Callable[..., Any]]) -> CodeTaskTemplate:
        functions = register(tasks)
        if self.searching(functions):  # a large catalog: the code looks functions up
            builtins = catalog_builtins(functions)
            clash = sorted(set(builtins) & set(functions))
            if clash:
                raise ValueError(
                    f"{', '.join(clash)}: the name of a function the code uses to look up a large "
                    "catalog; register it under another name, or pass catalog='full'"
                )
            tasks = {**tasks, **builtins}
        base = orchestrator_from_str("", inputs={}, output=Any, tasks=tasks, name="run_code", **self.options)
        base._plan()  # pyright: ignore[reportPrivateUsage] - built once, shared by every call
        return base

    def template(
        self, code: str, functions: Mapping[str, Callable[..., Any]] | None = None
    ) -> CodeTaskTemplate:
        """The task one `run_code` call runs: `code` bound to the registered functions
        (or to `functions`, a per-call set; the last few sets are kept built)."""
        if functions is None:
            base = self._base
        else:
            key = tuple((name, id(fn)) for name, fn in functions.items())
            base = self._bases.get(key)
            if base is None:
                if len(self._bases) >= _MAX_BASES:
                    self._bases.pop(next(iter(self._bases)))
                base = self._bases[key] = self._make_base(functions)
        return base._with_source(code)  # pyright: ignore[reportPrivateUsage]

    def reply(self, code: str, record: RunRecord | None, error: SandboxError | None) -> ToolReply:
        """Turn an outcome into the model's text; raise what the model cannot fix."""
        if error is None:
            assert record is not None
            if record.pending is not None:
                return ToolReply(format_pending(record.pending), False, record, None, record.pending)
            return ToolReply(format_result(record, self.max_result_chars), True, record, None)
        fatal = _fatal(error)
        if fatal is not None:
            raise fatal
        return ToolReply(format_error(error, code), False, error.record, error)

    def run(
        self,
        code: str,
        *,
        state: SessionState | None = None,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        ref: str | None = None,
        on_event: EventSink | None = None,
    ) -> ToolReply:
        """Run one `run_code` call. A run that pauses for approval answers with
        `reply.pending` (kept in `approval_store`, under `ref` if given). With
        `on_event`, the run's live events go to it as they happen."""
        template = self.template(code, functions)
        try:
            record = run_template(
                template, (), {}, None, state=state, pause=self._pause(ref), on_event=on_event
            )
        except SandboxError as error:
            return self.reply(code, None, error)
        return self.reply(code, record, None)

    async def arun(
        self,
        code: str,
        *,
        state: SessionState | None = None,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        ref: str | None = None,
        on_event: EventSink | None = None,
    ) -> ToolReply:
        template = self.template(code, functions)
        try:
            record = await arun_template(
                template, (), {}, state=state, pause=self._pause(ref), on_event=on_event
            )
        except SandboxError as error:
            return self.reply(code, None, error)
        return self.reply(code, record, None)

    async def stream(
        self,
        code: str,
        *,
        state: SessionState | None = None,
        functions: Mapping[str, Callable[..., Any]] | None = None,
    ) -> AsyncIterator[RunEvent]:
        """Run one `run_code` call and yield its live events, `RunFinished` last (use
        `arun(code, on_event=...)` to get the reply as well)."""

        async def start(sink: EventSink) -> ToolReply:
            return await self.arun(code, state=state, functions=functions, on_event=sink)

        async for event in event_stream(start):
            yield event

    def _pause(self, ref: str | None) -> PauseOptions | None:
        if self.approval_store is None and ref is None:
            return None
        return PauseOptions(self.approval_store, ref)

    def _resumable(
        self, token: str, functions: Mapping[str, Callable[..., Any]] | None
    ) -> tuple[CodeTaskTemplate, str]:
        """The template that paused `token`'s run: kept with it in this process, else
        made again from its code (and checked against it when claimed)."""
        paused = resolve_store(self.approval_store).peek(token)
        template = paused.template
        if template is None:
            template = self.template(paused.source, functions)
        return template, paused.source

    def resume(
        self,
        token: str,
        *,
        approve: bool,
        reason: str | None = None,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        on_event: EventSink | None = None,
    ) -> ToolReply:
        """Go on with a `run_code` call that paused for approval (`reply.pending.token`):
        approved, the call runs now, once; denied, the code gets a `PermissionError`
        with `reason` at that call. The reply is the call's outcome, or pending again.
        A bad, expired or used token raises `ApprovalTokenError`, and nothing runs."""
        template, code = self._resumable(token, functions)
        try:
            record = resume_template(
                template,
                token,
                approve=approve,
                reason=reason,
                pause=PauseOptions(self.approval_store),
                on_event=on_event,
            )
        except SandboxError as error:
            return self.reply(code, None, error)
        return self.reply(code, record, None)

    async def aresume(
        self,
        token: str,
        *,
        approve: bool,
        reason: str | None = None,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        on_event: EventSink | None = None,
    ) -> ToolReply:
        """`resume` from async code."""
        template, code = self._resumable(token, functions)
        try:
            record = await aresume_template(
                template,
                token,
                approve=approve,
                reason=reason,
                pause=PauseOptions(self.approval_store),
                on_event=on_event,
            )
        except SandboxError as error:
            return self.reply(code, None, error)
        return self.reply(code, record, None)
