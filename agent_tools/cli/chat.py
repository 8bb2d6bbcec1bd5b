"""`agent-tools chat`: talk in the terminal to an agent whose only tool is `run_code`.

The agent is a pydantic-ai `Agent` with one `CodeToolset` (the demo shop's
functions unless `--tools` names others), on OpenAI or any OpenAI-compatible
server (`--base-url`). Each turn runs with an event stream handler, so the
screen follows the run as it happens: the model's text as it streams, the code
of each `run_code` call, each host call as it returns, the result or the error
the model reads, then the turn's tokens and time. `chat_session` runs the
prompt loop and the turns, `chat_display` draws them.

Credentials and `--tools` are checked before anything is drawn, so a bad
invocation ends with a message and exit status 2, like the other commands. Ctrl-C
during a turn cancels that turn (the conversation is left as it was before it)
and Ctrl-C at the prompt clears the line: only `/quit` or Ctrl-D ends the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from agent_tools.cli.status import EXIT_BAD_USAGE
from agent_tools.cli.tools import DEMO_TOOLS, McpOption, ToolsError, ToolsOption, load_tools, open_mcp

if TYPE_CHECKING:
    from pydantic_ai.models import Model

# pydantic-ai (and the modules that use it) are imported inside the functions: they
# cost most of a second, which `agent-tools run` should not pay.

__all__ = ["build_model", "chat"]

_MAX_RETRIES = 3


class UsageProblem(Exception):
    """The command cannot start: no credentials, an unknown model, tools that do not load."""


def build_model(model: str, base_url: str | None, api_key_env: str) -> Model:
    """The model to chat with. OpenAI (or an OpenAI-compatible server at `base_url`)
    unless `model` names another pydantic-ai provider; checked here, before any UI,
    so that missing credentials are a usage error and not a failure mid-conversation."""
    from pydantic_ai.models import infer_model
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    name = model.removeprefix("openai:")
    provider_prefix, sep, _ = model.partition(":")
    if base_url is None and sep and provider_prefix != "openai":
        try:  # another pydantic-ai provider: its own credential checks apply
            return infer_model(model)
        except Exception as exc:
            hint = "; for a model on an OpenAI-compatible server, pass --base-url"
            raise UsageProblem(f"--model {model!r}: {exc}{hint}") from exc
    key = os.environ.get(api_key_env) or None
    if key is None and base_url is None:
        raise UsageProblem(
            f"no credentials: set {api_key_env}"
            + (" (or name another variable with --api-key-env)" if api_key_env == "OPENAI_API_KEY" else "")
            + ", or pass --base-url for an OpenAI-compatible server"
        )
    # A local server usually needs no key, but the client insists on one.
    provider = OpenAIProvider(base_url=base_url, api_key=key or "not-needed")
    return OpenAIChatModel(name, provider=provider)


def chat(
    model: Annotated[
        str,
        typer.Option(metavar="MODEL", help="pydantic-ai model name; the openai: prefix is optional."),
    ] = "openai:gpt-4.1-mini",
    base_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="An OpenAI-compatible server (vLLM, Ollama, llama.cpp); an API key is then optional.",
        ),
    ] = None,
    api_key_env: Annotated[
        str, typer.Option(metavar="NAME", help="The environment variable that holds the API key.")
    ] = "OPENAI_API_KEY",
    tools: ToolsOption = None,
    mcp: McpOption = None,
) -> None:
    """Chat in the terminal with an agent whose only tool is run_code.

    The model answers by writing Python that calls the functions; the screen shows the
    code, each host call as it returns and the result. Commands: /help, /tools, /code,
    /reset, /save FILE, /quit. A call that needs a person's approval is asked about.

    Examples:

        OPENAI_API_KEY=sk-... agent-tools chat

        agent-tools chat --model openai:qwen2.5-coder:7b --base-url http://localhost:11434/v1

        agent-tools chat --tools mytools:FUNCTIONS --mcp "python -m agent_tools.demo.mcp_server"
    """
    import pydantic_ai
    from pydantic_ai import Agent, DeferredToolRequests

    from agent_tools.adapters.pydantic_ai import CodeToolset
    from agent_tools.cli.chat_display import ChatDisplay
    from agent_tools.cli.chat_session import ChatSession

    console = Console(highlight=False)
    display = ChatDisplay(console, max_retries=_MAX_RETRIES)
    servers = contextlib.ExitStack()  # the --mcp connections, open for the whole session
    try:
        chat_model = build_model(model, base_url, api_key_env)
        functions = load_tools(tools or ([] if mcp else [DEMO_TOOLS])) + open_mcp(mcp or [], servers)
        toolset = CodeToolset(functions, max_retries=_MAX_RETRIES, on_event=display.event)
    except (UsageProblem, ToolsError, TypeError, ValueError) as exc:
        servers.close()
        typer.echo(f"agent-tools chat: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_USAGE) from None
    pydantic_ai.BANNER_ENABLED = False  # pydantic-ai's first-run banner would land mid-conversation
    agent = Agent(
        chat_model,
        output_type=[str, DeferredToolRequests],  # a run paused for approval ends with the latter
        toolsets=[toolset],
        instructions=toolset.instructions_text,
    )
    chat_session = ChatSession(agent, toolset, display)
    names = list(toolset.runner.functions)
    counted = f"{len(names)} function{'' if len(names) == 1 else 's'}"
    console.print(
        Text.assemble(
            ("agent-tools chat", "bold"),
            f" · {chat_model.model_name} · {counted}: ",
            (", ".join(names), "dim"),
        )
    )
    console.print(Text("/help for commands, /quit or Ctrl-D to leave", style="dim"))
    # One loop for the whole session (the HTTP client's connections belong to it), and not
    # `asyncio.run`, whose SIGINT handler would cancel the session where Ctrl-C should only
    # cancel the turn (`chat_session` installs that handler while a turn runs).
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(chat_session.run())
    except KeyboardInterrupt:  # Ctrl-C outside a turn and outside the line editor
        raise typer.Exit(130) from None
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)
        servers.close()
