"""A pydantic-ai toolset's tools as functions the sandboxed code calls.

`CodeToolset([FunctionToolset(...), MCPServerStdio(...), other.filtered(...)])` lists
each inner toolset's tools at every run step through the toolset's own
`get_tools(ctx)`, and each call from the code goes through its `call_tool`, after
the arguments are validated by the tool's own validator, exactly as a plain `Agent`
would call it: `prepare`, filters, prefixes, renames and MCP behave as they do there.
A tool's signature comes from its JSON schema (`sandbox.schema`), so the catalog and
the pre-flight check see typed parameters. A tool that needs approval, or is
deferred, is listed but stops the run when called (see `pydantic_ai_guards`).
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.toolsets import AbstractToolset
from pydantic_ai.toolsets.abstract import ToolsetTool

from agent_tools.adapters.pydantic_ai_guards import (
    catalog_note,
    dress,
    guarded,
    refused,
    run_context,
    tool_ctx,
)
from agent_tools.base.approval import APPROVAL_ATTR, ApprovalRule
from agent_tools.sandbox.schema import PARAM_DOCS, signature_from_schema

__all__ = ["SourceTool", "ToolsetSource", "step_tools"]

step_tools: contextvars.ContextVar[dict[tuple[int, str], ToolsetTool[Any]] | None] = contextvars.ContextVar(
    "agent_tools_step_tools", default=None
)
"""The inner toolsets' tools as the step being served listed them, by (source id, tool
name): a call uses the tool object of its own step (and agent run)."""


@dataclass(frozen=True)
class ToolKey:
    """What makes two listings of a tool the same function for the code: a tool whose
    name, kind, description and schemas do not change keeps its built callable."""

    name: str
    kind: str
    description: str | None
    schema: str
    """The JSON of its parameters and return schemas."""


class SourceTool:
    """One tool of an inner toolset, as the code calls it."""

    def __init__(self, source: ToolsetSource, key: ToolKey, tool: ToolsetTool[Any]) -> None:
        self.source = source
        self.key = key
        self.name = key.name
        tool_def = tool.tool_def
        self.built = signature_from_schema(
            tool_def.name, tool_def.parameters_json_schema, getattr(tool_def, "return_schema", None)
        )
        self.doc = tool_def.description

    def host_callable(self, entry: Any) -> Callable[..., Any]:
        """The sandbox's function for this tool: binds the code's arguments to the
        schema's properties, validates them with the tool's validator and calls the
        toolset, with the serving run's context named for the tool."""
        name, original, source = entry.name, self.key.name, self.source
        built = self.built
        doc = self.doc or ""
        if original != name:
            doc = f"(the tool {original!r})\n\n{doc}".strip()
        if entry.kind in ("function", "unapproved"):

            async def call(*args: Any, **kwargs: Any) -> Any:
                arguments = built.arguments(*args, **kwargs)
                ctx = run_context.get()
                tool = (step_tools.get() or {}).get((id(source), original))
                if ctx is None or tool is None:
                    raise RuntimeError(f"{name}: called outside the agent run step that listed it")
                validated = tool.args_validator.validate_python(arguments)
                return await source.toolset.call_tool(original, validated, tool_ctx(ctx, original), tool)

            wrapper = guarded(call, name, True)
            # A tool that needs approval waits on every call; any other may ask at call
            # time (a toolset behind `approval_required()` raises ApprovalRequired).
            setattr(wrapper, APPROVAL_ATTR, ApprovalRule(self_decides=entry.kind == "function"))
        else:
            wrapper = refused(name, entry.kind, True)
        if entry.kind != "function":
            note = catalog_note(name, entry.kind)
            doc = f"{doc}\n\n{note}" if doc and '"""' not in doc else note
        dress(wrapper, name, doc or None, built.signature)
        setattr(wrapper, PARAM_DOCS, dict(built.descriptions))
        return wrapper


class ToolsetSource:
    """An inner pydantic-ai toolset of a `CodeToolset`."""

    def __init__(self, toolset: AbstractToolset[Any]) -> None:
        self.toolset = toolset
        self._tools: dict[ToolKey, SourceTool] = {}

    async def listing(self, ctx: RunContext[Any]) -> list[tuple[SourceTool, ToolsetTool[Any]]]:
        """This step's tools: the stable function objects, with the step's tool objects."""
        listed = await self.toolset.get_tools(ctx)
        out: list[tuple[SourceTool, ToolsetTool[Any]]] = []
        for name, tool in listed.items():
            tool_def = tool.tool_def
            schemas = json.dumps(
                [tool_def.parameters_json_schema, getattr(tool_def, "return_schema", None)],
                sort_keys=True,
                default=str,
            )
            key = ToolKey(name, tool_def.kind, tool_def.description, schemas)
            made = self._tools.get(key)
            if made is None:
                if len(self._tools) >= 1024:
                    self._tools.pop(next(iter(self._tools)))
                made = self._tools[key] = SourceTool(self, key, tool)
            out.append((made, tool))
        return out
