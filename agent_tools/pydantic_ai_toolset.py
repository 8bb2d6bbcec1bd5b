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
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.trace import Tracer
from pydantic_ai import RunContext, Tool
from pydantic_ai.exceptions import ModelRetry
from pydantic_ai.toolsets import FunctionToolset

from .code_tool import DEFAULT_MAX_RESULT_CHARS, CodeRunner, ToolReply
from .record import RunRecord
from .state import SessionState

__all__ = ["CodeToolset"]

_MAX_STATES = 64


def _takes_ctx(func: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(func).parameters.values())
        hints = typing.get_type_hints(func)
    except (TypeError, ValueError, NameError):
        return False
    if not params:
        return False
    annotation = hints.get(params[0].name, params[0].annotation)
    return annotation is RunContext or typing.get_origin(annotation) is RunContext


def _bind_ctx(func: Callable[..., Any], name: str, ctx: RunContext[Any] | None) -> Callable[..., Any]:
    """`func` with its leading `RunContext` parameter filled in and hidden, keeping
    the name, docstring and the rest of the signature for the catalog."""
    sig = inspect.signature(func)
    rest = list(sig.parameters.values())[1:]
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def bound_async(*args: Any, **kwargs: Any) -> Any:
            return await func(ctx, *args, **kwargs)

        bound: Callable[..., Any] = bound_async
    else:

        @functools.wraps(func)
        def bound_sync(*args: Any, **kwargs: Any) -> Any:
            return func(ctx, *args, **kwargs)

        bound = bound_sync
    ctx_name = next(iter(sig.parameters))
    bound.__name__ = name
    bound.__signature__ = sig.replace(parameters=rest)  # type: ignore[attr-defined]
    bound.__annotations__ = {k: v for k, v in typing.get_type_hints(func).items() if k != ctx_name}
    return bound


class _Registered:
    """One registered function: its name, the callable, whether it takes a RunContext."""

    def __init__(self, item: Any) -> None:
        if isinstance(item, Tool):
            tool = typing.cast(Tool[Any], item)
            self.name: str = tool.name
            self.func: Callable[..., Any] = tool.function
            self.takes_ctx: bool = tool.takes_ctx
            if tool.description and not self.func.__doc__:
                self.description: str | None = tool.description
            else:
                self.description = None
        elif callable(item):
            self.name = getattr(item, "__name__", "")
            self.func = item
            self.takes_ctx = _takes_ctx(item)
            self.description = None
        else:
            raise TypeError(f"tasks: {item!r} is neither a callable nor a pydantic-ai Tool")

    def for_run(self, ctx: RunContext[Any] | None) -> Callable[..., Any]:
        if not self.takes_ctx:
            func = self.func
            if func.__name__ != self.name:
                func = _renamed(func, self.name)
            return func
        bound = _bind_ctx(self.func, self.name, ctx)
        if self.description:
            bound.__doc__ = self.description
        return bound


def _renamed(func: Callable[..., Any], name: str) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def renamed_async(*args: Any, **kwargs: Any) -> Any:
            return await func(*args, **kwargs)

        renamed_async.__name__ = name
        return renamed_async

    @functools.wraps(func)
    def renamed(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    renamed.__name__ = name
    return renamed


class CodeToolset(FunctionToolset[Any]):
    """A pydantic-ai toolset with one tool, `run_code`.

    Args:
        tasks: the functions the code may call (callables or pydantic-ai `Tool`s).
        stateful: keep variables and definitions from one `run_code` call to the next
            within an agent run; the tool then takes `restart=True` to start over.
        max_result_chars: results longer than this reach the model cut, with a marker.
        max_retries: how many times the model may retry a failing `run_code`.
        on_reply: called with every `ToolReply` (its run record, or error), for
            metrics and logging.
        type_check, timeout_ms, **template_options: as for `orchestrator_from_str`
            (the type check is on by default here: it stops a wrong call before any
            function has run, and costs a few ms against a model's seconds).
    """

    def __init__(
        self,
        tasks: Iterable[Any],
        *,
        stateful: bool = False,
        max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
        max_retries: int = 3,
        on_reply: Callable[[ToolReply], None] | None = None,
        **template_options: Any,
    ) -> None:
        self.on_reply = on_reply
        self._registered = [_Registered(item) for item in tasks]
        catalog_functions = {r.name: r.for_run(None) for r in self._registered}
        self.runner = CodeRunner(catalog_functions, max_result_chars=max_result_chars, **template_options)
        self.stateful = stateful
        self._states: dict[str, SessionState] = {}
        super().__init__(max_retries=max_retries)
        run_code = self._run_code_stateful if stateful else self._run_code
        self.add_tool(Tool(run_code, name="run_code", description=self.runner.description(), takes_ctx=True))

    @property
    def instructions_text(self) -> str:
        """A system prompt for code mode, if you want to add one to the agent."""
        return self.runner.system_prompt()

    def _functions_for(self, ctx: RunContext[Any]) -> dict[str, Callable[..., Any]]:
        return {r.name: r.for_run(ctx) for r in self._registered}

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
        """Run Python code in the sandbox; see the tool description."""
        return await self._execute(ctx, code, None)

    async def _run_code_stateful(self, ctx: RunContext[Any], code: str, restart: bool = False) -> str:
        """Run Python code in the sandbox; variables persist between calls unless `restart` is true."""
        return await self._execute(ctx, code, self._state_for(ctx, restart))

    async def _execute(self, ctx: RunContext[Any], code: str, state: SessionState | None) -> str:
        tracer: Tracer = ctx.tracer
        with tracer.start_as_current_span("run_code", attributes={"agent_tools.code": code}) as span:
            reply: ToolReply = await self.runner.arun(code, state=state, functions=self._functions_for(ctx))
            record = reply.record
            if record is not None:
                ctx.usage.tool_calls += len(record.calls)
                _host_call_spans(tracer, record)
                span.set_attribute("agent_tools.host_calls", len(record.calls))
            span.set_attribute("agent_tools.ok", reply.ok)
        if self.on_reply is not None:
            self.on_reply(reply)
        if not reply.ok:
            raise ModelRetry(reply.text)
        return reply.text


def _host_call_spans(tracer: Tracer, record: RunRecord) -> None:
    """One child span per host call, placed at the time it ran."""
    for call in record.calls:
        end = call.started_ns + int(call.duration * 1e9)
        span = tracer.start_span(
            f"host call {call.function}",
            start_time=call.started_ns,
            attributes={"agent_tools.function": call.function, "agent_tools.ok": call.ok},
        )
        span.end(end_time=end)
