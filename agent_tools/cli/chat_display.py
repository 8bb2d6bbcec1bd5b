"""What `agent-tools chat` shows, and what it saves.

`ChatDisplay` draws one turn as it happens: the model's text streamed as it
arrives, each `run_code` call's code, each host call when it returns (from the
sandbox's worker thread, hence the lock), the result or the error the model will
read, and the turn's tokens and time. `Transcript` keeps the same turn as
Markdown for `/save`. `watch_calls` wraps the registered functions so the host
calls can be shown live: the run record only lists them after the code is done,
which for a slow function is long after the user wanted to see what it is doing.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
import typing
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_ai import RunContext
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from agent_tools.base.errors import format_call
from agent_tools.tool.code_runner import ToolReply

__all__ = ["ChatDisplay", "Transcript", "watch_calls"]

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
                out += ["### run_code", "", "```python", entry.text.rstrip("\n"), "```", ""]
                if entry.result:
                    label = "Result:" if entry.ok else "Error (sent back to the model):"
                    out += [label, "", "```text", entry.result.rstrip("\n"), "```", ""]
        return "\n".join(out)

    def save(self, path: Path) -> None:
        path.write_text(self.markdown(), encoding="utf-8")


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


def _watched(func: Callable[..., Any], display: ChatDisplay) -> Callable[..., Any]:
    """`func`, reporting each call to `display` as it returns. `functools.wraps` keeps
    the name, docstring and signature (through `__wrapped__`), so the catalog the
    model reads and the type check are the same as for the bare function."""
    name: str = getattr(func, "__name__", "function")

    def report(args: tuple[Any, ...], kwargs: dict[str, Any], outcome: str, start: float) -> None:
        display.host_call(name, args, kwargs, outcome, (time.perf_counter() - start) * 1000)

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def watched_async(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                result = await func(*args, **kwargs)
            except Exception as exc:
                report(args, kwargs, f"✗ {type(exc).__name__}: {exc}", start)
                raise
            report(args, kwargs, _preview(result), start)
            return result

        return watched_async

    @functools.wraps(func)
    def watched(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            result = func(*args, **kwargs)
        except Exception as exc:
            report(args, kwargs, f"✗ {type(exc).__name__}: {exc}", start)
            raise
        report(args, kwargs, _preview(result), start)
        return result

    return watched


def watch_calls(functions: Iterable[Callable[..., Any]], display: ChatDisplay) -> list[Callable[..., Any]]:
    """Each function wrapped to show its calls on `display` as they happen."""
    return [_watched(f, display) for f in functions]
