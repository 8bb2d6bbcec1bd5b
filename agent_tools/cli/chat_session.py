"""The `agent-tools chat` session: read a line, run a command or a turn, repeat.

A turn is one `agent.run` with an event stream handler, so the screen follows
the run while it happens (`chat_display` draws it). The conversation carries
from turn to turn as the run's messages; a turn that fails or is cancelled
leaves it as it was, so the next question starts from the last good answer.
Ctrl-C during a turn cancels that turn's task (a SIGINT handler on the event
loop, installed only while the turn runs), and at the prompt it clears the line:
only `/quit` or end of input ends the session. When the code reaches a call that
needs approval, the run pauses and the session asks `approve refund(order_id=7,
amount=120.0)? [y/N]`; the answer resumes the same sandbox run (no means the call
raises PermissionError in the code, which may handle it).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterable, Generator
from pathlib import Path
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, RunContext
from pydantic_ai.messages import (
    AgentStreamEvent,
    FunctionToolCallEvent,
    ModelMessage,
    PartDeltaEvent,
    PartEndEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
)
from rich.syntax import Syntax

from agent_tools.adapters.pydantic_ai import CodeToolset
from agent_tools.cli.chat_display import ChatDisplay, Transcript
from agent_tools.demo.db import data_dir
from agent_tools.tool.code_runner import ToolReply

__all__ = ["HELP", "ChatSession"]

_PROMPT = "you> "

HELP = """\
Ask a question about the data; the model answers by writing Python that calls the functions.
  /help        this text
  /tools       the function catalog the model sees
  /code        the last code the model ran
  /reset       forget the conversation (the model starts afresh)
  /save FILE   write the transcript as Markdown
  /quit        leave (Ctrl-D too)
Ctrl-C cancels a turn in progress, or clears the line at the prompt."""


def _history() -> History:
    """Prompt history under the data dir, or in memory if that cannot be written."""
    try:
        directory = data_dir()
        directory.mkdir(parents=True, exist_ok=True)
        return FileHistory(str(directory / "chat_history"))
    except OSError:
        return InMemoryHistory()


@contextlib.contextmanager
def _sigint_cancels(task: asyncio.Task[Any]) -> Generator[None]:
    """While a turn runs, Ctrl-C cancels its task instead of ending the program."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, task.cancel)
        installed = True
    except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
        installed = False
    try:
        yield
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)


class ChatSession:
    """One chat session: the agent, the conversation so far, and the screen."""

    def __init__(
        self, agent: Agent[None, str | DeferredToolRequests], toolset: CodeToolset, display: ChatDisplay
    ) -> None:
        self.agent, self.toolset, self.display = agent, toolset, display
        self.console = display.console
        self.history: list[ModelMessage] = []
        self.transcript = Transcript()
        self.last_code: str | None = None
        self._streamed_text = ""
        toolset.on_reply = self.on_reply  # each run_code outcome, as it comes
        self._session: PromptSession[str] | None = None
        if sys.stdin.isatty() and sys.stdout.isatty():
            self._session = PromptSession(history=_history())

    async def run(self) -> None:
        while True:
            line = await self._read()
            if line is None:
                return
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if not self._command(line):
                    return
                continue
            await self._turn(line)

    async def _read(self) -> str | None:
        """The next line, or None at end of input."""
        try:
            if self._session is not None:
                while True:
                    try:
                        return await self._session.prompt_async(FormattedText([("ansigreen bold", _PROMPT)]))
                    except KeyboardInterrupt:
                        continue  # Ctrl-C at the prompt clears the line
            try:
                return input(_PROMPT)  # not a terminal: no line editing
            except KeyboardInterrupt:
                print()
                return ""
        except EOFError:
            return None

    def _command(self, line: str) -> bool:
        """Run a slash command; False means leave."""
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            self.console.print(HELP, markup=False, highlight=False)
        elif name == "/tools":
            self.console.print(
                Syntax(self.toolset.runner.catalog(), "python", theme="ansi_dark", word_wrap=True)
            )
        elif name == "/code":
            if self.last_code is None:
                self.console.print("no code has run yet")
            else:
                self.display.code(self.last_code)
        elif name == "/reset":
            self.history = []
            self.transcript.note("conversation reset")
            self.console.print("conversation forgotten")
        elif name == "/save":
            self._save(arg)
        else:
            self.console.print(f"unknown command {name}; /help lists them", markup=False)
        return True

    def _save(self, arg: str) -> None:
        if not arg:
            self.console.print("usage: /save FILE")
            return
        path = Path(arg).expanduser()
        try:
            self.transcript.save(path)
        except OSError as exc:
            self.display.error(f"cannot save to {path}: {exc}")
            return
        self.console.print(f"transcript saved to {path}", markup=False, highlight=False)

    async def _events(self, ctx: RunContext[None], events: AsyncIterable[AgentStreamEvent]) -> None:
        """Draw the run's events as they arrive."""
        async for event in events:
            if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
                self._streamed_text += event.part.content
                self.display.text(event.part.content)
            elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                self._streamed_text += event.delta.content_delta
                self.display.text(event.delta.content_delta)
            elif isinstance(event, PartEndEvent) and isinstance(event.part, TextPart):
                self.display.end_text()
                if event.part.content.strip():
                    self.transcript.assistant(event.part.content)
            elif isinstance(event, FunctionToolCallEvent) and event.part.tool_name == "run_code":
                code = event.part.args_as_dict().get("code")
                if isinstance(code, str):
                    self.last_code = code
                    self.transcript.code(code)
                    self.display.code(code)

    def on_reply(self, reply: ToolReply) -> None:
        """Each `run_code` outcome: onto the screen and into the transcript."""
        self.transcript.code_result(reply.text, reply.ok)
        self.display.reply(reply)

    async def _approvals(self, requests: DeferredToolRequests) -> DeferredToolResults:
        """Ask the person about each call a paused run waits on."""
        results = DeferredToolResults()
        for call in requests.approvals:
            meta: object = requests.metadata.get(call.tool_call_id)
            what = meta.get("call") if isinstance(meta, dict) else None
            answer = await self._read_answer(f"approve {what or call.tool_name}? [y/N] ")
            results.approvals[call.tool_call_id] = True  # run_code goes on, either way
            if answer.strip().lower() in ("y", "yes"):
                self.transcript.note(f"approved {what}")
            else:
                results.metadata[call.tool_call_id] = CodeToolset.deny("the user did not approve it")
                self.transcript.note(f"denied {what}")
        return results

    async def _read_answer(self, question: str) -> str:
        """One answer line; no answer (end of input, Ctrl-C) is no."""
        self.display.end_text()
        try:
            if self._session is not None:
                return await self._session.prompt_async(question)
            return input(question)
        except (EOFError, KeyboardInterrupt):
            return ""

    async def _turn(self, prompt: str) -> None:
        self.transcript.user(prompt)
        self.display.start_turn()
        self._streamed_text = ""
        history, deferred = self.history, None
        result: Any = None
        while True:
            if deferred is None:
                run = self.agent.run(prompt, message_history=history, event_stream_handler=self._events)
            else:
                run = self.agent.run(
                    message_history=history, deferred_tool_results=deferred, event_stream_handler=self._events
                )
            task = asyncio.ensure_future(run)
            try:
                with _sigint_cancels(task):
                    result = await task
            except (asyncio.CancelledError, KeyboardInterrupt):
                task.cancel()
                self.display.cancelled()
                self.transcript.note("turn cancelled")
                return
            except Exception as exc:
                message = f"the turn failed: {type(exc).__name__}: {exc}"
                self.display.failed(message)
                self.transcript.note(message)
                return
            if not isinstance(result.output, DeferredToolRequests):
                break
            # The code paused at calls that need approval: ask, then go on from there.
            history, deferred = result.all_messages(), await self._approvals(result.output)
        self.history = result.all_messages()
        if not self._streamed_text.strip() and result.output:  # a model that did not stream its text
            self.display.text(result.output)
            self.transcript.assistant(result.output)
        usage = result.usage
        self.display.end_turn(usage.input_tokens, usage.output_tokens, usage.requests)
