"""The offline oracle: a model that plays each task's reference solution through
the full agent stack, so the harness can be tested with no network.

In code mode it sends the task's `reference_program` to `run_code` and answers
with the value that comes back; in tools mode it makes the `reference_plan`'s
tool calls, one batch per turn, and answers with the expected value. In
code-search mode it first looks up, with one `run_code` call to `describe(name)`,
the functions its program uses whose stubs the `run_code` description it was
offered does not show (`def name(` missing: a catalog of names and summaries),
as a model would before calling them; then it plays the program as in code mode.

Its figures (requests, tokens) measure what the oracle does, a perfect model
replaying reference solutions, nothing more. It tests the harness (and that the
references are right), not a model.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from .results import Mode
from .schema import Task

__all__ = ["lookup_program", "oracle_model"]


CODE_FAILED = "The code failed"
"""How a failed `run_code` call's text starts (prompts/error.md): with OpenAI's models the
toolset sends it as the tool's result, not as a retry (`CodeToolset(error_channel=...)`)."""


def failed_tool_return(part: object) -> bool:
    """Whether a tool return is a failed call: a retry, or a `run_code` error sent as
    the tool's result."""
    if getattr(part, "outcome", None) == "retried":
        return True
    content = getattr(part, "content", None)
    return (
        getattr(part, "tool_name", None) == "run_code"
        and isinstance(content, str)
        and (content.startswith(CODE_FAILED))
    )


def _answer(value: Any) -> str:
    return json.dumps(value)


def _responses_so_far(messages: list[ModelMessage]) -> int:
    return sum(1 for m in messages if isinstance(m, ModelResponse))


def _last_tool_reply(messages: list[ModelMessage]) -> tuple[str, bool]:
    """(text, failed) of the last tool reply the model received."""
    request = messages[-1]
    assert isinstance(request, ModelRequest)
    for part in reversed(request.parts):
        kind = getattr(part, "part_kind", "")
        if kind == "retry-prompt":
            return str(part.model_response()), True  # type: ignore[attr-defined]
        if kind == "tool-return":
            failed = failed_tool_return(part)
            return str(part.content), failed  # type: ignore[attr-defined]
    return "", True


def lookup_program(task: Task, info: AgentInfo) -> str | None:
    """The `run_code` program that fetches the full stubs of the functions `task`'s reference
    program uses and the offered `run_code` description does not show; None when it shows all."""
    description = next((t.description or "" for t in info.function_tools if t.name == "run_code"), "")
    unseen = [name for name in task.functions if f"def {name}(" not in description]
    if not unseen:
        return None
    return "{" + ", ".join(f"{name!r}: describe({name!r})" for name in unseen) + "}\n"


def oracle_model(task: Task, mode: Mode) -> FunctionModel:
    """A fresh oracle for one run of `task` in `mode`."""

    def code_mode(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        lookup = lookup_program(task, info) if mode == "code-search" else None
        programs = [*([lookup] if lookup else []), task.reference_program]
        step = _responses_so_far(messages)
        if step < len(programs):
            return ModelResponse(parts=[ToolCallPart("run_code", {"code": programs[step]})])
        text, failed = _last_tool_reply(messages)
        if failed:
            return ModelResponse(parts=[TextPart(f"run_code failed: {text}")])
        return ModelResponse(parts=[TextPart(_answer(json.loads(text)["result"]))])

    def tools_mode(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        step = _responses_so_far(messages)
        if step < len(task.reference_plan):
            calls = [
                ToolCallPart(call.tool, call.args, tool_call_id=f"oracle-{step}-{i}")
                for i, call in enumerate(task.reference_plan[step])
            ]
            return ModelResponse(parts=list(calls))
        return ModelResponse(parts=[TextPart(_answer(task.expected))])

    return FunctionModel(tools_mode if mode == "tools" else code_mode, model_name=f"oracle-{mode}")
