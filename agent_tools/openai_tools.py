"""The `run_code` tool for the OpenAI SDK, at the path the public API gives it:
`from agent_tools.openai_tools import CodeTool`. It lives in `adapters/openai.py`."""

from agent_tools.adapters.openai import *  # noqa: F403
from agent_tools.adapters.openai import __all__ as __all__
