"""The pre-flight check through every public face: the template API (a call and
`await template.aio()`), `CodeRunner.run` and `.arun`, the pydantic-ai `CodeToolset`
(a scripted model) and the OpenAI adapter (a scripted OpenAI-compatible server on
loopback), with preflight "fast", "full" and "off".

With a check on, wrong code is refused before any host call and the model reads what
to fix; with "off" the same code fails at run time, after its first call took effect.
`await asyncio.gather(...)` over registered functions, and code that names exceptions
the type checker's stubs lack, run under every setting.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

import agent_tools as at
from agent_tools.openai_tools import CodeTool
from agent_tools.tool.code_runner import Preflight

from .preflight_corpus import SUBTLE, WRONG, Host, Wrong
from .test_openai_tools import (
    CHAT,
    FakeOpenAI,
    async_client,
    chat_loop,
    chat_reply,
    last_tool_message,
    run_code,
)

MODES: tuple[Preflight, ...] = ("fast", "full", "off")

CONFIGS = {
    "fast": at.SandboxedConfig(preflight=True),
    "full": at.SandboxedConfig(preflight=True, type_check=True),
    "off": at.SandboxedConfig(),
}
"""What each `CodeRunner` setting means for a template's `SandboxedConfig`."""


def one_per_rule() -> list[Wrong]:
    seen: dict[str, Wrong] = {}
    for item in WRONG:
        seen.setdefault(item.rule, item)
    return list(seen.values())


PER_RULE = one_per_rule()
PER_RULE_IDS = [w.rule for w in PER_RULE]

WRONG_CODE = "log('start')\nw = get_weather(location='Paris')\nw['temperature']"
FIXED_CODE = "log('start')\nw = get_weather(city='Paris')\nw['temperature']"

GATHER_CODE = (
    "import asyncio\n"
    "r = await asyncio.gather(fetch_rate('USD'), get_customer(1), convert_currency(10, 'EUR'))\n"
    "[r[0], r[1]['name'], r[2]]"
)
GATHER_RESULT = [1.25, "Ada Lovelace", 10.0]

EXCEPTION_CODE = {
    "except clauses": (
        "try:\n    w = get_weather('Oslo')\nexcept PermissionError:\n    w = None\n"
        "except (FileNotFoundError, UnicodeDecodeError) as exc:\n    w = None\nw['temperature']"
    ),
    "values": (
        "kinds = [PermissionError, FileNotFoundError, UnicodeDecodeError]\n"
        "try:\n    raise PermissionError('denied')\nexcept OSError as exc:\n"
        "    caught = [isinstance(exc, k) for k in kinds]\n"
        "caught + [get_weather('Oslo')['temperature']]"
    ),
    "except ConnectionError": (
        "try:\n    w = get_weather('Oslo')\nexcept ConnectionError:\n    w = {'temperature': None}\n"
        "w['temperature']"
    ),
}
EXCEPTION_RESULT = {"except clauses": 18, "values": [True, False, False, 18], "except ConnectionError": 18}


def exception_params() -> list[Any]:
    return [
        pytest.param(
            label,
            mode,
            id=f"{label}-{mode}",
        )
        for label in EXCEPTION_CODE
        for mode in ("fast", "full")
    ]


def template(code: str, host: Host, mode: str) -> at.CodeTaskTemplate:
    return at.orchestrator_from_str(
        code, inputs={}, output=Any, tasks=host.functions(), plugin_config=CONFIGS[mode]
    )


# -- the template API ---------------------------------------------------------------------------


@pytest.mark.parametrize("face", ["call", "aio"])
@pytest.mark.parametrize("mode", ["fast", "full"])
@pytest.mark.parametrize("item", PER_RULE, ids=PER_RULE_IDS)
async def test_template_refuses_before_any_host_call(item: Wrong, mode: Preflight, face: str) -> None:
    host = Host()
    t = template(item.code, host, mode)
    with pytest.raises(at.TypeCheckError) as info:
        if face == "call":
            t()
        else:
            await t.aio()
    assert host.calls == []
    assert f"error[{item.rule}]" in info.value.diagnostics
    assert info.value.line == item.line
    assert info.value.hint is not None and info.value.hint.startswith("nothing ran")


@pytest.mark.parametrize("face", ["call", "aio"])
@pytest.mark.parametrize("item", PER_RULE, ids=PER_RULE_IDS)
async def test_template_without_a_check_fails_after_the_first_call(item: Wrong, face: str) -> None:
    host = Host()
    t = template(item.code, host, "off")
    with pytest.raises(at.SandboxError) as info:
        if face == "call":
            t()
        else:
            await t.aio()
    assert not isinstance(info.value, at.TypeCheckError)
    assert host.calls[:1] == [("log", "start")]
    assert info.value.line == item.line


def test_template_full_check_also_stops_a_wrong_value_held_in_a_variable() -> None:
    code = next(s.code for s in SUBTLE if s.label == "str in a variable for an int")
    host = Host()
    with pytest.raises(at.TypeCheckError) as info:
        template(code, host, "full")()
    assert host.calls == []
    assert "invalid-argument-type" in info.value.diagnostics
    host = Host()
    with pytest.raises(at.HostFunctionError):  # the fast check cannot see it
        template(code, host, "fast")()
    assert host.names() == ["log", "get_customer"]


@pytest.mark.parametrize("mode", MODES)
async def test_template_gather_over_sync_and_async_functions(mode: Preflight) -> None:
    host = Host()
    assert template(GATHER_CODE, host, mode)() == GATHER_RESULT
    assert await template(GATHER_CODE, host, mode).aio() == GATHER_RESULT
    assert sorted(host.names()) == sorted(["fetch_rate", "get_customer", "convert_currency"] * 2)


@pytest.mark.parametrize(("label", "mode"), exception_params())
def test_template_runs_code_naming_exceptions_the_checker_lacks(label: str, mode: Preflight) -> None:
    assert template(EXCEPTION_CODE[label], Host(), mode)() == EXCEPTION_RESULT[label]


# -- CodeRunner -----------------------------------------------------------------------------------


async def run_with(runner: at.CodeRunner, code: str, face: str) -> at.ToolReply:
    return runner.run(code) if face == "run" else await runner.arun(code)


@pytest.mark.parametrize("face", ["run", "arun"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("item", PER_RULE, ids=PER_RULE_IDS)
async def test_code_runner_wrong_code(item: Wrong, mode: Preflight, face: str) -> None:
    host = Host()
    reply = await run_with(at.CodeRunner(host.functions(), preflight=mode), item.code, face)
    assert not reply.ok and reply.error is not None
    assert reply.text.startswith("The code failed:")
    if mode == "off":
        assert not isinstance(reply.error, at.TypeCheckError)
        assert host.calls[:1] == [("log", "start")]
        assert "Calls already made" in reply.text and "log('start')" in reply.text
    else:
        assert isinstance(reply.error, at.TypeCheckError)
        assert host.calls == []
        assert f"error[{item.rule}]" in reply.text
        assert "hint: nothing ran" in reply.text and "Calls already made" not in reply.text
    assert f"> {item.line} | " in reply.text


@pytest.mark.parametrize("face", ["run", "arun"])
@pytest.mark.parametrize("mode", MODES)
async def test_code_runner_fixed_code_runs(mode: Preflight, face: str) -> None:
    host = Host()
    runner = at.CodeRunner(host.functions(), preflight=mode)
    assert not (await run_with(runner, WRONG_CODE, face)).ok
    reply = await run_with(runner, FIXED_CODE, face)
    assert reply.ok and json.loads(reply.text) == {"result": 18}
    assert host.names()[-2:] == ["log", "get_weather"]


@pytest.mark.parametrize("face", ["run", "arun"])
@pytest.mark.parametrize("mode", MODES)
async def test_code_runner_gather_over_sync_and_async_functions(mode: Preflight, face: str) -> None:
    reply = await run_with(at.CodeRunner(Host().functions(), preflight=mode), GATHER_CODE, face)
    assert reply.ok, reply.text
    assert json.loads(reply.text) == {"result": GATHER_RESULT}


@pytest.mark.parametrize(("label", "mode"), exception_params())
async def test_code_runner_runs_code_naming_exceptions_the_checker_lacks(label: str, mode: Preflight) -> None:
    runner = at.CodeRunner(Host().functions(), preflight=mode)
    for face in ("run", "arun"):
        reply = await run_with(runner, EXCEPTION_CODE[label], face)
        assert reply.ok, reply.text
        assert json.loads(reply.text) == {"result": EXCEPTION_RESULT[label]}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, CONFIGS["fast"]),
        ({"preflight": "fast"}, CONFIGS["fast"]),
        ({"preflight": "full"}, CONFIGS["full"]),
        ({"preflight": "off"}, CONFIGS["off"]),
        ({"type_check": True}, CONFIGS["full"]),
        ({"type_check": False}, CONFIGS["off"]),
    ],
)
def test_code_runner_settings(options: dict[str, Any], expected: at.SandboxedConfig) -> None:
    runner = at.CodeRunner(Host().functions(), **options)
    assert runner.options["plugin_config"] == expected


def test_legacy_type_check_settings_behave_as_full_and_off() -> None:
    subtle = next(s.code for s in SUBTLE if s.label == "str in a variable for an int")
    host = Host()
    reply = at.CodeRunner(host.functions(), type_check=True).run(subtle)
    assert isinstance(reply.error, at.TypeCheckError) and host.calls == []
    host = Host()
    reply = at.CodeRunner(host.functions(), type_check=False).run(WRONG_CODE)
    assert isinstance(reply.error, at.HostFunctionError) and host.names() == ["log"]


def test_bad_settings_are_refused() -> None:
    functions = Host().functions()
    with pytest.raises(ValueError, match="'fast', 'full', 'off'") as info:
        at.CodeRunner(functions, preflight="quick")  # pyright: ignore[reportArgumentType]
    assert "'quick'" in str(info.value)
    with pytest.raises(TypeError, match="preflight"):
        at.SandboxedConfig(preflight="yes")  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match="not both"):
        at.CodeRunner(functions, preflight="fast", type_check=True)
    with pytest.raises(TypeError, match="not both"):
        at.CodeRunner(functions, preflight="off", plugin_config=at.SandboxedConfig())
    with pytest.raises(ValueError, match="'fast', 'full', 'off'"):
        at.CodeToolset(functions, preflight="quick")
    with pytest.raises(ValueError, match="'fast', 'full', 'off'"):
        CodeTool(functions, preflight="quick")
    with pytest.raises(TypeError, match="not both"):
        CodeTool(functions, preflight="full", type_check=False)


# -- the pydantic-ai toolset ---------------------------------------------------------------------


Step = str | dict[str, Any] | Callable[[Any], "str | dict[str, Any]"]


def scripted(*steps: Step) -> FunctionModel:
    """A model that plays `steps` in order: a str is a final answer, a dict the args of a
    run_code call; a callable step gets the last request's first part and returns one of those."""
    played: list[int] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        step = steps[len(played)]
        played.append(1)
        if callable(step):
            request = messages[-1]
            assert isinstance(request, ModelRequest)
            step = step(request.parts[0])
        if isinstance(step, str):
            return ModelResponse(parts=[TextPart(step)])
        args: dict[str, Any] = step
        return ModelResponse(parts=[ToolCallPart("run_code", args, tool_call_id=f"call-{len(played)}")])

    return FunctionModel(model)


def retry_text(part: Any) -> str:
    """What the model reads of a ModelRetry (this pydantic-ai reports one as a
    retry-prompt part, or as a tool return with outcome "retried")."""
    if part.part_kind == "retry-prompt":
        return str(part.model_response())
    assert getattr(part, "outcome", None) == "retried", part
    return str(part.content)


def tool_return(part: Any) -> str:
    assert isinstance(part, ToolReturnPart), part
    outcome: object = getattr(part, "outcome", "success")  # pyright: ignore[reportUnknownArgumentType]
    assert outcome != "retried", part
    return str(part.content)


@pytest.mark.parametrize("mode", [None, *MODES])
def test_toolset_wrong_code_comes_back_as_a_retry_then_the_fix_runs(mode: Preflight | None) -> None:
    host = Host()
    seen: list[tuple[str, list[tuple[str, Any]]]] = []

    def fix(part: Any) -> dict[str, str]:
        seen.append((retry_text(part), list(host.calls)))
        return {"code": FIXED_CODE}

    options: dict[str, Any] = {} if mode is None else {"preflight": mode}
    agent = Agent(
        scripted({"code": WRONG_CODE}, fix, tool_return),
        toolsets=[at.CodeToolset(host.functions(), **options)],
    )
    assert agent.run_sync("how warm is Paris?").output == '{"result":18}'
    ((text, calls_then),) = seen
    assert "get_weather(location='Paris')" in text and "> 2 | " in text
    if mode == "off":
        assert calls_then == [("log", "start")]
        assert "Calls already made" in text and "unexpected keyword argument 'location'" in text
    else:
        assert calls_then == []
        assert "error[unknown-argument]" in text and "has no parameter `location`" in text
        assert "hint: nothing ran" in text
    assert host.names()[-2:] == ["log", "get_weather"]


@pytest.mark.parametrize("mode", MODES)
def test_toolset_gather_over_sync_and_async_functions(mode: Preflight) -> None:
    agent = Agent(
        scripted({"code": GATHER_CODE}, tool_return),
        toolsets=[at.CodeToolset(Host().functions(), preflight=mode)],
    )
    assert json.loads(agent.run_sync("rates?").output) == {"result": GATHER_RESULT}


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_toolset_stateful_run_knows_earlier_names(mode: Preflight) -> None:
    host = Host()
    agent = Agent(
        scripted(
            {"code": "rate = convert_currency(10, 'USD')"},
            {"code": "log('next')\nround(rate * 2, 1)"},
            tool_return,
        ),
        toolsets=[at.CodeToolset(host.functions(), stateful=True, preflight=mode)],
    )
    assert agent.run_sync("double it").output == '{"result":16.0}'
    assert host.names() == ["convert_currency", "log"]


# -- the OpenAI adapter, against a scripted server ---------------------------------------------------


def tool_content(body: dict[str, Any]) -> str:
    return str(last_tool_message(body)["content"])


async def achat_loop(tool: CodeTool, fake: FakeOpenAI, question: str) -> str:
    messages: list[Any] = [{"role": "user", "content": question}]
    async with async_client(fake) as api:
        for _ in range(5):
            completion = await api.chat.completions.create(
                model="scripted", messages=messages, tools=[tool.definition]
            )
            message = completion.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            if not message.tool_calls:
                return message.content or ""
            messages.extend([await tool.ahandle(call) for call in message.tool_calls])
    raise AssertionError("the conversation did not end")


@pytest.mark.parametrize("face", ["handle", "ahandle"])
@pytest.mark.parametrize("mode", MODES)
async def test_openai_wrong_code_is_answered_then_the_fix_runs(
    mode: Preflight, face: str, fake: FakeOpenAI
) -> None:
    host = Host()
    seen: list[tuple[str, list[tuple[str, Any]]]] = []

    def fix(body: dict[str, Any]) -> dict[str, Any]:
        seen.append((tool_content(body), list(host.calls)))
        return run_code("call_2", FIXED_CODE)

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        return chat_reply(f"It is {json.loads(tool_content(body))['result']} degrees.")

    fake.play(CHAT, run_code("call_1", WRONG_CODE), fix, answer)
    tool = CodeTool(host.functions(), preflight=mode)
    if face == "handle":
        output = chat_loop(tool, fake, "How warm is Paris?")
    else:
        output = await achat_loop(tool, fake, "How warm is Paris?")
    assert output == "It is 18 degrees."
    ((text, calls_then),) = seen
    assert text.startswith("The code failed:") and "> 2 | w = get_weather(location='Paris')" in text
    if mode == "off":
        assert calls_then == [("log", "start")] and "Calls already made" in text
    else:
        assert calls_then == []
        assert "error[unknown-argument]" in text and "hint: nothing ran" in text
    assert host.names()[-2:] == ["log", "get_weather"]


@pytest.mark.parametrize("mode", MODES)
def test_openai_gather_over_sync_and_async_functions(mode: Preflight, fake: FakeOpenAI) -> None:
    def echo(body: dict[str, Any]) -> dict[str, Any]:
        return chat_reply(tool_content(body))

    fake.play(CHAT, run_code("call_1", GATHER_CODE), echo)
    tool = CodeTool(Host().functions(), preflight=mode)
    assert json.loads(chat_loop(tool, fake, "rates?")) == {"result": GATHER_RESULT}
