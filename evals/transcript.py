"""What happened in one run, step by step: the messages, the code the model wrote, the host calls.

A failed run is debugged from its transcript: what the model was asked, what it answered, the
`run_code` programs it wrote (or the tool calls it made), what each returned or why it failed,
and which domain functions the code called, with their arguments and results. The harness keeps
one per run (`TaskResult.transcript` and `TaskResult.calls`, both in results.json); report.html
shows them collapsed under each run.

An entry of a transcript is a plain dict, JSON as it stands:

- `{"kind": "user", "text": ...}`: the question (or any other user prompt);
- `{"kind": "text", "text": ...}` / `{"kind": "thinking", "text": ...}`: what the model wrote;
- `{"kind": "call", "tool": ..., "args": ..., "code": ...}`: a tool call, `args` as JSON text,
  `code` the program when the tool is `run_code`;
- `{"kind": "return", "tool": ..., "text": ...}`: what a tool returned, as the model read it;
- `{"kind": "retry", "tool": ..., "text": ...}`: a failed tool call (or an unusable answer) sent
  back to the model to try again: the error it read;
- `{"kind": "error", "text": ...}`: the exception that ended the run, if one did.

A host call is `{"function": ..., "args": {...}, "result": ...}` or, when the function raised,
`{"function": ..., "args": {...}, "error": "TypeError: ..."}`; arguments and results are JSON
text cut to `MAX_VALUE_CHARS` (the cut says how much was left out).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Sequence
from typing import Any

from pydantic_ai.messages import (
    BaseToolCallPart,
    BaseToolReturnPart,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryFeedbackPart,
    SystemPromptPart,
    TextContent,
    TextPart,
    ThinkingPart,
    UserPromptPart,
)

__all__ = ["MAX_VALUE_CHARS", "HostCallLog", "clip", "transcript_of"]

MAX_VALUE_CHARS = 2000
"""A host call's arguments or result longer than this (as JSON text) are cut in its log."""


def clip(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):  # a circular structure, say
        return repr(value)


def _user_text(part: UserPromptPart) -> str:
    if isinstance(part.content, str):
        return part.content
    texts: list[str] = []
    for item in part.content:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, TextContent):
            texts.append(item.content)
        else:
            texts.append(f"[{type(item).__name__}]")
    return "\n".join(texts)


def _call(part: BaseToolCallPart) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": "call", "tool": part.tool_name, "args": part.args_as_json_str()}
    if part.tool_name == "run_code":
        try:
            code = part.args_as_dict().get("code")
        except (ValueError, TypeError, AssertionError):  # arguments that are not a JSON object
            code = None
        if isinstance(code, str):
            entry["code"] = code
    return entry


def _request_entries(message: ModelRequest) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, UserPromptPart):
            entries.append({"kind": "user", "text": _user_text(part)})
        elif isinstance(part, SystemPromptPart):
            entries.append({"kind": "system", "text": part.content})
        elif isinstance(part, BaseToolReturnPart):
            text = part.content if isinstance(part.content, str) else part.model_response_str()
            kind = "retry" if getattr(part, "outcome", None) == "retried" else "return"
            entries.append({"kind": kind, "tool": part.tool_name, "text": text})
        elif isinstance(part, RetryFeedbackPart):
            entries.append({"kind": "retry", "tool": "", "text": part.model_response()})
        else:  # the deprecated RetryPromptPart, and anything newer
            response = getattr(part, "model_response", None)
            if callable(response):
                text = str(response())  # pyright: ignore[reportUnknownArgumentType]
                tool = str(getattr(part, "tool_name", "") or "")
                entries.append({"kind": "retry", "tool": tool, "text": text})
    return entries


def _response_entries(message: ModelResponse) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            entries.append({"kind": "text", "text": part.content})
        elif isinstance(part, ThinkingPart):
            entries.append({"kind": "thinking", "text": part.content})
        elif isinstance(part, BaseToolCallPart):
            entries.append(_call(part))
    return entries


def transcript_of(messages: Sequence[ModelMessage], error: str | None = None) -> list[dict[str, Any]]:
    """The transcript of a run from its messages (see the module's docstring), ending with the
    exception that ended it when `error` is given."""
    entries: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            entries += _request_entries(message)
        else:
            entries += _response_entries(message)
    if error:
        entries.append({"kind": "error", "text": error})
    return entries


def _arguments(
    signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, str]:
    """A call's arguments by parameter name (by position, `#0`, ..., when they do not fit the
    signature), each as JSON text cut to `MAX_VALUE_CHARS`."""
    named: dict[str, Any] = {}
    if signature is not None:
        try:
            named = dict(signature.bind(*args, **kwargs).arguments)
        except TypeError:  # the call does not fit the signature: the function will say so itself
            named = {}
    if not named:
        named = {**{f"#{i}": a for i, a in enumerate(args)}, **kwargs}
    return {name: clip(_json(value), MAX_VALUE_CHARS) for name, value in named.items()}


class HostCallLog:
    """Every call a run's domain functions got, in order (see the module's docstring)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """`func` logging each call here; name, docstring and signature are kept (the model reads them)."""
        try:
            signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):
            signature = None

        @functools.wraps(func)
        def logged(*args: Any, **kwargs: Any) -> Any:
            entry: dict[str, Any] = {"function": func.__name__, "args": _arguments(signature, args, kwargs)}
            self.calls.append(entry)
            try:
                result = func(*args, **kwargs)
            except Exception as exc:
                entry["error"] = f"{type(exc).__name__}: {exc}"
                raise
            entry["result"] = clip(_json(result), MAX_VALUE_CHARS)
            return result

        return logged
