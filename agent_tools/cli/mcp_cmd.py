"""`agent-tools mcp serve`: `run_code` as an MCP server, for any MCP client.

The server has one tool, `run_code`, over the functions named by `--tools` and the
tools of the MCP servers named by `--mcp` (by default the demo shop's functions,
`agent_tools.demo:FUNCTIONS`, as `agent-tools run` has). It speaks stdio unless
`--http` asks for streamable HTTP (on 127.0.0.1 unless `--host` says otherwise, at
`/mcp`). In stdio mode stdout is the protocol: nothing else is written there. See
`agent_tools.adapters.mcp_server` for what the server does (progress, errors,
cancellation, approvals, state). Exit status 2 for bad usage.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from agent_tools.cli.status import EXIT_BAD_USAGE
from agent_tools.cli.tools import DEMO_TOOLS, McpOption, ToolsError, ToolsOption, load_tools, open_mcp

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

__all__ = ["app", "serve"]

INSTALL_HINT = "pip install 'agent-tools[mcp]'"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Serve run_code to MCP clients (Claude Desktop, IDEs, agents).",
)


@app.callback()
def mcp_group() -> None:
    """Serve run_code to MCP clients."""


class UsageError(ValueError):
    """The command line asks for something that cannot be done (exit status 2)."""


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail_usage(message: str) -> typer.Exit:
    _stderr().print(Text(f"agent-tools mcp serve: {message}", style="red"))
    return typer.Exit(EXIT_BAD_USAGE)


def _check_options(
    http: bool,
    host: str | None,
    port: int | None,
    timeout_ms: int,
    max_memory: int | None,
    secrets: list[str],
) -> None:
    if timeout_ms <= 0:
        raise UsageError(f"--timeout-ms must be positive, got {timeout_ms}")
    if max_memory is not None and max_memory <= 0:
        raise UsageError(f"--max-memory must be a positive number of bytes, got {max_memory}")
    if not http and (host is not None or port is not None):
        given = "--host" if host is not None else "--port"
        raise UsageError(f"{given} applies to --http (streamable HTTP); stdio has no address")
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"--port must be from 1 to 65535, got {port}")
    if host is not None and not host.strip():
        raise UsageError("--host is empty")
    for name in secrets:
        if not _ENV_NAME.fullmatch(name):
            raise UsageError(f"--secret {name!r}: expected an environment variable name, e.g. API_TOKEN")
    duplicated = sorted({s for s in secrets if secrets.count(s) > 1})
    if duplicated:
        raise UsageError(f"--secret {duplicated[0]}: given more than once")


def _load_functions(specs: list[str], mcp: list[str], stack: contextlib.ExitStack) -> list[Any]:
    # `--tools mymodule:FUNCS` should find modules in the current directory, as `python -m` does.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        functions = load_tools(specs or ([] if mcp else [DEMO_TOOLS])) + open_mcp(mcp, stack)
    except ToolsError as exc:
        raise UsageError(str(exc)) from None
    except Exception as exc:  # the named module raised while importing
        raise UsageError(f"--tools: loading {', '.join(specs)} failed: {type(exc).__name__}: {exc}") from None
    if not functions:
        raise UsageError("no functions to serve: --tools and --mcp name none")
    return functions


def _check_port(host: str, port: int) -> None:
    """Fail now, with a clear message, if `host:port` cannot be listened on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host!r}: cannot resolve it: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            why = "the port is in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise UsageError(f"cannot listen on {host}:{port}: {why}") from None


def _build(
    functions: list[Any], stateful: bool, timeout_ms: int, max_memory: int | None, secrets: list[str]
) -> MCPServer:
    try:
        from agent_tools.adapters.mcp_server import build_server
    except ImportError as exc:
        raise UsageError(f"the MCP server needs the MCP SDK ({exc}): {INSTALL_HINT}") from None
    try:
        return build_server(
            functions, stateful=stateful, timeout_ms=timeout_ms, max_memory=max_memory, secrets=secrets
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(f"cannot register the functions: {exc}") from None


def serve(
    tools: ToolsOption = None,
    mcp: McpOption = None,
    http: Annotated[
        bool, typer.Option("--http", help="Serve streamable HTTP (at /mcp) instead of stdio.")
    ] = False,
    host: Annotated[
        str | None,
        typer.Option(metavar="HOST", help="The address to listen on with --http. Default: 127.0.0.1."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(metavar="PORT", help="The port to listen on with --http. Default: 8000.")
    ] = None,
    stateful: Annotated[
        bool,
        typer.Option(
            "--stateful",
            help="Keep variables between run_code calls of one MCP session (run_code then takes "
            "restart=true to forget them).",
        ),
    ] = False,
    timeout_ms: Annotated[
        int, typer.Option("--timeout-ms", metavar="N", help="Sandbox time limit of a run, in milliseconds.")
    ] = 30_000,
    max_memory: Annotated[
        int | None,
        typer.Option("--max-memory", metavar="BYTES", help="Sandbox memory limit of a run. Default: 50 MiB."),
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            "--secret",
            metavar="NAME",
            help="An environment variable the code may read with os.getenv (repeatable); its value "
            "is redacted from everything the server returns.",
        ),
    ] = None,
) -> None:
    """Serve run_code as an MCP server: stdio by default, streamable HTTP with --http.

    The tool's description carries the catalog of the functions and the sandbox notes;
    host calls are sent as progress notifications and log messages while the code runs;
    a client's cancellation stops the run; fixable errors come back as tool errors with
    the numbered code; calls that need approval are asked about (MCP elicitation).

    Examples:

        agent-tools mcp serve

        agent-tools mcp serve --tools mytools:FUNCTIONS --stateful

        agent-tools mcp serve --mcp "npx -y @modelcontextprotocol/server-everything"

        agent-tools mcp serve --http --port 8765 --secret SHOP_API_KEY
    """
    secrets = secret or []
    with contextlib.ExitStack() as stack:
        try:
            _check_options(http, host, port, timeout_ms, max_memory, secrets)
            listen_host, listen_port = host or "127.0.0.1", 8000 if port is None else port
            if http:
                _check_port(listen_host, listen_port)
            functions = _load_functions(tools or [], mcp or [], stack)
            server = _build(functions, stateful, timeout_ms, max_memory, secrets)
        except UsageError as exc:
            raise _fail_usage(str(exc)) from None
        if not http:
            server.run()  # stdio: stdout is the protocol
            return
        shown = f"[{listen_host}]" if ":" in listen_host else listen_host
        _stderr().print(
            Text(
                f"agent-tools mcp serve: run_code ({len(functions)} functions) at "
                f"http://{shown}:{listen_port}/mcp (streamable HTTP); Ctrl-C stops it"
            )
        )
        with contextlib.suppress(KeyboardInterrupt):
            server.run("streamable-http", host=listen_host, port=listen_port)


app.command("serve")(serve)
