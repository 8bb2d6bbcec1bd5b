"""`run_code` served as an MCP server: any MCP client gets code mode over the
registered functions.

    from agent_tools.adapters.mcp_server import build_server

    build_server([get_customer, list_orders]).run()  # stdio; or .run("streamable-http", port=8000)

The server (the official SDK's `MCPServer`) has one tool, `run_code(code)` (and
`run_code(code, restart=False)` when `stateful`), whose description is what every
adapter gives the model: the catalog of typed stubs and the capability sheet
(`CodeRunner.description()`). Each call runs the code with a `CodeRunner`:

- The result comes back as text, the compact JSON `{"result": ...}` (with
  `"printed"` when the code printed); an error the model can fix comes back as a
  tool error (`isError`) whose text is the numbered code with the failing line
  marked, a hint and the host calls already made. An error it cannot fix (a
  `FatalToolError` raised by a registered function, a `SecretError`) is a tool
  error too, with its message; the server goes on serving.
- While the code runs, each host call started and finished is sent as a progress
  notification (when the client asked for progress) and as a log message; what the
  code prints and a limit it hits are logged too. Every notification of a call is
  sent before its response.
- A client that cancels the request (`notifications/cancelled`) stops the run: its
  worker is killed and its later host calls refused. The next call works as usual.
- A call that needs a person's approval (`requires_approval`) pauses the run; the
  server asks the person through the client (MCP elicitation: "approve
  refund(order_id=7, amount=120.0)?") and goes on. A client that cannot ask (no
  elicitation capability), a person who declines or cancels, or no answer within
  `approval_timeout` seconds: the call is refused, and the code gets a
  `PermissionError` at it.
- `stateful=True` keeps the sandbox's variables from one call to the next, per MCP
  session (a stdio connection, or one streamable-HTTP session), with
  `restart=True` to forget them. Requests on the 2026-07-28 protocol carry no
  session: each such call starts afresh.

It needs the official MCP SDK: `pip install 'agent-tools[mcp]'`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import anyio
from mcp.server.elicitation import AcceptedElicitation
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.types import CallToolResult, ClientCapabilities, ElicitationCapability, TextContent
from pydantic import BaseModel, Field

from agent_tools.base.approval import ApprovalTokenError, PendingApproval
from agent_tools.base.config import SandboxedConfig, Secret
from agent_tools.base.errors import FatalToolError, SecretError, format_call, short_repr
from agent_tools.base.events import CallFinished, CallStarted, LimitHit, Paused, Printed, RunEvent
from agent_tools.task.state import SessionState
from agent_tools.tool.code_runner import CodeRunner, Preflight, ToolReply

__all__ = ["CANNOT_ASK", "TOOL_NAME", "Approval", "build_server"]

TOOL_NAME = "run_code"
CANNOT_ASK = "the MCP client cannot ask a person"
"""The reason a call needing approval is refused when the client has no elicitation."""
LOGGER_NAME = "agent-tools"
"""The `logger` of the log messages the server sends while code runs."""

_CODE_DOC = "Python source to run; the value of its last expression is the result."
_RESTART_DOC = (
    "True to forget every variable, function and import from earlier calls before running this code; "
    "false to keep them."
)
_MESSAGE_CHARS = 300
_PREFLIGHTS: tuple[Preflight, ...] = ("fast", "full", "off")

_log = logging.getLogger(__name__)

# The run's log messages are sent on purpose (see `_Relay._send`): no warning on the
# server's stderr for each.
warnings.filterwarnings(
    "ignore", message="The logging capability is deprecated", category=MCPDeprecationWarning, module=__name__
)


class Approval(BaseModel):
    """What the server asks the person (MCP elicitation) when a call needs approval."""

    approve: bool = Field(description="true to let this call run now, false to refuse it")


# ---------------------------------------------------------------------------
# Live events: from the run's thread to the client, in order


def _cut(text: str) -> str:
    return (
        text
        if len(text) <= _MESSAGE_CHARS
        else f"{text[:_MESSAGE_CHARS]}... ({len(text) - _MESSAGE_CHARS} more chars)"
    )


def _call_message(event: CallStarted | CallFinished) -> str:
    n = event.index + 1
    if isinstance(event, CallStarted):
        return f"call {n}: {format_call(event.function, event.args, event.kwargs)}"
    if event.ok:
        return f"call {n} done: {event.function} -> {short_repr(event.result, _MESSAGE_CHARS)}"
    return f"call {n} failed: {event.function} raised {event.error}"


class _Relay:
    """Takes a run's live events on whatever thread they happen (`sink`), hands each to
    the server's loop in order, and sends them to the client from there: a progress
    notification per host call started or finished, a log message per event worth
    telling. `drain()` waits until every event handed over so far is sent."""

    def __init__(self, ctx: Context[Any, Any]) -> None:
        self._ctx = ctx
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
        self._progress = 0
        self._task: asyncio.Task[None] | None = None

    def sink(self, event: RunEvent) -> None:
        """The run's listener: called on the run's thread (or a `parallel_map` lane)."""
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody to tell
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._consume())

    async def drain(self) -> None:
        """Send what is queued, then stop. The events a finished run emitted are all
        queued by then: each was handed to the loop before the run's result was."""
        self._queue.put_nowait(None)
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _consume(self) -> None:
        while (event := await self._queue.get()) is not None:
            try:
                await self._send(event)
            except Exception:  # a notification that cannot be sent never fails the run
                _log.debug("could not send a run event to the client", exc_info=True)

    async def _send(self, event: RunEvent) -> None:
        level: Literal["info", "warning"] = "info"
        if isinstance(event, CallStarted | CallFinished):
            message = _call_message(event)
            self._progress += 1
            await self._ctx.report_progress(self._progress, None, message)
            if isinstance(event, CallFinished) and not event.ok:
                level = "warning"
        elif isinstance(event, Printed):
            message = f"printed: {_cut(event.text.rstrip())}"
        elif isinstance(event, LimitHit):
            message, level = f"limit hit: {event.limit}: {event.message}", "warning"
        elif isinstance(event, Paused):
            call = format_call(event.function, (), event.arguments)
            message = f"waiting for a person to approve {call} (line {event.line})"
        else:
            return
        # Logging is deprecated by the 2026-07-28 protocol (which drops what the client
        # did not opt in to), and what clients of the 2025 handshake show while a tool runs.
        await self._ctx.request_context.session.send_log_message(  # pyright: ignore[reportDeprecated]
            level, message, logger=LOGGER_NAME, related_request_id=self._ctx.request_context.request_id
        )


@contextlib.asynccontextmanager
async def _relayed(ctx: Context[Any, Any]) -> AsyncGenerator[_Relay]:
    relay = _Relay(ctx)
    relay.start()
    try:
        yield relay
    except BaseException:  # cancelled (or a bug): what is still queued is dropped
        await relay.stop()
        raise
    await relay.drain()


# ---------------------------------------------------------------------------
# The server


def _text(text: str, *, error: bool) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=error)


@dataclass
class _Session:
    """What one MCP session keeps when the server is stateful."""

    state: SessionState = field(default_factory=SessionState)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """One run at a time on the session's state."""


class _CodeServer:
    def __init__(self, runner: CodeRunner, approval_timeout: float) -> None:
        self.runner = runner
        self.approval_timeout = approval_timeout
        self._sessions: dict[object, _Session] = {}

    # -- sessions -----------------------------------------------------------------------

    def session(self, ctx: Context[Any, Any]) -> _Session:
        """The state of the MCP session `ctx` belongs to. A session is the SDK's
        `Connection` (one per stdio connection or streamable-HTTP session); its state is
        dropped when it closes."""
        connection: object = getattr(ctx.session, "_connection", None)  # no public accessor in mcp 2.3
        if connection is None:
            _log.warning(
                "this MCP SDK gives no connection to keep a session's state in: the call starts afresh"
            )
            return _Session()
        found = self._sessions.get(connection)
        if found is None:
            found = self._sessions[connection] = _Session()
            exit_stack = getattr(connection, "exit_stack", None)
            if isinstance(exit_stack, contextlib.AsyncExitStack):
                exit_stack.callback(self._sessions.pop, connection, None)
        return found

    # -- approvals ----------------------------------------------------------------------

    def _can_ask(self, ctx: Context[Any, Any]) -> bool:
        session = ctx.session
        wanted = ClientCapabilities(elicitation=ElicitationCapability())
        return session.can_send_request and session.check_client_capability(wanted)

    async def decide(self, ctx: Context[Any, Any], pending: PendingApproval) -> tuple[bool, str | None]:
        """Ask the person, through the client, whether the call `pending` waits on may
        run: (approved, the reason the code reads when refused)."""
        if not self._can_ask(ctx):
            return False, CANNOT_ASK
        try:
            with anyio.fail_after(self.approval_timeout):
                answer = await ctx.elicit(message=f"approve {pending.describe()}?", schema=Approval)
        except TimeoutError:
            return False, f"nobody answered within {self.approval_timeout:g} seconds"
        except Exception as exc:  # the client failed to ask: nobody approved
            _log.info("elicitation failed: %r", exc)
            return False, f"{CANNOT_ASK} ({type(exc).__name__}: {exc})"
        if isinstance(answer, AcceptedElicitation):
            if answer.data.approve:
                return True, None
            return False, "the person did not approve it"
        return False, ("the person declined" if answer.action == "decline" else "the person cancelled")

    # -- the tool -----------------------------------------------------------------------

    async def run(self, ctx: Context[Any, Any], code: str, session: _Session | None) -> CallToolResult:
        state = session.state if session is not None else None
        async with _relayed(ctx) as relay:  # its events are all sent before the answer
            try:
                reply: ToolReply = await self.runner.arun(code, state=state, on_event=relay.sink)
                while reply.pending is not None:
                    approve, reason = await self.decide(ctx, reply.pending)
                    reply = await self.runner.aresume(
                        reply.pending.token, approve=approve, reason=reason, on_event=relay.sink
                    )
            except (FatalToolError, SecretError, ApprovalTokenError) as exc:  # the model cannot fix these
                return _text(f"{type(exc).__name__}: {exc}", error=True)
        return _text(reply.text, error=not reply.ok)

    async def run_stateless(self, ctx: Context[Any, Any], code: str) -> CallToolResult:
        return await self.run(ctx, code, None)

    async def run_stateful(self, ctx: Context[Any, Any], code: str, restart: bool) -> CallToolResult:
        session = self.session(ctx)
        async with session.lock:
            if restart:
                session.state.restart()
            return await self.run(ctx, code, session)


def _stateless_tool(served: _CodeServer) -> Callable[..., Awaitable[CallToolResult]]:
    async def run_code(
        code: Annotated[str, Field(description=_CODE_DOC)], ctx: Context[Any, Any]
    ) -> CallToolResult:
        return await served.run_stateless(ctx, code)

    return run_code


def _stateful_tool(served: _CodeServer) -> Callable[..., Awaitable[CallToolResult]]:
    async def run_code(
        code: Annotated[str, Field(description=_CODE_DOC)],
        ctx: Context[Any, Any],
        restart: Annotated[bool, Field(description=_RESTART_DOC)] = False,
    ) -> CallToolResult:
        return await served.run_stateful(ctx, code, restart)

    return run_code


def _runner(
    functions: Iterable[Callable[..., Any]] | Mapping[str, Callable[..., Any]],
    *,
    timeout_ms: int,
    preflight: Preflight,
    max_memory: int | None,
    secrets: Sequence[str | Secret],
    options: Mapping[str, Any],
) -> CodeRunner:
    extra = dict(options)
    if secrets:
        extra["secrets"] = [s if isinstance(s, Secret) else Secret(key=s, as_env_var=s) for s in secrets]
    if max_memory is None:
        return CodeRunner(functions, preflight=preflight, timeout_ms=timeout_ms, **extra)
    if preflight not in _PREFLIGHTS:
        raise ValueError(f"preflight must be one of {', '.join(map(repr, _PREFLIGHTS))}, got {preflight!r}")
    config = SandboxedConfig(
        timeout_ms=timeout_ms,
        max_memory=max_memory,
        type_check=preflight == "full",
        preflight=preflight != "off",
    )
    return CodeRunner(functions, plugin_config=config, **extra)


def build_server(
    functions: Iterable[Callable[..., Any]] | Mapping[str, Callable[..., Any]],
    *,
    stateful: bool = False,
    timeout_ms: int = 30_000,
    preflight: Preflight = "fast",
    max_memory: int | None = None,
    secrets: Sequence[str | Secret] = (),
    approval_timeout: float = 600.0,
    name: str = "agent-tools",
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING",
    **runner_options: Any,
) -> MCPServer:
    """An MCP server whose one tool, `run_code`, runs code calling `functions`.

    Args:
        functions: what the code may call (callables, or a mapping of name to callable),
            as `CodeRunner` takes them.
        stateful: keep variables between calls of one MCP session; `run_code` then takes
            `restart=True` to forget them.
        timeout_ms, max_memory: the sandbox's limits (None: `SandboxedConfig`'s default).
        preflight: the check before the code runs (see `CodeRunner`).
        secrets: environment variables the code may read with `os.getenv` (a name is
            read from the variable of that name), redacted from everything it returns.
        approval_timeout: seconds to wait for a person's answer before refusing a call.
        name: the server's name, as clients show it.
        log_level: the level of the SDK's own log on stderr.
        runner_options: further `CodeRunner` options (`max_result_chars`, template
            options such as `env_vars`).
    """
    runner = _runner(
        functions,
        timeout_ms=timeout_ms,
        preflight=preflight,
        max_memory=max_memory,
        secrets=secrets,
        options=runner_options,
    )
    served = _CodeServer(runner, approval_timeout)
    server = MCPServer(name, instructions=runner.system_prompt(), log_level=log_level)

    tool = _stateful_tool(served) if stateful else _stateless_tool(served)
    server.add_tool(
        tool, name=TOOL_NAME, description=runner.description(stateful=stateful), structured_output=False
    )
    return server
