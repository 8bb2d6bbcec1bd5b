"""What `agent-tools chat` shows, and what it saves.

`ChatDisplay` draws one turn as it happens: the model's text streamed as it
arrives, each `run_code` call's code, a spinner with the elapsed time while the
code runs, each host call when it returns (from the run's live events, which
arrive on the sandbox's worker thread, hence the lock: the run record only lists
the calls after the code is done, which for a slow function is long after the user
wanted to see what it is doing), the result or the error the model will read, and
the turn's tokens and time. `Transcript` keeps the same turn as Markdown for `/save`.
"""

from __future__ import annotations

import re
import threading
import time
import typing
from collections.abc import Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_ai import RunContext
from rich.console import Console, RenderableType
from rich.panel import Panel
from rich.status import Status
from rich.syntax import Syntax
from rich.text import Text

from agent_tools.base.errors import format_call
from agent_tools.base.events import CallFinished, CallStarted, RunEvent, RunFinished, RunStarted
from agent_tools.tool.code_runner import ToolReply

__all__ = ["ChatDisplay", "Transcript"]

_RESULT_PREVIEW_CHARS = 600
"""How much of a run_code result the screen shows; the model gets up to `max_result_chars`."""
_CALL_PREVIEW_CHARS = 100
"""How much of a host call's result its line shows: one line, not the data."""


@dataclass
class _Entry:
    kind: str  # "user", "assistant", "code", "note"
    text: str
    result: str = ""
    ok: bool = True


@dataclass
class Transcript:
    """The conversation as the user saw it, for `/save`: kept apart from the model's
    message history so that `/reset` forgets the conversation without losing the record."""

    entries: list[_Entry] = field(default_factory=lambda: [])

    def user(self, text: str) -> None:
        self.entries.append(_Entry("user", text))

    def assistant(self, text: str) -> None:
        self.entries.append(_Entry("assistant", text))

    def code(self, code: str) -> None:
        self.entries.append(_Entry("code", code))

    def note(self, text: str) -> None:
        self.entries.append(_Entry("note", text))

    def code_result(self, text: str, ok: bool) -> None:
        for entry in reversed(self.entries):
            if entry.kind == "code":
                entry.result, entry.ok = text, ok
                return

    def markdown(self) -> str:
        out = ["# agent-tools chat", ""]
        for entry in self.entries:
            if entry.kind == "user":
                out += ["## You", "", entry.text, ""]
            elif entry.kind == "assistant":
                out += ["## Assistant", "", entry.text, ""]
            elif entry.kind == "note":
                out += [f"*{entry.text}*", ""]
            else:
                code = entry.text.rstrip("\n")
                fence = _fence(code)
                out += ["### run_code", "", f"{fence}python", code, fence, ""]
                if entry.result:
                    label = "Result:" if entry.ok else "Error (sent back to the model):"
                    result = entry.result.rstrip("\n")
                    fence = _fence(result)
                    out += [label, "", f"{fence}text", result, fence, ""]
        return "\n".join(out)

    def save(self, path: Path) -> None:
        path.write_text(self.markdown(), encoding="utf-8")


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text` (an error text holds
    its own ``` blocks), so the block ends where it should."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


class ChatDisplay:
    """Draws a turn on the terminal. Host calls arrive on the sandbox's worker
    thread, so every write goes through one lock; `active` is cleared when a turn is
    cancelled so that a run still finishing in the background stays quiet."""

    def __init__(self, console: Console, max_retries: int) -> None:
        self.console = console
        self.max_retries = max_retries
        self.active = False
        self._lock = threading.Lock()
        self._in_text = False
        self._retries = 0
        self._started = 0.0
        self._status: Status | None = None
        self._calls: dict[tuple[str, int], CallStarted] = {}

    def start_turn(self) -> None:
        self.active, self._in_text, self._retries = True, False, 0
        self._started = time.perf_counter()

    def end_turn(self, input_tokens: int, output_tokens: int, requests: int) -> None:
        self.end_text()
        elapsed = time.perf_counter() - self._started
        self.active = False
        plural = "" if requests == 1 else "s"
        self.print(
            Text(
                f"tokens {input_tokens:,} in / {output_tokens:,} out · {requests} request{plural} · "
                f"{elapsed:.1f} s",
                style="dim",
            )
        )

    def cancelled(self) -> None:
        self._stop_spinning()
        self.active = False
        self.end_text()
        self.print(Text("\nturn cancelled", style="yellow"))  # after the terminal's ^C

    def print(self, *renderables: Any, **kwargs: Any) -> None:
        with self._lock:
            self.console.print(*renderables, **kwargs)

    # The model's text, streamed.

    def text(self, delta: str) -> None:
        if not delta:
            return
        with self._lock:
            self._in_text = True
            self.console.print(delta, end="", markup=False, highlight=False, soft_wrap=True)

    def end_text(self) -> None:
        with self._lock:
            if self._in_text:
                self.console.print()
                self._in_text = False

    # run_code and its host calls.

    def code(self, code: str) -> None:
        self.end_text()
        syntax = Syntax(code.rstrip("\n"), "python", line_numbers=True, word_wrap=True, theme="ansi_dark")
        self.print(Panel(syntax, title="run_code", title_align="left", border_style="blue", expand=False))

    def host_call(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], outcome: str, ms: float
    ) -> None:
        if not self.active:
            return
        shown = tuple(a for a in args if not isinstance(a, RunContext))
        line = Text("  → ", style="cyan")
        line.append(format_call(name, shown, kwargs), style="bold")
        line.append(f" … {outcome} ", style="red" if outcome.startswith("✗") else "")
        line.append(f"({ms:.1f} ms)", style="dim")
        self.print(line, soft_wrap=True)

    def event(self, event: RunEvent) -> None:
        """A live event of a `run_code` run (on the sandbox's thread): a spinner while
        the code runs, a line per host call as it returns."""
        if isinstance(event, RunStarted):
            self._spin(event.at)
        elif isinstance(event, CallStarted):
            with self._lock:
                self._calls[(event.run_id, event.index)] = event
        elif isinstance(event, CallFinished):
            with self._lock:
                started = self._calls.pop((event.run_id, event.index), None)
            args, kwargs = (started.args, started.kwargs) if started is not None else ((), {})
            outcome = _preview(event.result) if event.ok else f"✗ {event.error}"
            self.host_call(event.function, args, kwargs, outcome, event.duration * 1000)
        elif isinstance(event, RunFinished):
            self._stop_spinning()

    def _spin(self, since: float) -> None:
        if not self.active or not self.console.is_terminal:
            return
        with self._lock:
            if self._status is None:
                self._status = self.console.status(_Elapsed(since), spinner="dots")
                self._status.start()

    def _stop_spinning(self) -> None:
        with self._lock:
            status, self._status = self._status, None
        if status is not None:
            status.stop()

    def reply(self, reply: ToolReply) -> None:
        if not self.active:
            return
        if reply.ok:
            text = reply.text
            if len(text) > _RESULT_PREVIEW_CHARS:
                text = f"{text[:_RESULT_PREVIEW_CHARS]}… ({len(text) - _RESULT_PREVIEW_CHARS} more chars)"
            self.print(Text("  ✓ ", style="green") + Text(text), soft_wrap=True)
            return
        self._retries += 1
        self.print(
            Panel(Text(reply.text.rstrip("\n")), title="error", title_align="left", border_style="red")
        )
        left = self.max_retries - self._retries
        note = f"the model may retry ({self._retries} of {self.max_retries} retries used)"
        self.print(Text(f"  {note}" if left >= 0 else "  out of retries", style="yellow"))

    def failed(self, message: str) -> None:
        """The turn ended with an error (the model's server, a fatal tool error): say so."""
        self._stop_spinning()
        self.active = False
        self.error(message)

    def error(self, message: str) -> None:
        self.end_text()
        self.print(Text(message, style="bold red"), soft_wrap=True)


def _preview(value: Any) -> str:
    """A host call's result in one short line: how many items, and how they start."""
    text = repr(value)
    if len(text) > _CALL_PREVIEW_CHARS:
        text = text[:_CALL_PREVIEW_CHARS] + "…"
    size: int | None = len(typing.cast(Sized, value)) if isinstance(value, (list, tuple, dict)) else None
    if size is not None and size > 1:
        text = f"{size} {'keys' if isinstance(value, dict) else 'items'}: {text}"
    return text


class _Elapsed:
    """The spinner's text: the time the code has been running, as it is drawn."""

    def __init__(self, since: float) -> None:
        self.since = since

    def __rich__(self) -> RenderableType:
        return Text(f"running code… {time.time() - self.since:.1f} s", style="dim")
