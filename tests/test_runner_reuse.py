"""What does not change between `run_code` calls is built once: the runner's template
(registered functions, stubs, interface, limits), the toolset's host callables, the
catalog. Each call binds only its code, and each call's functions still get their own
run's context."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic_ai import Agent, RunContext, Tool
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import ToolDefinition

import agent_tools as at
from agent_tools.sandbox import functions as functions_module
from agent_tools.tool import code_runner


def add(a: int, b: int) -> int:
    return a + b


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many templates were built from scratch, and how many functions registered."""
    counts = {"templates": 0, "registered": 0}
    make, register = code_runner.orchestrator_from_str, functions_module._make  # pyright: ignore[reportPrivateUsage]

    def counting_make(*args: Any, **kwargs: Any) -> Any:
        counts["templates"] += 1
        return make(*args, **kwargs)

    def counting_register(*args: Any, **kwargs: Any) -> Any:
        counts["registered"] += 1
        return register(*args, **kwargs)

    monkeypatch.setattr(code_runner, "orchestrator_from_str", counting_make)
    monkeypatch.setattr(functions_module, "_make", counting_register)
    return counts


def test_code_runner_builds_its_template_once_and_binds_only_the_code(counted: dict[str, int]) -> None:
    runner = at.CodeRunner([add])
    built = dict(counted)
    assert built["templates"] == 1
    for n in range(12):
        reply = runner.run(f"t = {n}\nfor i in range(3):\n    t = add(t, i)\nt")
        assert reply.ok and reply.text == f'{{"result":{n + 3}}}'
    assert counted == built  # no template and no registration per call


def test_each_call_has_its_own_code_and_errors_point_into_it(counted: dict[str, int]) -> None:
    runner = at.CodeRunner([add])
    first = runner.run("x = add(1, 2)\nx")
    wrong = runner.run("y = 1\nadd(y, 'two')")
    later = runner.run("add(2, 2)")
    assert first.text == '{"result":3}' and later.text == '{"result":4}'
    assert not wrong.ok and isinstance(wrong.error, at.TypeCheckError)
    assert wrong.error.line == 2 and wrong.error.source == "y = 1\nadd(y, 'two')"
    assert "> 2 | add(y, 'two')" in wrong.text


async def test_async_calls_share_the_template_too(counted: dict[str, int]) -> None:
    runner = at.CodeRunner([add])
    built = dict(counted)
    replies = await asyncio.gather(*(runner.arun(f"add({n}, 1)") for n in range(8)))
    assert [r.text for r in replies] == [f'{{"result":{n + 1}}}' for n in range(8)]
    assert counted == built


def test_the_catalog_and_description_are_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = at.CodeRunner([add])
    first = runner.description()
    calls: list[str] = []

    def render(*args: Any, **kwargs: Any) -> str:
        calls.append("render")
        return ""

    monkeypatch.setattr(code_runner, "render", render)
    assert runner.description() == first and "def add(a: int, b: int) -> int" in first
    assert calls == []


def test_per_call_function_sets_are_kept_built(counted: dict[str, int]) -> None:
    runner = at.CodeRunner([add])

    def sub(a: int, b: int) -> int:
        return a - b

    other = {"sub": sub}
    base = counted["templates"]
    for n in range(5):
        assert runner.run(f"sub({n}, 1)", functions=other).text == f'{{"result":{n - 1}}}'
    assert counted["templates"] == base + 1  # one template for that set, reused


# -- the pydantic-ai toolset -----------------------------------------------------------


@dataclass
class Deps:
    user: str


def scripted(codes: list[str]) -> FunctionModel:
    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        step = sum(isinstance(m, ModelResponse) for m in messages)
        if step < len(codes):
            return ModelResponse(
                parts=[ToolCallPart("run_code", {"code": codes[step]}, tool_call_id=f"c{step}")]
            )
        return ModelResponse(parts=[TextPart("done")])

    return FunctionModel(model)


def test_toolset_builds_nothing_per_call(counted: dict[str, int]) -> None:
    toolset = at.CodeToolset([add])
    built = dict(counted)
    agent = Agent(scripted([f"add({n}, 1)" for n in range(5)]), toolsets=[toolset])
    assert agent.run_sync("go").output == "done"
    assert counted == built


async def test_each_concurrent_run_gives_its_functions_its_own_context() -> None:
    seen: list[tuple[str, str | None, str]] = []

    def whoami(ctx: RunContext[Deps], tag: str) -> str:
        seen.append((ctx.deps.user, ctx.tool_name, tag))
        return f"{ctx.deps.user}:{tag}"

    async def whoami_async(ctx: RunContext[Deps], tag: str) -> str:
        await asyncio.sleep(0.01)
        seen.append((ctx.deps.user, ctx.tool_name, tag))
        return f"{ctx.deps.user}:{tag}"

    toolset = at.CodeToolset([whoami, whoami_async])
    code = "[whoami('a'), whoami_async('b'), whoami('c')]"
    agents = [Agent(scripted([code, code]), deps_type=Deps, toolsets=[toolset]) for _ in range(4)]
    results = await asyncio.gather(
        *(agent.run("go", deps=Deps(f"user{i}")) for i, agent in enumerate(agents))
    )
    assert all(r.output == "done" for r in results)
    assert len(seen) == 4 * 2 * 3
    for i in range(4):
        mine = [(name, tag) for user, name, tag in seen if user == f"user{i}"]
        assert sorted(mine) == sorted([("whoami", "a"), ("whoami_async", "b"), ("whoami", "c")] * 2)


def test_a_prepared_tool_is_built_once_per_definition(counted: dict[str, int]) -> None:
    async def only_even(ctx: RunContext[Deps], tool_def: ToolDefinition) -> ToolDefinition | None:
        return tool_def if ctx.run_step % 2 == 1 else None

    def double(x: int) -> int:
        return 2 * x

    toolset = at.CodeToolset([add, Tool(double, prepare=only_even)])
    built = dict(counted)
    agent = Agent(
        scripted(["double(2)", "add(1, 1)", "double(3)", "add(2, 2)"]), deps_type=Deps, toolsets=[toolset]
    )
    replies: list[str] = []

    def on_reply(reply: at.ToolReply) -> None:
        replies.append(reply.text)

    toolset.on_reply = on_reply
    assert agent.run_sync("go", deps=Deps("u")).output == "done"
    assert replies == ['{"result":4}', '{"result":2}', '{"result":6}', '{"result":4}']
    # two function sets were seen (with and without `double`): one template each at most
    assert counted["templates"] - built["templates"] <= 2


def test_one_runner_from_many_threads_checks_and_runs_each_call_on_its_own() -> None:
    """Threads share the runner's template and its cached checks: each call still gets
    its own code's verdict, and a refused call makes no host call."""
    from concurrent.futures import ThreadPoolExecutor

    calls: list[int] = []

    def note(x: int) -> int:
        calls.append(x)
        return x

    runner = at.CodeRunner([note])

    def one(n: int) -> tuple[int, bool, str]:
        code = f"note({n}) * 2" if n % 3 else f"note({n})\nnote(y={n})"
        reply = runner.run(code)
        return n, reply.ok, reply.text

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(160)))
    for n, ok, text in results:
        if n % 3:
            assert ok and text == f'{{"result":{2 * n}}}'
        else:
            assert not ok and "unknown-argument" in text and "nothing ran" in text
    assert sorted(calls) == [n for n in range(160) if n % 3]
