"""The demo shop's functions served as an MCP server (stdio), with the official
SDK's `MCPServer` (FastMCP in mcp 1.x):

    python -m agent_tools.demo.mcp_server

so that `agent-tools run examples/top_customers.py --mcp "python -m agent_tools.demo.mcp_server"`
answers as the built-in functions do. Needs `pip install 'agent-tools[mcp]'`.

Each tool is one of `agent_tools.demo.FUNCTIONS`, with its signature and docstring.
An exception a function raises (a ValueError for a bad argument, a KeyError for
an unknown id) reaches the client as an error result carrying its type and text,
as the model would read it from the built-in function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent_tools.demo.functions import FUNCTIONS

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

__all__ = ["build_server", "main"]


def _reported(func: Callable[..., Any]) -> Callable[..., Any]:
    """`func`, its exceptions turned into the SDK's ToolError with their type and text
    (the SDK hides the text of any other exception from the client)."""
    from mcp.server.mcpserver.exceptions import ToolError

    @functools.wraps(func)
    def tool(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc

    return tool


def build_server() -> MCPServer:
    """The MCP server with one tool per demo function."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(
        "agent-tools-demo-shop",
        instructions="The demo shop of agent-tools: customers, products, orders and shipments.",
        log_level="WARNING",
    )
    for func in FUNCTIONS:
        server.add_tool(_reported(func))
    return server


def main() -> None:
    build_server().run()


if __name__ == "__main__":
    main()
