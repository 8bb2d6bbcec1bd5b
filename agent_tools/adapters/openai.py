"""`CodeTool`: the `run_code` tool for the plain OpenAI SDK, with no agent framework.

    tool = CodeTool([get_price, get_stock])
    messages = [{"role": "system", "content": tool.system_prompt}, {"role": "user", "content": question}]
    while True:
        reply = client.chat.completions.create(model=model, messages=messages, tools=[tool.definition])
        message = reply.choices[0].message
        messages.append(message)
        if not message.tool_calls:
            break
        messages += [tool.handle(call) for call in message.tool_calls]

The Responses API works the same way with `tool.response_definition` in `tools`,
and `tool.handle(item)` for each `function_call` item of `response.output`.

A registered function that needs a person's approval (`requires_approval`) pauses
the run at its call: `handle()` then returns a `PendingToolCall` instead of a
message. Ask the person, then send what `tool.resume(pending, approve=...)` returns
(which may be pending again, at the next such call):

        answer = tool.handle(call)
        while isinstance(answer, PendingToolCall):
            answer = tool.resume(answer, approve=ask(answer.pending.describe()))
        messages.append(answer)

`handle()` tells the two APIs apart by the call it gets, so one method serves
both and nobody has to pick the right one: a call with a `function` member is a
Chat Completions tool call (answered with a `{"role": "tool", ...}` message), one
whose `type` is `"function_call"` is a Responses API item (answered with a
`{"type": "function_call_output", ...}` item). It takes the SDK's objects or the
same shapes as plain dicts, for code that stores or proxies calls as JSON.

What the model can fix comes back to it as the tool output: the result as JSON,
the `CodeRunner`'s error text (numbered code, failing line, hint, calls made), or
a note on malformed arguments (bad JSON, no `code`). What it cannot fix is raised:
a `FatalToolError` from a registered function, a `SecretError`, or a call to a tool
other than `run_code`, which is a bug in the caller's routing (`ValueError`).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

from agent_tools.base.approval import PendingApproval
from agent_tools.task.state import SessionState
from agent_tools.tool.code_runner import DEFAULT_MAX_RESULT_CHARS, CodeRunner, ToolReply

if TYPE_CHECKING:
    # Types only: at run time the calls are read by duck typing, so this module works
    # with any `openai` release (and with plain dicts, without `openai` at all).
    from openai.types.chat import (
        ChatCompletionFunctionToolParam,
        ChatCompletionMessageToolCallUnion,
        ChatCompletionToolMessageParam,
    )
    from openai.types.responses import FunctionToolParam, ResponseFunctionToolCall
    from openai.types.responses.response_input_item_param import FunctionCallOutput

__all__ = ["TOOL_NAME", "CodeTool", "PendingToolCall"]

TOOL_NAME = "run_code"

_USAGE = 'Call run_code again with arguments like {"code": "total = 1 + 2\\ntotal"}.'


@dataclass(frozen=True)
class _Call:
    """One `run_code` call, whichever API it came from."""

    api: Literal["chat", "responses"]
    call_id: str
    name: str
    arguments: str


def _field(obj: object, name: str) -> Any:
    """`obj[name]` for a mapping, `obj.name` for an SDK object; None when absent."""
    if isinstance(obj, Mapping):
        return obj.get(name)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    return getattr(obj, name, None)


def _parse_call(tool_call: object) -> _Call:
    """Read a Chat Completions tool call or a Responses API `function_call` item."""
    function = _field(tool_call, "function")
    api: Literal["chat", "responses"]
    if function is not None:
        api, call_id, name = "chat", _field(tool_call, "id"), _field(function, "name")
        arguments = _field(function, "arguments")
    elif _field(tool_call, "type") == "function_call":
        api, call_id, name = "responses", _field(tool_call, "call_id"), _field(tool_call, "name")
        arguments = _field(tool_call, "arguments")
    else:
        raise ValueError(
            f"not a function tool call: {tool_call!r}; pass an item of `message.tool_calls` "
            "(Chat Completions) or a `function_call` item of `response.output` (Responses API)"
        )
    if not isinstance(call_id, str) or not call_id:
        raise ValueError(f"the tool call has no id to answer to: {tool_call!r}")
    if name != TOOL_NAME:
        raise ValueError(
            f"CodeTool handles only {TOOL_NAME!r} calls, not {name!r}: route other tools' calls elsewhere "
            "(CodeTool.owns(call) tells them apart)"
        )
    if isinstance(arguments, Mapping):
        # Already decoded (some proxies and stored transcripts hold an object here).
        arguments = json.dumps(arguments)
    # Some servers send nothing at all for a call without arguments: read that as `{}`.
    return _Call(api, call_id, name, arguments if isinstance(arguments, str) else "")


@dataclass(frozen=True)
class PendingToolCall:
    """A `run_code` call whose run paused for a person's approval: not a message to
    send. `pending` names the call it waits on (`pending.describe()`) and holds the
    token; `CodeTool.resume(this, approve=...)` gives the message that answers the call."""

    call_id: str
    api: Literal["chat", "responses"]
    pending: PendingApproval
    reply: ToolReply

    @property
    def token(self) -> str:
        return self.pending.token


_JSON_TYPES = {
    "dict": "an object",
    "list": "an array",
    "str": "a string",
    "int": "a number",
    "float": "a number",
    "bool": "a boolean",
}


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value).__name__, "null")


@dataclass(frozen=True)
class _Arguments:
    code: str
    restart: bool


def _parse_arguments(text: str, stateful: bool) -> _Arguments | str:
    """The call's arguments, or the message telling the model what was wrong with them.

    Unknown keys are ignored rather than refused: a model that adds, say,
    `"language": "python"` has said what it meant, and a retry would cost a turn.
    """
    try:
        value: object = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as error:
        return (
            f"The run_code arguments were not valid JSON ({error.msg} at line {error.lineno}, "
            f'column {error.colno}), so nothing ran. Send a JSON object whose "code" is the Python '
            f"source as one string, with newlines and quotes escaped. {_USAGE}"
        )
    if not isinstance(value, dict):
        return f"The run_code arguments must be a JSON object, not {_json_type(value)}; nothing ran. {_USAGE}"
    args: dict[str, object] = value  # pyright: ignore[reportUnknownVariableType]
    code = args.get("code")
    if code is None:
        return f'The run_code arguments have no "code", so nothing ran. {_USAGE}'
    if not isinstance(code, str):
        return (
            f'The run_code "code" argument must be a string of Python source, not '
            f"{_json_type(code)}; nothing ran. {_USAGE}"
        )
    restart = args.get("restart", False)
    if restart is None:
        restart = False
    if stateful and not isinstance(restart, bool):
        return (
            f'The run_code "restart" argument must be true or false, not {json.dumps(restart)}; nothing ran.'
        )
    return _Arguments(code, stateful and restart is True)


class CodeTool:
    """The `run_code` tool for the OpenAI SDK's Chat Completions and Responses APIs.

    Args:
        tasks: the functions the code may call (callables, or a name -> callable mapping).
        stateful: keep variables and definitions from one `run_code` call to the next;
            the tool then takes `restart: true` to start over. The state belongs to this
            instance, so make one `CodeTool` per conversation (a shared one would let
            one conversation see another's variables).
        strict: ask for OpenAI's strict schema adherence, so the model's arguments
            always match the schema. Strict mode needs every property listed as
            required, so a stateful tool's `restart` is then required (the model
            sends `false` to keep its state). Set it to False for an OpenAI-compatible
            server that does not support strict tools; the handler accepts arguments
            that do not match either way.
        max_result_chars: results longer than this reach the model cut, with a marker.
        **template_options: as for `CodeRunner` (`preflight`, `timeout_ms`, ...).
    """

    name: str = TOOL_NAME

    def __init__(
        self,
        tasks: Iterable[Callable[..., Any]] | Mapping[str, Callable[..., Any]],
        *,
        stateful: bool = False,
        strict: bool = True,
        max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
        **template_options: Any,
    ) -> None:
        self.runner = CodeRunner(tasks, max_result_chars=max_result_chars, **template_options)
        self.stateful = stateful
        self.strict = strict
        self.state: SessionState | None = SessionState() if stateful else None
        # A stateful tool runs one call at a time, in the order the calls arrive, so
        # that parallel tool calls (or `asyncio.gather` over them) each start from the
        # state the previous one left instead of overwriting each other's. (The two
        # locks order `handle` and `ahandle` calls separately: use one or the other.)
        self._lock = threading.Lock()
        self._alock = asyncio.Lock()

    def restart(self) -> None:
        """Forget the variables and definitions of a stateful tool (no-op otherwise)."""
        if self.state is not None:
            self.state.restart()

    @property
    def parameters(self) -> dict[str, object]:
        """The JSON schema of the arguments, shared by both APIs' definitions."""
        code_doc = "Python source to run; the value of its last expression is the result."
        if self.stateful:
            code_doc += " Variables, functions and imports persist from one run_code call to the next."
        properties: dict[str, object] = {"code": {"type": "string", "description": code_doc}}
        required = ["code"]
        if self.stateful:
            properties["restart"] = {
                "type": "boolean",
                "description": "true to forget every variable and definition from earlier calls "
                "before running this code; false to keep them.",
            }
            if self.strict:
                required.append("restart")
        return {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }

    @property
    def definition(self) -> ChatCompletionFunctionToolParam:
        """The tool for `client.chat.completions.create(tools=[...])`."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.runner.description(stateful=self.stateful),
                "parameters": self.parameters,
                "strict": self.strict,
            },
        }

    @property
    def response_definition(self) -> FunctionToolParam:
        """The tool for `client.responses.create(tools=[...])`.

        `strict` is always sent: the Responses API treats a missing one as true.
        """
        return {
            "type": "function",
            "name": self.name,
            "description": self.runner.description(stateful=self.stateful),
            "parameters": self.parameters,
            "strict": self.strict,
        }

    @property
    def system_prompt(self) -> str:
        """Optional system-prompt text for code mode; the tool description alone suffices."""
        return self.runner.system_prompt()

    def owns(self, tool_call: object) -> bool:
        """Whether `tool_call` (either API, object or dict) is a call of this tool,
        for loops that route calls among several tools."""
        function = _field(tool_call, "function")
        if function is not None:
            return _field(function, "name") == self.name
        return _field(tool_call, "type") == "function_call" and _field(tool_call, "name") == self.name

    @overload
    def handle(
        self, tool_call: ChatCompletionMessageToolCallUnion
    ) -> ChatCompletionToolMessageParam | PendingToolCall: ...
    @overload
    def handle(self, tool_call: ResponseFunctionToolCall) -> FunctionCallOutput | PendingToolCall: ...
    @overload
    def handle(self, tool_call: Mapping[str, Any]) -> dict[str, Any] | PendingToolCall: ...
    def handle(self, tool_call: object) -> Any:
        """Run one `run_code` call and return the message or item that answers it.

        Chat Completions call -> `{"role": "tool", "tool_call_id", "content"}`;
        Responses API `function_call` -> `{"type": "function_call_output", "call_id", "output"}`.
        A run that paused for approval -> a `PendingToolCall` (see `resume`).
        Raises what the model cannot fix (see the module docstring).
        """
        call = _parse_call(tool_call)
        parsed = _parse_arguments(call.arguments, self.stateful)
        if isinstance(parsed, str):
            return _answer(call, parsed)
        if self.state is None:
            reply = self.runner.run(parsed.code)
        else:
            with self._lock:
                if parsed.restart:
                    self.state.restart()
                reply = self.runner.run(parsed.code, state=self.state)
        return _answer(call, reply)

    def resume(self, pending: PendingToolCall, *, approve: bool, reason: str | None = None) -> Any:
        """Go on with a paused `run_code` call once a person decided: approved, the call
        it waits on runs now, once; denied, it raises `PermissionError` (with `reason`)
        in the code at that call. Returns the message (or item) that answers the tool
        call, or a `PendingToolCall` again if the code reaches another call that needs
        approval. A token that is unknown, expired or used raises `ApprovalTokenError`."""
        if not isinstance(pending, PendingToolCall):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"resume() takes the PendingToolCall that handle() returned, not {pending!r}")
        call = _Call(pending.api, pending.call_id, self.name, "")
        if self.state is None:
            reply = self.runner.resume(pending.token, approve=approve, reason=reason)
        else:
            with self._lock:
                reply = self.runner.resume(pending.token, approve=approve, reason=reason)
        return _answer(call, reply)

    async def aresume(self, pending: PendingToolCall, *, approve: bool, reason: str | None = None) -> Any:
        """`resume()` for async code."""
        if not isinstance(pending, PendingToolCall):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"aresume() takes the PendingToolCall that ahandle() returned, not {pending!r}")
        call = _Call(pending.api, pending.call_id, self.name, "")
        if self.state is None:
            reply = await self.runner.aresume(pending.token, approve=approve, reason=reason)
        else:
            async with self._alock:
                reply = await self.runner.aresume(pending.token, approve=approve, reason=reason)
        return _answer(call, reply)

    @overload
    async def ahandle(
        self, tool_call: ChatCompletionMessageToolCallUnion
    ) -> ChatCompletionToolMessageParam | PendingToolCall: ...
    @overload
    async def ahandle(self, tool_call: ResponseFunctionToolCall) -> FunctionCallOutput | PendingToolCall: ...
    @overload
    async def ahandle(self, tool_call: Mapping[str, Any]) -> dict[str, Any] | PendingToolCall: ...
    async def ahandle(self, tool_call: object) -> Any:
        """`handle()` for async code (`openai.AsyncOpenAI`): the sandbox runs off the
        event loop, and async registered functions run on it."""
        call = _parse_call(tool_call)
        parsed = _parse_arguments(call.arguments, self.stateful)
        if isinstance(parsed, str):
            return _answer(call, parsed)
        reply: ToolReply
        if self.state is None:
            reply = await self.runner.arun(parsed.code)
        else:
            async with self._alock:
                if parsed.restart:
                    self.state.restart()
                reply = await self.runner.arun(parsed.code, state=self.state)
        return _answer(call, reply)


def _answer(call: _Call, reply: ToolReply | str) -> Any:
    if isinstance(reply, ToolReply):
        if reply.pending is not None:
            return PendingToolCall(call.call_id, call.api, reply.pending, reply)
        text = reply.text
    else:
        text = reply
    if call.api == "chat":
        return {"role": "tool", "tool_call_id": call.call_id, "content": text}
    return {"type": "function_call_output", "call_id": call.call_id, "output": text}
