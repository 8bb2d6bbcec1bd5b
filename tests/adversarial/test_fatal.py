"""A `FatalToolError` from a registered function stops the run whatever the code
catches, and reaches the caller of `run_code` (CodeRunner, CodeToolset, CodeTool)."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

import agent_tools as at
from agent_tools.adapters.openai import CodeTool


class Outage(at.FatalToolError):
    pass


made: list[int] = []


def down(x: int) -> int:
    raise Outage(f"database is down ({x})")


async def adown(x: int) -> int:
    await asyncio.sleep(0)
    raise Outage(f"database is down ({x})")


def note(x: int) -> int:
    made.append(x)
    return x


CODES = [
    "{f}(1)",
    "try:\n    {f}(1)\nexcept Exception:\n    pass\nnote(2)",
    "try:\n    {f}(1)\nexcept:\n    note(3)\nnote(2)",
    "for i in range(3):\n    try:\n        {f}(i)\n    except Exception as e:\n        note(i)",
    "parallel_map({f}, [1, 2, 3])",
    "try:\n    parallel_map({f}, [1, 2])\nexcept Exception:\n    note(4)",
]


@pytest.fixture(autouse=True)
def fresh() -> None:
    made.clear()


@pytest.mark.parametrize("fn", ["down", "adown"])
@pytest.mark.parametrize("code", CODES)
def test_template_run_stops_at_a_fatal_error_whatever_the_code_catches(fn: str, code: str) -> None:
    t = at.orchestrator_from_str(code.format(f=fn), inputs={}, tasks=[down, adown, note])
    with pytest.raises(at.HostFunctionError) as info:
        t()
    assert isinstance(info.value.__cause__, Outage)
    assert made == []


@pytest.mark.parametrize("fn", ["down", "adown"])
@pytest.mark.parametrize("code", CODES)
def test_code_runner_raises_the_fatal_error_to_its_caller(fn: str, code: str) -> None:
    runner = at.CodeRunner([down, adown, note])
    with pytest.raises(Outage, match="database is down"):
        runner.run(code.format(f=fn))
    assert made == []


@pytest.mark.parametrize("code", CODES[:3])
async def test_code_runner_async_face_raises_it_too(code: str) -> None:
    runner = at.CodeRunner([down, adown, note])
    with pytest.raises(Outage):
        await runner.arun(code.format(f="adown"))
    assert made == []


@pytest.mark.parametrize("code", CODES[1:3])
def test_code_tool_raises_it(code: str) -> None:
    tool = CodeTool([down, note])
    call = {"id": "call_1", "type": "function", "function": {"name": "run_code", "arguments": ""}}
    call["function"]["arguments"] = json.dumps({"code": code.format(f="down")})
    with pytest.raises(Outage):
        tool.handle(call)
    assert made == []


@pytest.mark.parametrize("code", CODES[1:3])
def test_pydantic_ai_agent_run_raises_it(code: str) -> None:
    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[ToolCallPart("run_code", {"code": code.format(f="down")})])

    agent: Agent[None, str] = Agent(FunctionModel(model), toolsets=[at.CodeToolset([down, note])])
    with pytest.raises(Outage):
        agent.run_sync("go")
    assert made == []


def test_an_ordinary_error_is_still_catchable() -> None:
    def flaky(x: int) -> int:
        raise ValueError("try again")

    t = at.orchestrator_from_str(
        "try:\n    flaky(1)\nexcept ValueError:\n    note(5)\n'ok'",
        inputs={},
        output=str,
        tasks=[flaky, note],
    )
    assert t() == "ok"
    assert made == [5]
