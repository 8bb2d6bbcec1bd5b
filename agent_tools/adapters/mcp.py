"""Code mode over an MCP server: its tools as functions the sandboxed code calls.

    from agent_tools import CodeRunner
    from agent_tools.mcp import connect

    with connect("python -m agent_tools.demo.mcp_server") as functions:
        runner = CodeRunner(functions)
        ...

`connect(server)` takes a command (a string, split like a shell would, or a list:
the stdio transport) or an `http(s)://` URL (streamable HTTP). Entered with `with`
or `async with`, it is a list of async functions, one per tool, usable wherever
`tasks=` is: each has the tool's name as a Python name, a signature and
annotations built from its input and output schemas, and its description as
docstring. It needs the official MCP SDK: `pip install 'agent-tools[mcp]'`.

What a call returns: the tool's structured content (its declared shape; the
`{"result": ...}` wrapper FastMCP/MCPServer puts around a value that is not an
object is taken off); else a single text content as a string (decoded from JSON
when the tool declares an output schema); an image, audio or resource content as
a dict (`{"type": "image", "mimeType": "image/png", "data": <base64 str>}`); several
contents as a list of those; no content as None. A result flagged `isError`
raises `MCPToolError` at the call line (the code may catch it; uncaught, the run
fails with `HostFunctionError`).

The connection lives on one background thread with its own event loop, started
by entering `connect` and stopped on exit: an MCP client session belongs to the
task that opened it, while the sandbox calls registered async functions from
whichever loop runs the template (the caller's, or a per-thread loop for a
synchronous run). Each function hands its call to that thread's loop and waits
for the answer, so the functions work from any loop and any thread, and calls
made concurrently (`parallel_map`) are in flight together on the one session. A
sandboxed run calls the tools' blocking twins (`BLOCKING`) from its own thread, and
a colocated run pins the connection's thread to its CPU as well (`SERVED_BY`).
If the server dies (or an HTTP server goes away), the call that was in flight
raises `MCPConnectionError` and the next call starts the server again (or
reconnects).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import re
import shlex
import sys
import threading
import typing
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from agent_tools.base.approval import APPROVAL_ATTR, ApprovalRequest, ApprovalRule
from agent_tools.sandbox.affinity import keeping_mask, starting_children
from agent_tools.sandbox.eager import LoopCall
from agent_tools.sandbox.functions import BLOCKING, SERVED_BY, TAKEN_NAMES
from agent_tools.sandbox.schema import PARAM_DOCS, SchemaSignature, python_name, signature_from_schema

if TYPE_CHECKING:
    from mcp import ClientSession
    from mcp.types import CallToolResult, ContentBlock, Tool

__all__ = ["MCPConnection", "MCPConnectionError", "MCPToolError", "connect", "read_only"]

INSTALL_HINT = "pip install 'agent-tools[mcp]'"
OPEN_TIMEOUT = 30.0
"""Seconds to start (or reach) the server and list its tools."""
_PING_TIMEOUT = 2.0
_CLOSE_TIMEOUT = 10.0


class MCPToolError(RuntimeError):
    """An MCP tool answered with `isError`: its text is the message."""

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(message)
        self.tool = tool


class MCPConnectionError(ConnectionError):
    """The MCP server could not be started or reached, or went away during a call."""


# ---------------------------------------------------------------------------
# Which server


@dataclass(frozen=True)
class _Server:
    command: list[str] | None = None
    url: str | None = None
    env: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    cwd: str | None = None
    label: str = ""


def _parse_server(
    server: str | Sequence[str],
    env: Mapping[str, str] | None,
    headers: Mapping[str, str] | None,
    cwd: str | os.PathLike[str] | None,
) -> _Server:
    if isinstance(server, str):
        text = server.strip()
        if re.match(r"(?i)https?://", text):
            if env is not None or cwd is not None:
                raise ValueError(f"connect({text!r}): env= and cwd= apply to a server command, not a URL")
            return _Server(url=text, headers=dict(headers or {}), label=text)
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            raise ValueError(f"connect({server!r}): cannot split the command: {exc}") from None
    elif isinstance(server, Sequence):  # pyright: ignore[reportUnnecessaryIsInstance]
        argv = [os.fspath(part) for part in server]
    else:
        raise TypeError(f"connect: server must be a command or a URL, got {type(server).__name__}")
    if not argv:
        raise ValueError("connect: the server command is empty")
    if headers is not None:
        raise ValueError(f"connect({shlex.join(argv)!r}): headers= apply to an http(s):// URL, not a command")
    label = shlex.join(argv)
    if argv[0] in ("python", "python3"):  # the interpreter running this code, as `python -m` means here
        argv = [sys.executable, *argv[1:]]
    return _Server(
        command=argv,
        env=None if env is None else dict(env),
        cwd=None if cwd is None else os.fspath(cwd),
        label=label,
    )


def _errlog() -> TextIO:
    """Where the server's stderr goes: ours, if it is a real file (under pytest's
    capture `sys.stderr` is not)."""
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.fileno()
                return stream
        except (OSError, ValueError, AttributeError):
            continue
    return open(os.devnull, "w")  # lives as long as the process


def _import_mcp() -> None:
    try:
        import mcp  # noqa: F401  # pyright: ignore[reportUnusedImport]
    except ImportError as exc:
        raise ImportError(f"agent_tools.mcp needs the MCP SDK: {INSTALL_HINT}") from exc


# ---------------------------------------------------------------------------
# The connection thread


@dataclass
class _Held:
    """One open session and what keeps it open."""

    session: ClientSession
    stop: asyncio.Event
    task: asyncio.Task[None]
    tools: list[Tool] = field(default_factory=list["Tool"])


class _Link:
    """The session's own thread and event loop. Everything touching the session runs
    there; `submit` is the only way in from other threads."""

    def __init__(self, server: _Server, timeout: float) -> None:
        self.server = server
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=f"agent-tools-mcp {server.label}", daemon=True)
        self.closed = False
        self._held: _Held | None = None
        self._opening: asyncio.Lock | None = None  # made on the loop

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        # Threads the loop starts (name lookups for HTTP, say) take this thread's mask
        # as it is now: never a colocated run's pin.
        self.loop.set_default_executor(
            concurrent.futures.ThreadPoolExecutor(
                thread_name_prefix="agent-tools-mcp-io", initializer=keeping_mask()
            )
        )
        try:
            self.loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def start(self) -> None:
        self.thread.start()

    def thread_ids(self) -> tuple[int, ...]:
        """The native id of the thread doing the calls' work (`SERVED_BY`: a colocated
        run pins it with its own round trip), none once closed."""
        native = self.thread.native_id
        return () if native is None or self.closed or not self.thread.is_alive() else (native,)

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        self._check_open(coro)
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def wait(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run `coro` on the session's loop and wait for it here (a thread that may
        block: the sandbox's): one hop there, one back (see `LoopCall`)."""
        self._check_open(coro)
        return LoopCall(coro, self.loop).result()

    def _check_open(self, coro: Coroutine[Any, Any, Any]) -> None:
        if self.closed:
            coro.close()
            raise MCPConnectionError(f"the connection to the MCP server {self.server.label} is closed")

    # -- on the loop -------------------------------------------------------------------------

    async def session(self) -> _Held:
        held = self._held
        if held is not None and not held.task.done():
            return held
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            held = self._held
            if held is not None and not held.task.done():
                return held
            self._held = None
            self._held = await self._open()
            return self._held

    async def _open(self) -> _Held:
        ready: asyncio.Future[_Held] = self.loop.create_future()
        stop = asyncio.Event()
        task = self.loop.create_task(self._hold(ready, stop))
        try:
            return await asyncio.wait_for(asyncio.shield(ready), self.timeout)
        except TimeoutError:
            stop.set()
            task.cancel()
            raise MCPConnectionError(
                f"the MCP server {self.server.label} did not answer within {self.timeout:g} s"
            ) from None
        except MCPConnectionError:
            raise
        except Exception as exc:
            raise MCPConnectionError(self._cannot(exc)) from exc

    def _cannot(self, exc: BaseException) -> str:
        doing = "reach" if self.server.url else "start"
        detail = _describe(exc)
        return f"cannot {doing} the MCP server {self.server.label}: {detail}"

    async def _hold(self, ready: asyncio.Future[_Held], stop: asyncio.Event) -> None:
        """Open the transport and the session, report them on `ready`, keep them open
        until `stop` is set or the session fails. One task enters and exits every
        context (anyio's cancel scopes require it)."""
        from mcp import ClientSession

        session: ClientSession | None = None
        try:
            async with contextlib.AsyncExitStack() as stack:
                with starting_children():  # the server process, and any thread, never pinned
                    read, write = await stack.enter_async_context(self._transport())
                    session = await stack.enter_async_context(ClientSession(read, write))
                    await session.initialize()
                tools = await _list_tools(session)
                task = asyncio.current_task()
                assert task is not None
                if not ready.done():
                    ready.set_result(_Held(session, stop, task, tools))
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                if isinstance(exc, asyncio.CancelledError):
                    ready.cancel()
                else:
                    ready.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

    def _transport(self) -> contextlib.AbstractAsyncContextManager[Any]:
        server = self.server
        if server.url is not None:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            @contextlib.asynccontextmanager
            async def http() -> AsyncGenerator[Any]:
                timeout = httpx2.Timeout(30.0, read=300.0)
                async with (
                    httpx2.AsyncClient(headers=server.headers or None, timeout=timeout) as client,
                    streamable_http_client(server.url or "", http_client=client) as streams,
                ):
                    yield streams

            return http()
        from mcp import StdioServerParameters, stdio_client

        assert server.command is not None
        params = StdioServerParameters(
            command=server.command[0], args=server.command[1:], env=server.env, cwd=server.cwd
        )
        return stdio_client(params, errlog=_errlog())

    async def call(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        held = await self.session()
        try:
            return await held.session.call_tool(name, arguments)
        except Exception as exc:
            if await self._alive(held):
                raise
            await self._drop(held)
            raise MCPConnectionError(
                f"the MCP server {self.server.label} went away during the call to {name!r} "
                f"({_describe(exc)}); the next call reconnects"
            ) from exc

    async def _alive(self, held: _Held) -> bool:
        if held.task.done():
            return False
        try:
            await asyncio.wait_for(held.session.send_ping(), _PING_TIMEOUT)
        except Exception:
            return False
        return True

    async def _drop(self, held: _Held) -> None:
        if self._held is held:
            self._held = None
        held.stop.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(held.task, _CLOSE_TIMEOUT)

    async def first_open(self) -> list[Tool]:
        return (await self.session()).tools

    async def shutdown(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            await self._drop(held)
        current = asyncio.current_task()
        others = [t for t in asyncio.all_tasks(self.loop) if t is not current]
        for task in others:
            task.cancel()
        if others:
            await asyncio.wait(others, timeout=_CLOSE_TIMEOUT)

    # -- from any other thread ---------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self.shutdown(), self.loop)
            with contextlib.suppress(BaseException):
                future.result(_CLOSE_TIMEOUT + 5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(_CLOSE_TIMEOUT)


def _describe(exc: BaseException) -> str:
    """An exception (or an anyio exception group) as one line."""
    leaves: list[BaseException] = [exc]
    while len(leaves) == 1 and isinstance(leaves[0], BaseExceptionGroup):
        leaves = list(leaves[0].exceptions)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    return "; ".join(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__ for e in leaves)


async def _list_tools(session: ClientSession) -> list[Tool]:
    from mcp.types import PaginatedRequestParams

    result = await session.list_tools()
    tools = list(result.tools)
    while result.next_cursor:
        result = await session.list_tools(params=PaginatedRequestParams(cursor=result.next_cursor))
        tools += result.tools
    return tools


# ---------------------------------------------------------------------------
# Tools as functions


def _wrapped(output_schema: Mapping[str, Any] | None) -> bool:
    """Whether the output schema is the `{"result": value}` wrapper the MCP SDK puts
    around a value that is not an object (the rule `signature_from_schema` follows for
    the return annotation: the code gets the value inside)."""
    if not output_schema:
        return False
    props = output_schema.get("properties")
    return (
        isinstance(props, Mapping)
        and "result" in props
        and (len(props) == 1 or bool(output_schema.get("x-fastmcp-wrap-result")))  # pyright: ignore[reportUnknownArgumentType]
    )


def _doc(tool: Tool, name: str) -> str:
    text = (tool.description or "").strip() or f"The MCP tool {tool.name!r}."
    if name != tool.name:
        text += f"\n\n(The MCP tool {tool.name!r}.)"
    return text


def _content(block: ContentBlock, json_text: bool) -> Any:
    from mcp.types import TextContent

    if isinstance(block, TextContent):
        if json_text:
            with contextlib.suppress(ValueError):
                return json.loads(block.text)
        return block.text
    dumped: dict[str, Any] = block.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def _error_text(result: CallToolResult) -> str:
    from mcp.types import TextContent

    texts = [b.text for b in result.content if isinstance(b, TextContent)]
    return "\n".join(t for t in texts if t) or "the tool reported an error"


def tool_result(tool: Tool, result: CallToolResult, *, wrapped: bool | None = None) -> Any:
    """A `CallToolResult` as the value the code receives (see the module's docstring),
    or `MCPToolError` for an `isError` result."""
    if result.is_error:
        raise MCPToolError(tool.name, _error_text(result))
    if wrapped is None:
        wrapped = _wrapped(tool.output_schema)
    if result.structured_content is not None or "structured_content" in result.model_fields_set:
        value: Any = result.structured_content
        if wrapped and isinstance(value, dict) and list(typing.cast(dict[str, Any], value)) == ["result"]:
            return typing.cast(dict[str, Any], value)["result"]
        return typing.cast(Any, value)
    values = [_content(b, json_text=tool.output_schema is not None) for b in result.content]
    if not values:
        return None
    return values[0] if len(values) == 1 else values


ApprovalChoice = bool | Callable[["Tool"], "bool | Callable[[ApprovalRequest], bool] | None"] | None
"""`connect(requires_approval=...)`: True (every tool), a function of the MCP tool
saying whether its calls need approval (or returning a per-call predicate), or None."""


def read_only(tool: Tool) -> bool:
    """Whether the server declares `tool` read-only (its `readOnlyHint` annotation)."""
    hints = tool.annotations
    return bool(hints is not None and hints.read_only_hint)


def _approval_for(tool: Tool, choice: ApprovalChoice) -> ApprovalRule | None:
    if choice is None or choice is False:
        return None
    if choice is True:
        return ApprovalRule()
    picked = choice(tool)
    if picked is None or picked is False:
        return None
    if picked is True:
        return ApprovalRule()
    if callable(picked):
        return ApprovalRule(picked)
    raise TypeError(
        f"requires_approval({tool.name!r}) returned {picked!r}: expected True, False, None or a "
        "predicate taking the call"
    )


def _tool_function(
    link: _Link, tool: Tool, name: str, approval: ApprovalRule | None = None
) -> Callable[..., Any]:
    shape: SchemaSignature = signature_from_schema(tool.name, tool.input_schema or {}, tool.output_schema)
    signature = shape.signature
    wrapped = _wrapped(tool.output_schema)
    tool_name = tool.name

    async def call_tool(*args: Any, **kwargs: Any) -> Any:
        try:
            arguments = shape.arguments(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{name}(): {exc}") from None
        result = await asyncio.wrap_future(link.submit(link.call(tool_name, arguments)))
        return tool_result(tool, result, wrapped=wrapped)

    def call_tool_blocking(*args: Any, **kwargs: Any) -> Any:
        """The same call from a thread that may block (the sandbox's: see `BLOCKING`)."""
        try:
            arguments = shape.arguments(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{name}(): {exc}") from None
        return tool_result(tool, link.wait(link.call(tool_name, arguments)), wrapped=wrapped)

    call_tool.__name__ = name
    call_tool.__qualname__ = name
    call_tool.__doc__ = _doc(tool, name)
    call_tool.__module__ = __name__
    annotations: dict[str, Any] = {p.name: p.annotation for p in signature.parameters.values()}
    annotations["return"] = signature.return_annotation
    call_tool.__annotations__ = annotations
    setattr(call_tool, "__signature__", signature)  # noqa: B010
    setattr(call_tool, PARAM_DOCS, dict(shape.descriptions))
    setattr(call_tool, "__mcp_tool__", tool)  # noqa: B010
    setattr(call_tool, BLOCKING, call_tool_blocking)
    setattr(call_tool, SERVED_BY, link.thread_ids)
    if approval is not None:
        setattr(call_tool, APPROVAL_ATTR, approval)
    return call_tool


# ---------------------------------------------------------------------------
# The public face


class MCPConnection:
    """What `connect` returns: enter it (`with` or `async with`) for the list of
    functions; leaving it closes the connection (and stops a stdio server)."""

    def __init__(
        self, server: _Server, timeout: float, approval: ApprovalChoice = None, prefix: str = ""
    ) -> None:
        self._server = server
        self._timeout = timeout
        self._approval = approval
        self._prefix = prefix
        self._link: _Link | None = None
        self.functions: list[Callable[..., Any]] = []
        """One async function per tool, in the server's order (empty until entered)."""
        self.tools: list[Tool] = []
        """The tools as the server listed them."""

    def __repr__(self) -> str:
        state = "open" if self._link is not None and not self._link.closed else "closed"
        return f"<MCPConnection {self._server.label} ({state}, {len(self.functions)} tools)>"

    @property
    def server(self) -> str:
        return self._server.label

    def _start(self) -> _Link:
        if self._link is not None and not self._link.closed:
            raise RuntimeError(f"the connection to {self._server.label} is already open")
        link = _Link(self._server, self._timeout)
        link.start()
        self._link = link
        return link

    def _built(self, link: _Link, tools: list[Tool]) -> list[Callable[..., Any]]:
        taken: set[str] = set()
        self.tools = list(tools)
        self.functions = [
            _tool_function(
                link,
                t,
                python_name(self._prefix + t.name, taken, TAKEN_NAMES),
                _approval_for(t, self._approval),
            )
            for t in tools
        ]
        return list(self.functions)

    def open(self) -> list[Callable[..., Any]]:
        """Start the server (or connect) and list its tools; `close()` when done."""
        link = self._start()
        try:
            tools = link.submit(link.first_open()).result()
        except BaseException:
            link.close()
            raise
        return self._built(link, tools)

    async def aopen(self) -> list[Callable[..., Any]]:
        link = self._start()
        try:
            tools = await asyncio.wrap_future(link.submit(link.first_open()))
        except BaseException:
            await asyncio.to_thread(link.close)
            raise
        return self._built(link, tools)

    def close(self) -> None:
        if self._link is not None:
            self._link.close()

    async def aclose(self) -> None:
        if self._link is not None:
            await asyncio.to_thread(self._link.close)

    def __enter__(self) -> list[Callable[..., Any]]:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> list[Callable[..., Any]]:
        return await self.aopen()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def connect(
    server: str | Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | Path | None = None,
    timeout: float = OPEN_TIMEOUT,
    requires_approval: ApprovalChoice = None,
    prefix: str = "",
) -> MCPConnection:
    """A connection to the MCP server `server`, opened when entered (`with` or
    `async with`), which gives the list of its tools as functions.

    `server` is a command, a string (split like a shell would) or a list, run as a
    subprocess speaking stdio (`python` or `python3` first means this interpreter);
    or an `http://` / `https://` URL of a streamable HTTP endpoint. `env` adds
    variables to the server process's environment, over the MCP SDK's safe
    defaults (HOME, PATH, ...; pass `dict(os.environ)` for all of yours); `cwd`
    is its working directory; `headers` are sent with every HTTP request.
    `timeout` bounds starting the server (or reaching it) and listing its tools.
    `requires_approval` picks the tools whose calls a person must approve (a run
    pauses at such a call; see `agent_tools.resume`): True for all of them, or a
    function of the MCP `Tool` returning True, False or a per-call predicate, e.g.
    `requires_approval=lambda tool: not read_only(tool)` (`read_only` is in this module).
    `prefix` goes before every tool's Python name (`prefix="fs_"`: the tool
    `read_file` is the function `fs_read_file`), so that two servers with tools of
    the same name can serve one run; the server is still called by the tool's name.

    Raises ImportError when the MCP SDK is missing (`pip install 'agent-tools[mcp]'`);
    entering raises `MCPConnectionError` when the server cannot be started or reached.
    """
    _import_mcp()
    if (
        requires_approval is not None
        and not isinstance(requires_approval, bool)
        and not callable(requires_approval)
    ):
        raise TypeError(
            f"requires_approval must be True, False, None or a function of the tool: {requires_approval!r}"
        )
    if not isinstance(prefix, str) or not re.fullmatch(r"([A-Za-z][A-Za-z0-9_]*)?", prefix):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ValueError(
            f"connect: prefix must be ASCII letters, digits and _, starting with a letter: {prefix!r}"
        )
    return MCPConnection(_parse_server(server, env, headers, cwd), timeout, requires_approval, prefix)
