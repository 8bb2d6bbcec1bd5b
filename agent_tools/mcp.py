"""Code mode over an MCP server, at the path the public API gives it:
`from agent_tools.mcp import connect`. It lives in `adapters/mcp.py`."""

from agent_tools.adapters.mcp import *  # noqa: F403
from agent_tools.adapters.mcp import __all__ as __all__
