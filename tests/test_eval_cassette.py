"""Cassettes: a run recorded once replays offline with the same answers and token counts.

The first tests record a scripted `FunctionModel` and replay it with `ReplayModel`. The
last ones go through the real `openai` client: a loopback server (stdlib
`ThreadingHTTPServer`, port 0, stopped after each test) serves the raw chat-completion
bodies of `tests/cassettes/openai_run_code.json`, so the OpenAI wire format, the
`run_code` tool and the recording of a real model's run are all exercised without a
network or an API key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic_ai import Agent, AgentRunResult
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.usage import RequestUsage

from agent_tools import CodeToolset
from evals.cassette import CassetteError, RecordingModel, ReplayModel, cassette_path

from .conftest import add
from .loopback import serve_json

OPENAI_CASSETTE = Path(__file__).parent / "cassettes" / "openai_run_code.json"


# -- a scripted model: one tool call, then the answer ---------------------------------------


@dataclass
class Script:
    """A `FunctionModel` that calls `add(2, 3)`, then answers with what the tool returned."""

    calls: int = 0

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.calls += 1
        if self.calls == 1:
            return ModelResponse(
                parts=[ToolCallPart("add", {"a": 2, "b": 3}, tool_call_id="call-1")],
                usage=RequestUsage(input_tokens=120, output_tokens=15),
            )
        last = messages[-1]
        assert isinstance(last, ModelRequest)
        (tool_return,) = [p for p in last.parts if isinstance(p, ToolReturnPart)]
        return ModelResponse(
            parts=[TextPart(f"the sum is {tool_return.content}")],
            usage=RequestUsage(input_tokens=150, output_tokens=6),
        )

    @property
    def model(self) -> FunctionModel:
        return FunctionModel(self, model_name="scripted-model")


async def record(path: Path) -> tuple[Script, AgentRunResult[str]]:
    script = Script()
    result = await Agent(RecordingModel(script.model, path), tools=[add]).run("what is 2 + 3?")
    return script, result


def test_cassette_path() -> None:
    assert cassette_path(Path("/c"), "orders-top", "code", 2) == Path("/c/orders-top/code-2.json")
    with pytest.raises(ValueError):
        cassette_path(Path("/c"), "../escape", "code", 0)


async def test_recording_writes_every_exchange(tmp_path: Path) -> None:
    path = cassette_path(tmp_path, "sum", "tools", 0)
    script, result = await record(path)

    assert result.output == "the sum is 5"
    assert script.calls == 2
    data = json.loads(path.read_text())
    assert data["model_name"] == "scripted-model" and data["system"] == "function"
    assert len(data["exchanges"]) == 2
    first, second = data["exchanges"]
    assert first["response"]["parts"][0]["tool_name"] == "add"
    assert first["response"]["usage"]["input_tokens"] == 120
    # The second request holds what the tool returned.
    returns = [p for m in second["request"] for p in m["parts"] if p["part_kind"] == "tool-return"]
    assert [p["content"] for p in returns] == [5]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left behind


async def test_replay_gives_the_same_output_and_usage_without_the_model(tmp_path: Path) -> None:
    path = tmp_path / "sum.json"
    script, recorded = await record(path)

    replay = ReplayModel(path)
    assert replay.model_name == "scripted-model" and replay.system == "function"
    replayed = await Agent(replay, tools=[add]).run("what is 2 + 3?")

    assert script.calls == 2  # the scripted model was not asked again
    assert replayed.output == recorded.output == "the sum is 5"
    assert replayed.usage.input_tokens == recorded.usage.input_tokens == 270
    assert replayed.usage.output_tokens == recorded.usage.output_tokens == 21
    assert replayed.usage.requests == recorded.usage.requests == 2
    assert replay.remaining == 0 and replay.divergences == []


async def test_replay_of_a_streamed_run(tmp_path: Path) -> None:
    path = tmp_path / "sum.json"
    _, recorded = await record(path)
    async with Agent(ReplayModel(path), tools=[add]).run_stream("what is 2 + 3?") as stream:
        output = await stream.get_output()
    assert output == recorded.output
    assert stream.usage.input_tokens == 270


async def test_recording_a_streamed_run(tmp_path: Path) -> None:
    async def stream_script(
        messages: list[ModelMessage], info: AgentInfo
    ) -> AsyncIterator[str | DeltaToolCalls]:
        if len(messages) == 1:
            yield {0: DeltaToolCall(name="add", json_args='{"a": 2, "b": 3}', tool_call_id="call-1")}
        else:
            yield "the sum "
            yield "is 5"

    path = tmp_path / "stream.json"
    agent = Agent(RecordingModel(FunctionModel(stream_function=stream_script), path), tools=[add])
    async with agent.run_stream("what is 2 + 3?") as stream:
        output = await stream.get_output()
    assert output == "the sum is 5"
    exchanges = json.loads(path.read_text())["exchanges"]
    assert len(exchanges) == 2
    assert exchanges[1]["response"]["parts"][0]["content"] == "the sum is 5"

    replayed = await Agent(ReplayModel(path), tools=[add]).run("what is 2 + 3?")
    assert replayed.output == "the sum is 5"


def test_missing_cassette_is_a_clear_error(tmp_path: Path) -> None:
    path = cassette_path(tmp_path, "never-recorded", "code", 0)
    with pytest.raises(CassetteError, match=r"never-recorded/code-0\.json not found"):
        ReplayModel(path)


async def test_running_past_the_end_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "sum.json"
    await record(path)
    data = json.loads(path.read_text())
    data["exchanges"] = data["exchanges"][:1]  # as if the recorded run had stopped after the tool call
    path.write_text(json.dumps(data))

    with pytest.raises(
        CassetteError, match=r"sum\.json exhausted: it holds 1 responses and the run made request 2"
    ):
        await Agent(ReplayModel(path), tools=[add]).run("what is 2 + 3?")


def test_an_invalid_cassette_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(CassetteError, match=r"broken\.json is not a valid cassette"):
        ReplayModel(path)


async def test_a_run_that_differs_from_the_recording_is_noted_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "sum.json"
    await record(path)

    def add(a: int, b: int) -> int:  # changed since the recording
        return a * b

    replay = ReplayModel(path)
    await Agent(replay, tools=[add]).run("what is 2 + 3?")
    assert replay.divergences == ["request 2 differs from the recorded one"]

    with pytest.raises(CassetteError, match="request 2 differs"):
        await Agent(ReplayModel(path, strict=True), tools=[add]).run("what is 2 + 3?")


# -- the real openai client against a loopback server ---------------------------------------


@dataclass
class LoopbackOpenAI:
    """Serves the cassette's chat-completion bodies in order and keeps every request body."""

    responses: list[dict[str, Any]]
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append(body)
            if path != "/v1/chat/completions":
                return 404, {"error": {"message": f"no route {path}", "type": "test"}}
            if not self.responses:
                return 500, {"error": {"message": "the cassette has no response left", "type": "test"}}
            return 200, self.responses.pop(0)


@pytest.fixture
def loopback() -> Iterator[LoopbackOpenAI]:
    """The cassette served on a free loopback port; the server is always shut down afterwards."""
    state = LoopbackOpenAI(responses=json.loads(OPENAI_CASSETTE.read_text())["responses"])
    with serve_json(state.answer) as url:
        state.url = url
        yield state


async def test_a_cassette_through_the_real_openai_client(loopback: LoopbackOpenAI, tmp_path: Path) -> None:
    # No retries (a wrong request should fail at once) and no proxy from the environment.
    client = openai.AsyncOpenAI(
        base_url=loopback.url,
        api_key="test",
        max_retries=0,
        timeout=10,
        http_client=openai.DefaultAsyncHttpxClient(trust_env=False),
    )
    model = OpenAIChatModel("gpt-4.1-mini", provider=OpenAIProvider(openai_client=client))
    recording = tmp_path / "openai.json"
    try:
        agent = Agent(RecordingModel(model, recording), toolsets=[CodeToolset([add])])
        result = await agent.run("What is add(2, 3) times 10?")
    finally:
        await client.close()

    assert result.output == "50"
    assert result.usage.input_tokens == 321 + 352 and result.usage.output_tokens == 19 + 2

    first, second = loopback.requests
    assert first["model"] == "gpt-4.1-mini"
    assert [t["function"]["name"] for t in first["tools"]] == ["run_code"]
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_run_code_1"
    assert json.loads(tool_message["content"]) == {"result": 50}

    # What RecordingModel wrote from the real client's run replays offline, to the same result.
    replay = ReplayModel(recording)
    assert (replay.system, replay.model_name) == ("openai", "gpt-4.1-mini")
    replayed = await Agent(replay, toolsets=[CodeToolset([add])]).run("What is add(2, 3) times 10?")
    assert replayed.output == "50"
    assert (replayed.usage.input_tokens, replayed.usage.output_tokens) == (673, 21)
    assert replay.divergences == [] and len(loopback.requests) == 2
