"""The pydantic-ai adapter: CodeToolset end to end with FunctionModel scripts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic_ai import Agent, RunContext, Tool
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

import agent_tools as at
from agent_tools.adapters.pydantic_ai import CodeToolset

PRICES = {"apple": 1.5, "pear": 2.0}


def get_price(item: str) -> float:
    """Unit price of an item, in euros."""
    return PRICES[item]


def get_stock(item: str, warehouse: str = "main") -> int:
    """Units of an item in stock."""
    return {"apple": 10, "pear": 4}[item]


def last_request_parts(messages: list[ModelMessage]) -> list[Any]:
    request = messages[-1]
    assert isinstance(request, ModelRequest)
    return list(request.parts)


def text_of(part: Any) -> str:
    """What the model reads of a tool's reply; `retried` says it was a ModelRetry
    (this pydantic-ai reports those as a ToolReturnPart with outcome "retried")."""
    if isinstance(part, RetryPromptPart):
        return part.model_response()
    return str(part.content)


def was_retry(part: Any) -> bool:
    return isinstance(part, RetryPromptPart) or getattr(part, "outcome", None) == "retried"


def scripted(*steps: Any) -> FunctionModel:
    """A model that plays `steps` in order: a str is a final answer, a dict the args of
    a run_code call; a callable step gets the messages and returns one of those."""
    seen: list[list[ModelMessage]] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(messages)
        step = steps[len(seen) - 1]
        if callable(step):
            step = step(messages)
        if isinstance(step, str):
            return ModelResponse(parts=[TextPart(step)])
        return ModelResponse(parts=[ToolCallPart("run_code", step, tool_call_id=f"call-{len(seen)}")])

    fm = FunctionModel(model)
    fm.seen = seen  # type: ignore[attr-defined]
    return fm


def test_run_code_calls_two_functions_and_aggregates() -> None:
    code = "total = 0\nfor item in ['apple', 'pear']:\n    total += get_price(item) * get_stock(item)\ntotal"
    returned: list[str] = []

    def answer(messages: list[ModelMessage]) -> str:
        part = last_request_parts(messages)[0]
        assert isinstance(part, ToolReturnPart)
        returned.append(str(part.content))
        return f"the stock is worth {json.loads(part.content)['result']} euros"

    toolset = CodeToolset([get_price, get_stock])
    agent = Agent(scripted({"code": code}, answer), toolsets=[toolset])
    result = agent.run_sync("what is the stock worth?")
    assert result.output == "the stock is worth 23.0 euros"
    assert returned == ['{"result":23.0}']
    usage = result.usage() if callable(result.usage) else result.usage  # a method before pydantic-ai 2.6x
    assert usage.tool_calls == 1 + 4  # run_code itself and its four host calls


def test_a_mistake_comes_back_as_model_retry_and_gets_fixed() -> None:
    retry_texts: list[str] = []

    def fix(messages: list[ModelMessage]) -> dict[str, str]:
        part = last_request_parts(messages)[0]
        assert was_retry(part)
        retry_texts.append(text_of(part))
        return {"code": "x = get_price('apple')\nx * 2"}

    def answer(messages: list[ModelMessage]) -> str:
        part = last_request_parts(messages)[0]
        assert isinstance(part, ToolReturnPart)
        return str(part.content)

    agent = Agent(
        scripted({"code": "x = get_price('apple')\nimport heapq\nx"}, fix, answer),
        toolsets=[CodeToolset([get_price], type_check=False)],
    )
    assert agent.run_sync("double the apple price").output == '{"result":3.0}'
    text = retry_texts[0]
    assert "> 2 | import heapq" in text
    assert "hint: `heapq` is not available" in text
    assert "get_price('apple') -> 1.5" in text  # the call already made


def test_type_check_stops_a_wrong_call_before_any_host_call() -> None:
    calls: list[str] = []

    def send(to: str, body: str) -> bool:
        """Send a message."""
        calls.append(to)
        return True

    retry: list[str] = []

    def fix(messages: list[ModelMessage]) -> dict[str, str]:
        part = last_request_parts(messages)[0]
        assert was_retry(part)
        retry.append(text_of(part))
        return {"code": "send('a', 'hi')\nsend('b', 'hi')"}

    agent = Agent(
        scripted({"code": "send('a', 'hi')\nsend('b', text='hi')"}, fix, "done"),
        toolsets=[CodeToolset([send])],
    )
    assert agent.run_sync("send").output == "done"
    assert calls == ["a", "b"]  # the first script sent nothing
    assert "unknown-argument" in retry[0] or "does not match any known parameter" in retry[0]


def test_description_lists_every_function_with_its_signature_and_the_capability_sheet() -> None:
    toolset = CodeToolset([get_price, get_stock])
    tool = toolset.tools["run_code"]
    description = tool.description or ""
    assert "def get_price(item: str) -> float:" in description
    assert '"""Unit price of an item, in euros."""' in description
    assert "def get_stock(item: str, warehouse: str = 'main') -> int:" in description
    assert "parallel_map" in description
    assert at.capabilities.capability_sheet().strip() in description


@dataclass
class Deps:
    user: str


def whoami(ctx: RunContext[Deps], greeting: str) -> str:
    """Greets the current user."""
    return f"{greeting}, {ctx.deps.user}"


async def shout(ctx: RunContext[Deps], text: str) -> str:
    return text.upper() + "!" * len(ctx.deps.user)


def test_functions_taking_run_context_get_it_and_tools_are_accepted() -> None:
    toolset = CodeToolset([whoami, Tool(shout, name="yell"), Tool(get_price, name="price_of")])
    description = toolset.tools["run_code"].description or ""
    assert "def whoami(greeting: str) -> str:" in description
    assert "def yell(text: str) -> str:" in description
    assert "def price_of(item: str) -> float:" in description

    def answer(messages: list[ModelMessage]) -> str:
        return text_of(last_request_parts(messages)[0])

    agent = Agent(
        scripted({"code": "[whoami('hi'), yell('hey'), price_of('pear')]"}, answer),
        toolsets=[toolset],
        deps_type=Deps,
    )
    assert agent.run_sync("go", deps=Deps(user="ann")).output == '{"result":["hi, ann","HEY!!!",2.0]}'


def test_a_fatal_host_error_is_raised_to_the_caller() -> None:
    def broken(item: str) -> float:
        raise at.FatalToolError("the price database is down")

    agent = Agent(scripted({"code": "broken('apple')"}, "unreachable"), toolsets=[CodeToolset([broken])])
    with pytest.raises(at.FatalToolError, match="database is down"):
        agent.run_sync("price?")


def test_large_results_are_cut_with_a_marker() -> None:
    returned: list[str] = []

    def answer(messages: list[ModelMessage]) -> str:
        returned.append(str(last_request_parts(messages)[0].content))
        return "ok"

    agent = Agent(
        scripted({"code": "'x' * 5000"}, answer), toolsets=[CodeToolset([get_price], max_result_chars=1000)]
    )
    agent.run_sync("big")
    assert returned[0].startswith('{"result":"xxx')
    assert "[truncated: 4013 of 5013 characters cut" in returned[0]


def test_state_persists_within_a_run_and_restart_clears_it() -> None:
    outputs: list[str] = []

    def step(args: dict[str, Any]) -> Any:
        def play(messages: list[ModelMessage]) -> dict[str, Any]:
            outputs.append(text_of(last_request_parts(messages)[0]))
            return args

        return play

    agent = Agent(
        scripted(
            {"code": "base = get_price('apple')\ndef twice(v):\n    return v * 2"},
            step({"code": "twice(base)"}),
            step({"code": "base", "restart": True}),
            step({"code": "1"}),
            "done",
        ),
        toolsets=[CodeToolset([get_price], stateful=True, type_check=False)],
    )
    agent.run_sync("go")
    assert outputs[1] == '{"result":3.0}'
    assert "name 'base' is not defined" in outputs[2]


def test_stateless_by_default() -> None:
    seen: list[str] = []

    def second(messages: list[ModelMessage]) -> dict[str, str]:
        return {"code": "x"}

    def answer(messages: list[ModelMessage]) -> str:
        seen.append(text_of(last_request_parts(messages)[0]))
        return "done"

    agent = Agent(
        scripted({"code": "x = 1"}, second, answer), toolsets=[CodeToolset([get_price], type_check=False)]
    )
    agent.run_sync("go")
    assert "name 'x' is not defined" in seen[0]


def test_spans_per_run_code_and_per_host_call() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from pydantic_ai.capabilities.instrumentation import Instrumentation
    from pydantic_ai.models.instrumented import InstrumentationSettings

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    agent = Agent(
        scripted({"code": "get_price('apple') + get_price('pear')"}, "done"),
        toolsets=[CodeToolset([get_price])],
        capabilities=[Instrumentation(settings=InstrumentationSettings(tracer_provider=provider))],
    )
    agent.run_sync("sum")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert "run_code" in spans
    hosts = [s for s in exporter.get_finished_spans() if s.name == "host call get_price"]
    assert len(hosts) == 2
    run_code = spans["run_code"]
    for host in hosts:
        assert host.parent is not None and host.parent.span_id == run_code.context.span_id
        assert run_code.start_time <= host.start_time <= host.end_time <= run_code.end_time
