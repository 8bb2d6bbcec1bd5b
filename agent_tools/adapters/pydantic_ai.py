"""`CodeToolset`: the `run_code` tool as a pydantic-ai toolset.

    agent = Agent(model, toolsets=[CodeToolset(tasks=[get_weather, convert])])

The model sees one tool, `run_code(code)`, whose description carries the catalog
of registered functions (as Python stubs with their docstrings) and the sandbox
capability sheet: the description, not the agent instructions, because it
travels with the tool wherever the toolset is used and needs no cooperation from
the agent's own prompt. Errors the model can fix come back as `ModelRetry`;
the ones it cannot are raised. Registered functions may be plain callables or
pydantic-ai `Tool`s, and a function whose first parameter is a `RunContext` gets
the run's context, as pydantic-ai tools do.

What a `Tool` says about itself holds here too, failing closed:

- A tool that needs a person's approval (`requires_approval=True`, or a `prepare`
  that makes its definition's `kind` anything but "function") stays in the
  catalog, marked as such, but code cannot run it: the call stops the run without
  calling the function, and the model reads why. So does a function that raises
  `ApprovalRequired` or `CallDeferred` when called. The stop is a BaseException
  (see `HostCalls._stop` in sandbox/hostcalls.py), so the code cannot catch it and go on.
- A tool's `prepare` runs at every step, with that step's `RunContext`: a tool it
  hides (returns None) is neither listed in that step's catalog nor callable from
  that step's code, and a description it sets is what the catalog shows.
- A function whose annotations do not resolve (say `RunContext` imported only under
  `if TYPE_CHECKING:`) is refused when the toolset is built, as pydantic-ai refuses
  it: unresolved, a context parameter would be an argument the model's code fills.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import functools
import hashlib
import inspect
import keyword
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.trace import Tracer
from pydantic_ai import RunContext, Tool
from pydantic_ai.exceptions import ApprovalRequired, ModelRetry, UnexpectedModelBehavior, UserError
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import AbstractToolset, FunctionToolset
from pydantic_ai.toolsets.abstract import ToolsetTool

from agent_tools.adapters.pydantic_ai_events import LiveEvents, RunCodeEvent, capped_code
from agent_tools.adapters.pydantic_ai_guards import (
    ApprovalRequiredStop,
    CallDeferredStop,
    catalog_note,
    dress,
    guarded,
    refused,
    run_context,
    tool_ctx,
    with_run_context,
)
from agent_tools.adapters.pydantic_ai_toolsets import SourceTool, ToolsetSource, step_tools
from agent_tools.base.approval import APPROVAL_ATTR, ApprovalRule, approval_rule
from agent_tools.base.events import EventSink
from agent_tools.sandbox.functions import TAKEN_NAMES, not_tasks, register
from agent_tools.sandbox.schema import python_name
from agent_tools.task.approvals import resolve_store
from agent_tools.task.state import SessionState
from agent_tools.tool.code_runner import DEFAULT_MAX_RESULT_CHARS, CodeRunner, ToolReply
from agent_tools.tool.description import run_code_description

__all__ = ["ApprovalRequiredStop", "CallDeferredStop", "CodeToolset", "RunCodeEvent"]

_MAX_STATES = 64
_MAX_DESCRIPTIONS = 64
_MAX_BUILT = 256


def _is_run_context(annotation: Any) -> bool:
    return annotation is RunContext or typing.get_origin(annotation) is RunContext


def _unresolved(name: str, exc: Exception) -> UserError:
    missing = getattr(exc, "name", None) if isinstance(exc, NameError) else None
    what = f"`{missing}`" if missing else "the names they use"
    return UserError(
        f"CodeToolset: the type annotations of {name!r} cannot be resolved ({type(exc).__name__}: {exc}). "
        f"Import {what} at run time, not only under `if TYPE_CHECKING:`: pydantic-ai refuses such a "
        "function too, and an unresolved `RunContext` parameter would be filled by the model's code "
        "instead of the run's context."
    )


def _resolved_signature(func: Callable[..., Any], name: str) -> inspect.Signature | None:
    """`func`'s signature with its annotations evaluated; None when it has none (a
    builtin). Annotations that do not resolve are a `UserError`, as in pydantic-ai."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    target: Any = func
    if isinstance(func, functools.partial):
        target = typing.cast("functools.partial[Any]", func).func
    try:
        if inspect.isfunction(target) or inspect.ismethod(target):
            hints = typing.get_type_hints(target, include_extras=True)
        else:  # a callable object: evaluate what its signature says
            evaluated = inspect.signature(target, eval_str=True)
            hints = {p.name: p.annotation for p in evaluated.parameters.values()}
            hints["return"] = evaluated.return_annotation
    except Exception as exc:
        raise _unresolved(name, exc) from exc
    params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()]
    return sig.replace(parameters=params, return_annotation=hints.get("return", sig.return_annotation))


def _first_is_run_context(sig: inspect.Signature | None) -> bool:
    if sig is None or not sig.parameters:
        return False
    return _is_run_context(next(iter(sig.parameters.values())).annotation)


@dataclasses.dataclass(frozen=True)
class _Entry:
    """One registered function as one step sees it, after its `prepare`."""

    registered: _Registered | SourceTool
    name: str
    kind: str
    """A `ToolDefinition.kind`: anything but "function" means code may not run it."""
    doc: str | None
    """The docstring to show, when it is not the function's own."""

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.name, self.kind, self.doc)


class _Registered:
    """One registered function: its name, the callable, whether it takes a RunContext."""

    def __init__(self, item: Any, name: str | None = None) -> None:
        self.tool: Tool[Any] | None
        if isinstance(item, Tool):
            tool = self.tool = typing.cast(Tool[Any], item)
            self.name: str = tool.name
            self.func: Callable[..., Any] = tool.function
            self.signature = _resolved_signature(self.func, self.name)
            self.takes_ctx: bool = tool.takes_ctx
            if not self.takes_ctx and _first_is_run_context(self.signature):
                raise UserError(
                    f"CodeToolset: {self.name!r} takes a RunContext first, but its Tool says takes_ctx=False"
                )
            self.is_async: bool = tool.function_schema.is_async
            # The tool's own description when it has one (given, or other than what the
            # docstring says); else the docstring, shown whole.
            derived = tool.function_schema.description
            self.doc: str | None = (
                tool.description
                if tool.description and (not self.func.__doc__ or tool.description != derived)
                else None
            )
            self.kind: str = tool.tool_def.kind
        elif callable(item):
            self.tool = None
            self.name = name if name is not None else getattr(item, "__name__", "")
            self.func = item
            self.signature = _resolved_signature(item, self.name)
            self.takes_ctx = _first_is_run_context(self.signature)
            self.is_async = inspect.iscoroutinefunction(item) or inspect.iscoroutinefunction(
                getattr(item, "__call__", None)  # noqa: B004 - async callable objects
            )
            self.doc = None
            self.kind = "function"
        else:
            raise TypeError(
                not_tasks(
                    item,
                    f"tasks: {item!r} is neither a callable, a pydantic-ai Tool or toolset, nor a "
                    "mapping of name to callable",
                )
            )
        self.static = _Entry(self, self.name, self.kind, self.doc)

    @property
    def prepared(self) -> bool:
        """Whether the tool has a `prepare`, so each step may see it differently."""
        return self.tool is not None and self.tool.prepare is not None

    async def entry(self, ctx: RunContext[Any]) -> _Entry | None:
        """How this step sees the function; None when its `prepare` hides it."""
        if self.tool is None or self.tool.prepare is None:
            return self.static
        tool_def = await self.tool.prepare_tool_def(tool_ctx(ctx, self.name))
        if tool_def is None:
            return None
        doc = self.doc
        if tool_def.description and tool_def.description != self.tool.description:
            doc = tool_def.description
        return _Entry(self, tool_def.name, tool_def.kind, doc)

    def host_callable(self, entry: _Entry) -> Callable[..., Any]:
        """What the sandbox calls for `entry`: the function, given the context of the
        run that calls it (`run_context`) when it takes one, behind the approval guard,
        named and documented for the stubs. Built once per entry, so the runner's
        template for these functions is built once too."""
        sig = self.signature
        if self.takes_ctx and sig is not None:
            sig = sig.replace(parameters=list(sig.parameters.values())[1:])
        doc = entry.doc or inspect.getdoc(self.func)
        if entry.kind in ("function", "unapproved"):
            func = self.func
            if self.takes_ctx:
                func = with_run_context(func, entry.name, self.is_async)
            wrapper = guarded(func, entry.name, self.is_async)
            rule = approval_rule(self.func)
            if entry.kind == "unapproved":  # every call waits for a person
                rule = ApprovalRule()
            elif rule is None and self.takes_ctx:  # it may raise ApprovalRequired itself
                rule = ApprovalRule(self_decides=True)
            if rule is not None:
                setattr(wrapper, APPROVAL_ATTR, rule)
        else:  # deferred: never called from code
            wrapper = refused(entry.name, entry.kind, self.is_async)
        if entry.kind != "function":
            if doc and '"""' in doc:  # the stub would drop the docstring, note and all
                doc = None
            note = catalog_note(entry.name, entry.kind)
            doc = f"{doc}\n\n{note}" if doc else note
        dress(wrapper, entry.name, doc, sig)
        return wrapper


class CodeToolset(FunctionToolset[Any]):
    """A pydantic-ai toolset with one tool, `run_code`.

    Args:
        tasks: what the code may call, in one list: callables, pydantic-ai `Tool`s,
            mappings of name to callable, and pydantic-ai toolsets (a
            `FunctionToolset`, an `MCPToolset`, filtered, prefixed, renamed,
            prepared or dynamic ones). A `Tool`'s `prepare` runs at every step; a
            toolset's tools are listed at every step through its own `get_tools`
            and called through its `call_tool` with arguments its validator
            checked, typed in the catalog from their schemas; a toolset is entered
            (an MCP server connects) for the agent run. A tool that needs approval,
            or is deferred, is listed but stops the run when the code calls it.
        stateful: keep variables and definitions from one `run_code` call to the next
            within an agent run; the tool then takes `restart=True` to start over.
        max_result_chars: results longer than this reach the model cut, with a marker.
        max_retries: how many times the model may retry a failing `run_code`.
        on_reply: called with every `ToolReply` (its run record, or error), for
            metrics and logging.
        error_channel: how an error the model can fix reaches it: "retry" (a
            `ModelRetry`, counted against `max_retries` by pydantic-ai), "result" (the
            tool's result, counted here), or "auto" (the default): "result" for OpenAI's
            models, whose adapter would JSON-encode a retry's text and so escape every
            line break of the numbered listing, "retry" for the others.
        on_event: called with each live event of every `run_code` run as it happens
            (`agent_tools.base.events`; on the run's thread: keep it quick). The same
            events also reach the agent's event stream as `RunCodeEvent`s, and each host
            call is an OpenTelemetry span under the `run_code` span while it runs.
        stream_events: False keeps the live events out of the agent's event stream
            (`on_event` and the spans still get them): for agents whose stream nobody
            reads, it saves pydantic-ai's handling of two events per host call.
        preflight: what checks the code before anything runs (see `CodeRunner`):
            "fast" (the default; tens of microseconds), "full" (adds Monty's type
            checker, a few to 25 ms a call) or "off". `type_check=True`/`False` is
            the older spelling of "full"/"off".
        timeout_ms, **template_options: as for `orchestrator_from_str`.

    Raises:
        UserError: a function's annotations do not resolve (a `RunContext` imported
            only under `if TYPE_CHECKING:`, say).
    """

    def __init__(
        self,
        tasks: Iterable[Any],
        *,
        stateful: bool = False,
        max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
        max_retries: int = 3,
        on_reply: Callable[[ToolReply], None] | None = None,
        on_event: EventSink | None = None,
        stream_events: bool = True,
        error_channel: ErrorChannel = "auto",
        **template_options: Any,
    ) -> None:
        if error_channel not in ("auto", "retry", "result"):
            raise ValueError(f"error_channel must be 'auto', 'retry' or 'result', got {error_channel!r}")
        self.error_channel: ErrorChannel = error_channel
        self._failures: dict[str, int] = {}
        self.on_reply = on_reply
        self.on_event = on_event
        self.stream_events = stream_events
        self._registered: list[_Registered] = []
        self._sources: list[ToolsetSource] = []
        if isinstance(tasks, (Mapping, AbstractToolset)):
            tasks = [tasks]  # one mapping or one toolset: a list of one
        elif isinstance(tasks, (str, bytes)) or not isinstance(tasks, Iterable):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(not_tasks(tasks, "CodeToolset: tasks must be a list"))
        for item in tasks:
            if isinstance(item, CodeToolset):
                raise TypeError("tasks: a CodeToolset cannot be a task of another CodeToolset")
            if isinstance(item, AbstractToolset):
                self._sources.append(ToolsetSource(typing.cast(AbstractToolset[Any], item)))
            elif isinstance(item, Mapping) and not isinstance(item, Tool):
                mapping = typing.cast(Mapping[Any, Any], item)
                self._registered += [_Registered(fn, name=str(name)) for name, fn in mapping.items()]
            else:
                self._registered.append(_Registered(item))
        self._lifecycle = asyncio.Lock()
        self._entered = 0
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self._static = [r.static for r in self._registered]
        self._built: dict[_Entry, Callable[..., Any]] = {}
        self.runner = CodeRunner(
            self._callables(self._static), max_result_chars=max_result_chars, **template_options
        )
        self.stateful = stateful
        self._states: dict[str, SessionState] = {}
        self._descriptions: dict[tuple[tuple[str, str, str | None, int], ...], str] = {}
        super().__init__(max_retries=max_retries)
        self._add_run_code()

    def _add_run_code(self) -> None:
        run_code = self._run_code_stateful if self.stateful else self._run_code
        prepare = self._prepare_run_code if self._per_step else None
        self.add_tool(
            Tool(
                run_code,
                name="run_code",
                description=self.runner.description(stateful=self.stateful),
                takes_ctx=True,
                prepare=prepare,
            )
        )

    async def for_run(self, ctx: RunContext[Any]) -> AbstractToolset[Any]:
        """This toolset for one agent run: an inner toolset that makes itself anew per
        run (a dynamic one) gets its run's instance; the rest is shared."""
        if not self._sources:
            return self
        toolsets = [await source.toolset.for_run(ctx) for source in self._sources]
        if all(new is source.toolset for new, source in zip(toolsets, self._sources, strict=True)):
            return self
        clone = copy.copy(self)
        clone._sources = [
            source if new is source.toolset else ToolsetSource(new)
            for new, source in zip(toolsets, self._sources, strict=True)
        ]
        clone._lifecycle, clone._entered, clone._exit_stack = asyncio.Lock(), 0, None
        clone.tools = {}
        clone._add_run_code()
        return clone

    async def for_run_step(self, ctx: RunContext[Any]) -> AbstractToolset[Any]:
        """Each step: an inner toolset may change itself (a dynamic one, per step)."""
        for source in self._sources:
            new = await source.toolset.for_run_step(ctx)
            if new is not source.toolset:
                source.toolset = new
        return self

    async def __aenter__(self) -> CodeToolset:
        """Enter the inner toolsets (MCP servers connect here) for the agent run; they
        stay open while any run that entered is under way."""
        async with self._lifecycle:
            if self._entered == 0 and self._sources:
                async with contextlib.AsyncExitStack() as stack:
                    for source in self._sources:
                        await stack.enter_async_context(source.toolset)
                    self._exit_stack = stack.pop_all()
            self._entered += 1
        return self

    async def __aexit__(self, *args: Any) -> bool | None:
        async with self._lifecycle:
            self._entered -= 1
            if self._entered == 0 and self._exit_stack is not None:
                stack, self._exit_stack = self._exit_stack, None
                await stack.aclose()
        return None

    @property
    def instructions_text(self) -> str:
        """A system prompt for code mode, if you want to add one to the agent."""
        return self.runner.system_prompt()

    @property
    def _per_step(self) -> bool:
        """Whether each step may see other functions: a `prepare`, or inner toolsets."""
        return bool(self._sources) or any(r.prepared for r in self._registered)

    async def _entries(self, ctx: RunContext[Any]) -> list[_Entry]:
        """The registered functions as this step sees them (each `prepare` run, each
        inner toolset listed); the inner toolsets' tool objects go to `step_tools`."""
        if not self._per_step:
            return self._static
        entries: list[_Entry] = []
        for registered in self._registered:
            entry = await registered.entry(ctx)
            if entry is not None:
                entries.append(entry)
        taken = {e.name for e in entries}  # and TAKEN_NAMES, which python_name keeps clear of
        listed: dict[tuple[int, str], ToolsetTool[Any]] = {}
        for source in self._sources:
            for made, tool in await source.listing(ctx):
                name = python_name(made.name, taken, TAKEN_NAMES)
                taken.add(name)
                entries.append(_Entry(made, name, tool.tool_def.kind, None))
                listed[(id(source), made.name)] = tool
        step_tools.set(listed)
        names: set[str] = set()
        for entry in entries:
            name = entry.name
            if not name.isidentifier() or keyword.iskeyword(name) or name in TAKEN_NAMES:
                why = " (a builtin of the sandbox, called instead)" if name in TAKEN_NAMES else ""
                raise UserError(
                    f"CodeToolset: prepare renamed {entry.registered.name!r} to {name!r}, "
                    f"not a usable name{why}"
                )
            if name in names:
                raise UserError(
                    f"CodeToolset: prepare renamed {entry.registered.name!r} to {name!r}, which is taken"
                )
            names.add(name)
        return entries

    def _callables(self, entries: list[_Entry]) -> dict[str, Callable[..., Any]]:
        out: dict[str, Callable[..., Any]] = {}
        for entry in entries:
            func = self._built.get(entry)
            if func is None:
                if len(self._built) >= _MAX_BUILT:
                    self._built.pop(next(iter(self._built)))
                func = self._built[entry] = entry.registered.host_callable(entry)
            out[entry.name] = func
        return out

    def _description(self, entries: list[_Entry]) -> str:
        key = tuple((*e.key, id(e.registered)) for e in entries)
        text = self._descriptions.get(key)
        if text is None:
            runner = self.runner
            text = run_code_description(
                register(self._callables(entries)),
                runner.config,
                stateful=self.stateful,
                catalog=runner.catalog_mode,
                budget=runner.catalog_budget,
            )
            if len(self._descriptions) >= _MAX_DESCRIPTIONS:
                self._descriptions.pop(next(iter(self._descriptions)))
            self._descriptions[key] = text
        return text

    async def _prepare_run_code(self, ctx: RunContext[Any], tool_def: ToolDefinition) -> ToolDefinition:
        """`run_code`'s own `prepare`: this step's catalog in its description."""
        return dataclasses.replace(tool_def, description=self._description(await self._entries(ctx)))

    def _state_for(self, ctx: RunContext[Any], restart: bool) -> SessionState:
        key = ctx.run_id or "default"
        state = self._states.get(key)
        if state is None:
            while len(self._states) >= _MAX_STATES:
                self._states.pop(next(iter(self._states)))
            state = self._states[key] = SessionState()
        if restart:
            state.restart()
        return state

    async def _run_code(self, ctx: RunContext[Any], code: str) -> str:
        """Run Python code in the sandbox; see the tool description.

        Args:
            code: Python source to run; the value of its last expression is the result.
        """
        return await self._execute(ctx, code, None)

    async def _run_code_stateful(self, ctx: RunContext[Any], code: str, restart: bool = False) -> str:
        """Run Python code in the sandbox; variables persist between calls unless `restart` is true.

        Args:
            code: Python source to run; the value of its last expression is the result.
            restart: True to forget every variable, function and import from earlier calls
                before running this code; false to keep them.
        """
        return await self._execute(ctx, code, self._state_for(ctx, restart))

    async def _execute(self, ctx: RunContext[Any], code: str, state: SessionState | None) -> str:
        tracer: Tracer = ctx.tracer
        steps = step_tools.set(None)
        functions = self._callables(await self._entries(ctx)) if self._per_step else None
        token = run_context.set(ctx)
        try:
            attributes = {"agent_tools.code": capped_code(code)}
            with tracer.start_as_current_span("run_code", attributes=attributes) as span:
                paused = self._paused_token(ctx, code)
                reply: ToolReply
                async with LiveEvents(ctx, tracer, span, self.on_event, stream=self.stream_events) as live:
                    events = live.sink
                    if paused is not None:  # the person decided on the call the code waits on
                        approve, reason = _decision(ctx.tool_call_metadata)
                        reply = await self.runner.aresume(
                            paused, approve=approve, reason=reason, functions=functions, on_event=events
                        )
                    else:
                        ref = _ref(ctx, code)
                        reply = await self.runner.arun(
                            code, state=state, functions=functions, ref=ref, on_event=events
                        )
                record = reply.record
                if record is not None:
                    ctx.usage.tool_calls += len(record.calls)
                    span.set_attribute("agent_tools.host_calls", len(record.calls))
                span.set_attribute("agent_tools.ok", reply.ok)
        finally:
            run_context.reset(token)
            step_tools.reset(steps)
        if self.on_reply is not None:
            self.on_reply(reply)
        if reply.pending is not None:
            raise ApprovalRequired(metadata=_pending_metadata(reply))
        key = ctx.run_id or "default"
        if not reply.ok:
            if self._channel(ctx) == "retry":
                raise ModelRetry(reply.text)
            # As the tool's result: real line breaks on a provider that would wrap a retry
            # in {"error": "..."} (escaping them); the retries are counted here instead.
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            limit = self.max_retries if self.max_retries is not None else 1
            if failures > limit:
                self._failures.pop(key, None)
                raise UnexpectedModelBehavior(f"Tool 'run_code' exceeded max retries count of {limit}")
            while len(self._failures) > _MAX_STATES:
                self._failures.pop(next(iter(self._failures)))
            return reply.text
        self._failures.pop(key, None)
        return reply.text

    def _channel(self, ctx: RunContext[Any]) -> str:
        """How a fixable error reaches the model: "retry" (`ModelRetry`, counted by
        pydantic-ai) or "result" (the tool's result). With "auto", "result" for OpenAI's
        models, whose adapter would send a retry as `{"error": "..."}` JSON, with every
        line break of the numbered listing escaped; "retry" for the others."""
        if self.error_channel != "auto":
            return self.error_channel
        return "result" if _wraps_errors(ctx.model) else "retry"

    def _paused_token(self, ctx: RunContext[Any], code: str) -> str | None:
        """The paused run this (approved) `run_code` call goes on with: the token in the
        metadata the caller passed back, else the run this very call (its conversation,
        its tool call id, its code) paused."""
        if not ctx.tool_call_approved:
            return None
        metadata = ctx.tool_call_metadata
        if isinstance(metadata, Mapping):
            token = typing.cast(Mapping[str, Any], metadata).get("token")
            if isinstance(token, str):
                return token
        ref = _ref(ctx, code)
        return None if ref is None else resolve_store(self.runner.approval_store).find(ref)

    @staticmethod
    def deny(reason: str | None = None) -> dict[str, Any]:
        """The metadata that denies the call a paused run waits on while letting the
        code go on: pass `approvals={call_id: True}` (True: run_code itself goes on)
        and `metadata={call_id: CodeToolset.deny("too large")}` in
        `DeferredToolResults`. The call then raises `PermissionError` with the reason
        in the code, which may handle it. (A plain `False` or `ToolDenied` is
        pydantic-ai's own denial: the model reads it and the paused run is dropped.)"""
        return {"approve": False, "reason": reason}


def _decision(metadata: Any) -> tuple[bool, str | None]:
    """Approve (the default) or deny, from the metadata the caller passed back."""
    if isinstance(metadata, Mapping):
        meta = typing.cast(Mapping[str, Any], metadata)
        approve = meta.get("approve", True)
        reason = meta.get("reason")
        return approve is not False, reason if isinstance(reason, str) else None
    return True, None


def _pending_metadata(reply: ToolReply) -> dict[str, Any]:
    """What `DeferredToolRequests.metadata` says of a paused `run_code` call: the
    call it waits on, and the calls the code already made."""
    pending = reply.pending
    assert pending is not None
    record = reply.record
    calls = record.calls if record is not None else []
    return {
        "token": pending.token,
        "function": pending.function,
        "args": list(pending.args),
        "kwargs": dict(pending.kwargs),
        "arguments": dict(pending.arguments),
        "call": pending.describe(),
        "line": pending.line,
        "code_line": pending.code_line,
        "expires_at": pending.expires_at,
        "calls_made": [
            {
                "function": c.function,
                "args": list(c.args),
                "kwargs": dict(c.kwargs),
                "ok": c.ok,
                "approval": c.approval,
            }
            for c in calls
        ],
    }


def _ref(ctx: RunContext[Any], code: str) -> str | None:
    """The key a paused `run_code` call is kept under: its conversation, its tool call
    id and its code, so that the approved call finds its own run (tool call ids alone
    repeat across conversations)."""
    if ctx.tool_call_id is None:
        return None
    digest = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{ctx.conversation_id or '-'}:{ctx.tool_call_id}:{digest}"


ErrorChannel = typing.Literal["auto", "retry", "result"]


def _wraps_errors(model: Any) -> bool:
    """Whether `model` (unwrapped from instrumentation, fallbacks and the like) is one of
    OpenAI's, whose adapter sends a failed tool call's text JSON-encoded."""
    seen = 0
    while model is not None and seen < 8:
        name = type(model).__name__
        if name in ("OpenAIChatModel", "OpenAIResponsesModel", "OpenAIModel") and type(
            model
        ).__module__.startswith("pydantic_ai.models.openai"):
            return True
        model = getattr(model, "wrapped", None)
        seen += 1
    return False
