"""Counting what the model reads and writes, per request, with the tool definitions included.

A model is billed (and its context filled) by everything a request carries, not only by
the conversation: the instructions, and the definition of every tool it is offered (name,
description and JSON schema), sent again with every request. Code mode trades many small
tool definitions for one large one (`run_code`, whose description carries the catalog),
so a comparison that leaves the definitions out flatters it.

`MeteredModel` wraps the model of one agent run and counts, for each request, from what
the request really carries:

- system: the instructions in force and any system prompt parts;
- definitions: name + description + JSON schema of every tool offered (function tools
  and output tools), as the agent built them for this request (after any `prepare`);
- messages: the whole history sent (user prompts, the model's earlier text and tool
  calls, tool returns and retry prompts);
- response: what the model answered (text, tool calls).

Tokens are estimated the way the harness always has for the offline oracle, with
pydantic-ai's test-model rule (`estimate_tokens`: the text split on whitespace and the
characters `",.:`), not a model's tokenizer: a real tokenizer counts more tokens for
code and JSON, so compare the modes with these figures, not the absolute numbers with a
bill. Characters are counted beside the tokens, as a tokenizer-free cross-check.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pydantic_ai import RunContext
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
    UserContent,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition

__all__ = [
    "TOKEN_METHOD",
    "MeteredModel",
    "RequestCount",
    "count_request",
    "definition_text",
    "definition_tokens",
    "estimate_tokens",
]

TOKEN_METHOD = (
    "estimated: text split on whitespace and the characters \",.: (pydantic-ai's test-model estimate, "
    "as used for the oracle's usage), not a model's tokenizer"
)
"""How `estimate_tokens` counts, as the reports say it."""

_SPLIT = re.compile(r'[\s",.:]+')


def estimate_tokens(text: str) -> int:
    """Tokens in `text` by pydantic-ai's test-model estimate (the pieces left after splitting on
    whitespace and `",.:`); 0 for blank text."""
    stripped = text.strip()
    return len(_SPLIT.split(stripped)) if stripped else 0


def definition_text(tool: ToolDefinition) -> str:
    """What one tool definition puts in a request: its name, description and JSON schema."""
    schema = json.dumps(tool.parameters_json_schema, ensure_ascii=False)
    return "\n".join([tool.name, tool.description or "", schema])


def definition_tokens(tools: Iterable[ToolDefinition]) -> int:
    """The tokens of every definition in `tools`, each counted on its own and summed."""
    return sum(estimate_tokens(definition_text(t)) for t in tools)


@dataclass
class RequestCount:
    """One model request: tokens (and characters) by part. `input` = system + definitions + messages."""

    system: int = 0
    definitions: int = 0
    messages: int = 0
    response: int = 0
    tools_offered: int = 0
    """How many tool definitions the request carried."""
    system_chars: int = 0
    definition_chars: int = 0
    message_chars: int = 0
    response_chars: int = 0

    @property
    def input(self) -> int:
        return self.system + self.definitions + self.messages

    @property
    def total(self) -> int:
        return self.input + self.response


@dataclass
class _Tally:
    tokens: int = 0
    chars: int = 0

    def add(self, text: str) -> None:
        self.tokens += estimate_tokens(text)
        self.chars += len(text)


def _content_text(content: str | Sequence[UserContent]) -> str:
    """A user prompt's text: a string, or the text items of a multi-part prompt (images and
    files are not counted)."""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for item in content:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, TextContent):
            texts.append(item.content)
    return "\n".join(texts)


def _response_texts(response: ModelResponse) -> list[str]:
    texts: list[str] = []
    for part in response.parts:
        if isinstance(part, (TextPart, ThinkingPart)):
            texts.append(part.content)
        elif isinstance(part, BaseToolCallPart):
            texts.append(f"{part.tool_name} {part.args_as_json_str()}")
        elif isinstance(part, BaseToolReturnPart):
            texts.append(part.model_response_str())
    return texts


def _instructions(messages: Sequence[ModelMessage], params: ModelRequestParameters) -> str:
    """The instructions this request carries: the parameters' parts as the agent set them, or (for a
    direct `model.request()`) those of the latest request in the history that has some."""
    if params.instruction_parts is not None:
        return "\n\n".join(p.content for p in params.instruction_parts)
    for message in reversed(messages):
        if isinstance(message, ModelRequest) and message.instructions is not None:
            return message.instructions
    return ""


def count_request(messages: Sequence[ModelMessage], params: ModelRequestParameters) -> RequestCount:
    """The input side of one request: system, definitions and messages (the response is added later)."""
    system, definitions, history = _Tally(), _Tally(), _Tally()
    instructions = _instructions(messages, params)
    if instructions:
        system.add(instructions)
    tools = [*params.function_tools, *params.output_tools]
    for tool in tools:
        definitions.add(definition_text(tool))
    for message in messages:
        if isinstance(message, ModelResponse):
            for text in _response_texts(message):
                history.add(text)
            continue
        for part in message.parts:
            if isinstance(part, SystemPromptPart):
                system.add(part.content)
            elif isinstance(part, UserPromptPart):
                history.add(_content_text(part.content))
            elif isinstance(part, BaseToolReturnPart):
                history.add(part.model_response_str())
            elif isinstance(part, RetryFeedbackPart):
                history.add(part.model_response())
            else:  # the deprecated RetryPromptPart, should a hand-made history hold one
                response = getattr(part, "model_response", None)
                if callable(response):
                    history.add(str(response()))  # pyright: ignore[reportUnknownArgumentType]
    return RequestCount(
        system=system.tokens,
        definitions=definitions.tokens,
        messages=history.tokens,
        tools_offered=len(tools),
        system_chars=system.chars,
        definition_chars=definitions.chars,
        message_chars=history.chars,
    )


def _with_response(count: RequestCount, response: ModelResponse) -> RequestCount:
    for text in _response_texts(response):
        count.response += estimate_tokens(text)
        count.response_chars += len(text)
    return count


class MeteredModel(WrapperModel):
    """Forwards every request to `wrapped` and appends its `RequestCount` to `requests`.

    Wrap the model of one agent run (outside any recording or replaying wrapper): the counts
    are taken from the messages and parameters the agent hands over, so they hold for any
    model, the oracle, a real one, or a replayed cassette.
    """

    def __init__(self, wrapped: Any) -> None:
        super().__init__(wrapped)
        self.requests: list[RequestCount] = []
        self.messages: list[ModelMessage] = []
        """The run's conversation so far: the last request's history and the response to it (for
        the transcript, which a run that raised has too)."""

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        count = count_request(messages, model_request_parameters)
        self.messages = list(messages)
        response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        self.requests.append(_with_response(count, response))
        self.messages.append(response)
        return response

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncGenerator[StreamedResponse]:
        """A streamed response is counted once the caller is done with it."""
        count = count_request(messages, model_request_parameters)
        self.messages = list(messages)
        async with self.wrapped.request_stream(
            messages, model_settings, model_request_parameters, run_context
        ) as stream:
            yield stream
            response = stream.get()
            self.requests.append(_with_response(count, response))
            self.messages.append(response)
