"""`CodeToolset` over other pydantic-ai toolsets and mappings: each inner toolset's
tools are listed per step through its own `get_tools`, called through its own
`call_tool` with validated arguments, typed in the catalog from their schemas, and a
tool that needs approval fails closed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, RunContext, Tool
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import FunctionToolset

import agent_tools as at


@dataclass
class Script:
    """A scripted model: each step sends the next code (or a final answer), and keeps
    what the model read: the run_code description and each tool return."""

    codes: list[str]
    descriptions: list[str] = field(default_factory=lambda: [])
    returns: list[str] = field(default_factory=lambda: [])

    def model(self) -> FunctionModel:
        def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            tool = next(t for t in info.function_tools if t.name == "run_code")
            self.descriptions.append(tool.description or "")
            last = messages[-1]
            if isinstance(last, ModelRequest):
                self.returns += [
                    str(getattr(p, "content", "")) for p in last.parts if p.part_kind != "user-prompt"
                ]
            step = sum(isinstance(m, ModelResponse) for m in messages)
            if step < len(self.codes):
                call = ToolCallPart("run_code", {"code": self.codes[step]}, tool_call_id=f"c{step}")
                return ModelResponse(parts=[call])
            return ModelResponse(parts=[TextPart("done")])

        return FunctionModel(respond)


def run(toolset: at.CodeToolset, *codes: str, deps: Any = None) -> Script:
    script = Script(list(codes))
    agent = Agent(script.model(), toolsets=[toolset], deps_type=type(deps))
    assert agent.run_sync("go", deps=deps).output == "done"
    return script


def weather_tools(calls: list[tuple[str, dict[str, Any]]]) -> FunctionToolset[Any]:
    tools: FunctionToolset[Any] = FunctionToolset()

    @tools.tool_plain
    def get_weather(city: str, unit: Literal["c", "f"] = "c") -> dict[str, Any]:
        """Current weather of a city.

        Args:
            city: the city's name
            unit: temperature unit
        """
        calls.append(("get_weather", {"city": city, "unit": unit}))
        return {"city": city, "temp": 21 if unit == "c" else 70}

    @tools.tool
    def whoami(ctx: RunContext[str]) -> str:
        """The user of this run."""
        calls.append(("whoami", {"tool": ctx.tool_name}))
        return ctx.deps

    return tools


def test_a_function_toolset_is_called_through_its_own_call_tool() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    toolset = at.CodeToolset([weather_tools(calls)])
    script = run(
        toolset,
        "a = get_weather('Oslo')\nb = get_weather(city='Rome', unit='f')\n[a['temp'], b['temp'], whoami()]",
        deps="ann",
    )
    assert script.returns[0] == '{"result":[21,70,"ann"]}'
    assert calls == [
        ("get_weather", {"city": "Oslo", "unit": "c"}),
        ("get_weather", {"city": "Rome", "unit": "f"}),
        ("whoami", {"tool": "whoami"}),
    ]
    catalog = script.descriptions[0]
    assert "def get_weather(city: str, unit: Literal['c', 'f'] = 'c')" in catalog
    assert "def whoami()" in catalog


def test_a_wrong_call_to_a_toolset_tool_is_refused_before_any_tool_runs() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    script = run(
        at.CodeToolset([weather_tools(calls)]), "whoami()\nget_weather(town='Oslo')", "1", deps="ann"
    )
    assert calls == []
    assert "unknown-argument" in script.returns[0] and "town" in script.returns[0]
    script = run(
        at.CodeToolset([weather_tools(calls)]), "whoami()\nget_weather('Oslo', unit='k')", "1", deps="ann"
    )
    assert calls == []
    assert "invalid-argument-type" in script.returns[0]


def test_filtered_prefixed_and_renamed_toolsets_behave_as_for_an_agent() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    inner = weather_tools(calls)
    filtered = inner.filtered(lambda ctx, tool_def: tool_def.name != "whoami")
    script = run(at.CodeToolset([filtered]), "get_weather('Oslo')['temp']", deps="ann")
    assert script.returns[0] == '{"result":21}'
    assert "whoami" not in script.descriptions[0]
    script = run(at.CodeToolset([filtered]), "whoami()", "1", deps="ann")
    assert "whoami" in script.returns[0] and calls[-1][0] == "get_weather"  # whoami never ran

    prefixed = weather_tools(calls).prefixed("wx")
    script = run(at.CodeToolset([prefixed]), "wx_get_weather('Oslo')['city']", deps="ann")
    assert script.returns[0] == '{"result":"Oslo"}'

    renamed = weather_tools(calls).renamed({"forecast": "get_weather"})
    script = run(at.CodeToolset([renamed]), "forecast(city='Rome')['city']", deps="ann")
    assert script.returns[0] == '{"result":"Rome"}'


def test_a_prepared_toolset_decides_per_step() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    async def first_step_only(ctx: RunContext[str], tool_defs: list[Any]) -> list[Any]:
        return tool_defs if ctx.run_step <= 1 else []

    prepared = weather_tools(calls).prepared(first_step_only)
    script = run(at.CodeToolset([prepared]), "get_weather('Oslo')['temp']", "get_weather('Rome')", deps="ann")
    assert script.returns[0] == '{"result":21}'
    assert "get_weather" in script.returns[1] and calls == [("get_weather", {"city": "Oslo", "unit": "c"})]
    assert "def get_weather" in script.descriptions[0] and "def get_weather" not in script.descriptions[1]


def test_a_tool_needing_approval_is_listed_and_waits_for_a_person() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    guarded = weather_tools(calls).approval_required(
        lambda ctx, tool_def, args: tool_def.name == "get_weather"
    )
    script = Script(["try:\n    t = get_weather('Oslo')['temp']\nexcept Exception:\n    t = -1\nt"])
    agent = Agent(
        script.model(),
        toolsets=[at.CodeToolset([guarded])],
        deps_type=str,
        output_type=[str, DeferredToolRequests],
    )
    first = agent.run_sync("go", deps="a")
    assert isinstance(first.output, DeferredToolRequests)  # waiting, and the code could not catch it
    assert calls == []
    assert (
        first.output.metadata[first.output.approvals[0].tool_call_id]["call"]
        == "get_weather(city='Oslo', unit='c')"
    )
    second = agent.run_sync(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={first.output.approvals[0].tool_call_id: True}),
        deps="a",
    )
    assert second.output == "done"
    assert calls == [("get_weather", {"city": "Oslo", "unit": "c"})]  # approved, it ran once
    assert script.returns[-1] == '{"result":21}'


def test_mappings_and_callables_mix_with_toolsets() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def triple(x: int) -> int:
        return 3 * x

    def letters(text: str) -> int:
        return len(text)

    toolset = at.CodeToolset([{"times_three": triple}, weather_tools(calls), letters])
    script = run(toolset, "times_three(letters('abc')) + get_weather('Oslo')['temp']", deps="a")
    assert script.returns[0] == '{"result":30}'
    assert "def times_three(x: int) -> int" in script.descriptions[0]


def test_a_toolset_inside_a_code_toolset_is_entered_for_the_run() -> None:
    events: list[str] = []

    class Tracked(FunctionToolset[Any]):
        async def __aenter__(self) -> Tracked:
            events.append("enter")
            return self

        async def __aexit__(self, *args: Any) -> bool | None:
            events.append("exit")
            return None

    inner = Tracked()

    @inner.tool_plain
    def ping() -> str:
        events.append("ping")
        return "pong"

    run(at.CodeToolset([inner]), "ping()")
    assert events == ["enter", "ping", "exit"]


def test_a_code_toolset_cannot_hold_another() -> None:
    def abs_value(x: int) -> int:
        return abs(x)

    with pytest.raises(TypeError, match="CodeToolset"):
        at.CodeToolset([at.CodeToolset([abs_value])])


def test_something_else_is_refused_with_what_it_is() -> None:
    with pytest.raises(TypeError, match="neither a callable"):
        at.CodeToolset([42])


def test_a_dynamic_toolset_is_built_for_each_run_and_step() -> None:
    from pydantic_ai.toolsets._dynamic import DynamicToolset  # pyright: ignore[reportPrivateUsage]

    calls: list[tuple[str, dict[str, Any]]] = []
    made: list[str] = []

    def per_user(ctx: RunContext[str]) -> FunctionToolset[Any]:
        made.append(ctx.deps)
        tools: FunctionToolset[Any] = FunctionToolset()

        @tools.tool_plain(name=f"hello_{ctx.deps}")
        def hello() -> str:
            calls.append((f"hello_{ctx.deps}", {}))
            return f"hi {ctx.deps}"

        return tools

    toolset = at.CodeToolset([DynamicToolset(per_user)])
    first = run(toolset, "hello_ann()", deps="ann")
    second = run(toolset, "hello_bob()", deps="bob")
    assert first.returns[0] == '{"result":"hi ann"}' and second.returns[0] == '{"result":"hi bob"}'
    assert "def hello_ann()" in first.descriptions[0] and "hello_bob" not in first.descriptions[0]
    assert {"ann", "bob"} <= set(made)


MCP_SERVER = ["tests/mcp_test_server.py"]


@pytest.fixture
def mcp_stdio() -> Any:
    """The test MCP server (official SDK) over stdio, as pydantic-ai's MCP toolset."""
    from pydantic_ai.mcp import MCPToolset

    return MCPToolset(Path(MCP_SERVER[0]))


def test_an_mcp_server_through_pydantic_ai_is_called_from_code(mcp_stdio: Any) -> None:
    code = (
        "w = get_weather(city='Oslo')\n"
        "total = add(2, 3) + get_price('apple')\n"
        "{'w': w['city'], 'total': total, 'c': class_('x')}"
    )
    script = run(at.CodeToolset([mcp_stdio]), code)
    assert script.returns[0].startswith('{"result":{"w":"Oslo","total":')
    catalog = script.descriptions[0]
    assert "def add(a: int, b: int) -> int" in catalog
    assert "get-weather" in catalog and "def get_weather(" in catalog  # the original name is shown


def test_a_wrong_keyword_for_an_mcp_tool_is_refused_before_any_tool_runs(mcp_stdio: Any) -> None:
    script = run(at.CodeToolset([mcp_stdio]), "add(1, 2)\nadd(a=1, c=2)", "1")
    assert "unknown-argument" in script.returns[0] and "nothing ran" in script.returns[0]


def test_one_mapping_or_one_toolset_may_stand_for_the_list() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    script = run(at.CodeToolset({"times_three": lambda x: 3 * x}), "times_three(5)")
    assert script.returns[0] == '{"result":15}'
    script = run(at.CodeToolset(weather_tools(calls)), "get_weather('Oslo')['temp']", deps="ann")
    assert script.returns[0] == '{"result":21}' and calls == [("get_weather", {"city": "Oslo", "unit": "c"})]


def test_a_single_function_is_refused_naming_what_was_given() -> None:
    def triple(x: int) -> int:
        return 3 * x

    with pytest.raises(TypeError, match="CodeToolset: tasks must be a list, got function"):
        at.CodeToolset(triple)  # pyright: ignore[reportArgumentType]


def test_a_toolset_tool_named_like_a_builtin_is_reached_under_its_python_name() -> None:
    """A toolset's tool named `sum` would lose to the sandbox's builtin `sum`: it is
    `sum_` in the code and the catalog, called through the toolset by its own name."""
    calls: list[list[float]] = []
    tools: FunctionToolset[Any] = FunctionToolset()

    @tools.tool_plain(name="sum")
    def weighted_sum(values: list[float]) -> float:
        """Twice the sum (not the builtin's answer)."""
        calls.append(values)
        return 2 * sum(values)

    script = run(at.CodeToolset([tools]), "[sum_([1.0, 2.0]), sum([1.0, 2.0])]")
    assert script.returns[0] == '{"result":[6.0,3.0]}'
    assert calls == [[1.0, 2.0]]
    assert "def sum_(values: list[float]) -> float:" in script.descriptions[0]


def test_a_callable_or_tool_named_like_a_builtin_is_refused_at_once() -> None:
    def total(values: list[float]) -> float:
        return sum(values)

    with pytest.raises(ValueError, match="'sum' is a Python builtin in the sandbox"):
        at.CodeToolset([Tool(total, name="sum")])
    with pytest.raises(ValueError, match="'max' is a Python builtin in the sandbox"):
        at.CodeToolset([{"max": total}])
