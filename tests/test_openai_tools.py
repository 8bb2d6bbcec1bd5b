"""The OpenAI SDK adapter: `CodeTool` driven by the real `openai` client.

The client talks to a scripted OpenAI-compatible server this module starts on
loopback (stdlib `ThreadingHTTPServer`, port 0) and stops after each test. The
script plays the model: each reply is a canned JSON body, or a function of the
request that reacts to what the tool answered, as a model would. Every request
body is recorded, so the tests check what actually went over the wire: the tool
definition, the tool messages, the Responses API items.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import ANY

import openai
import pytest

from agent_tools.adapters.openai import CodeTool
from agent_tools.tool.code_runner import FatalToolError

PRICES = {"apple": 10, "pear": 12}
STOCK = {"apple": 3, "pear": 5}

TOTAL_CODE = 'qty = get_stock("apple")\ntotal = get_price("apple") * qty + get_price("pear")\ntotal'
"""10 * 3 + 12 = 42, from three host calls to two registered functions."""


def get_price(item: str) -> int:
    """Unit price of an item, in cents."""
    return PRICES[item]


def get_stock(item: str, warehouse: str = "main") -> int:
    """Units of an item in stock."""
    return STOCK[item]


# -- the scripted server -------------------------------------------------------------------

Reply = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class FakeOpenAI:
    """What the server will answer (per path, in order) and what it was sent."""

    url: str = ""
    script: dict[str, list[Reply]] = field(default_factory=dict[str, list[Reply]])
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list[tuple[str, dict[str, Any]]])
    lock: threading.Lock = field(default_factory=threading.Lock)

    def play(self, path: str, *replies: Reply) -> None:
        self.script.setdefault(path, []).extend(replies)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.requests if p == path]

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append((path, body))
            queue = self.script.get(path)
            if not queue:
                return 500, {"error": {"message": f"script has no reply left for {path}", "type": "test"}}
            reply = queue.pop(0)
        try:
            return 200, reply(body) if callable(reply) else reply
        except Exception as error:  # a script step's own check failed: show it to the test
            return 500, {"error": {"message": f"script step failed: {error!r}", "type": "test"}}


def client(fake: FakeOpenAI) -> openai.OpenAI:
    # No retries (a script error should fail at once) and no proxy from the environment.
    return openai.OpenAI(
        base_url=fake.url,
        api_key="test",
        max_retries=0,
        timeout=10,
        http_client=openai.DefaultHttpxClient(trust_env=False),
    )


def async_client(fake: FakeOpenAI) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=fake.url,
        api_key="test",
        max_retries=0,
        timeout=10,
        http_client=openai.DefaultAsyncHttpxClient(trust_env=False),
    )


# -- canned model replies --------------------------------------------------------------------

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"


def chat_reply(content: str | None = None, calls: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """A `chat.completion` with text `content` or `calls` as (id, arguments JSON) of run_code."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": "run_code", "arguments": arguments}}
            for call_id, arguments in calls
        ]
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "scripted",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if calls else "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def run_code(call_id: str, code: str) -> dict[str, Any]:
    return chat_reply(calls=[(call_id, json.dumps({"code": code}))])


def last_tool_message(body: dict[str, Any]) -> dict[str, Any]:
    message = body["messages"][-1]
    assert message["role"] == "tool", message
    return message


def answer_from_result(body: dict[str, Any]) -> dict[str, Any]:
    """The model's last step: read the tool's JSON result and state it."""
    result = json.loads(last_tool_message(body)["content"])["result"]
    return chat_reply(f"The total is {result}.")


def response_reply(output: list[dict[str, Any]]) -> dict[str, Any]:
    """A `response` object with the given output items."""
    return {
        "id": "resp-test",
        "object": "response",
        "created_at": 1_700_000_000,
        "model": "scripted",
        "status": "completed",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "usage": {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 15,
        },
    }


def function_call_item(call_id: str, arguments: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc-{call_id}",
        "call_id": call_id,
        "name": "run_code",
        "arguments": arguments,
        "status": "completed",
    }


def message_item(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg-test",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


# -- the agent loops under test ---------------------------------------------------------------


def chat_loop(tool: CodeTool, fake: FakeOpenAI, question: str, max_turns: int = 5) -> str:
    """The plain-SDK loop: create -> answer each tool call with `tool.handle` -> create again."""
    messages: list[Any] = [
        {"role": "system", "content": tool.system_prompt},
        {"role": "user", "content": question},
    ]
    with client(fake) as api:
        for _ in range(max_turns):
            completion = api.chat.completions.create(
                model="scripted", messages=messages, tools=[tool.definition]
            )
            message = completion.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            if not message.tool_calls:
                return message.content or ""
            messages.extend(tool.handle(call) for call in message.tool_calls)
    raise AssertionError("the conversation did not end")


def responses_loop(tool: CodeTool, fake: FakeOpenAI, question: str, max_turns: int = 5) -> str:
    """The same loop on the Responses API: output items go back in as input."""
    items: list[Any] = [{"role": "user", "content": question}]
    with client(fake) as api:
        for _ in range(max_turns):
            response = api.responses.create(
                model="scripted",
                instructions=tool.system_prompt,
                input=items,
                tools=[tool.response_definition],
            )
            calls = [item for item in response.output if item.type == "function_call"]
            if not calls:
                return response.output_text
            items.extend(item.model_dump(exclude_none=True) for item in response.output)
            items.extend(tool.handle(call) for call in calls)
    raise AssertionError("the conversation did not end")


# -- Chat Completions ---------------------------------------------------------------------------


def test_chat_completions_round_trip(fake: FakeOpenAI) -> None:
    tool = CodeTool([get_price, get_stock])
    fake.play(CHAT, run_code("call_1", TOTAL_CODE), answer_from_result)

    assert chat_loop(tool, fake, "What is the apple stock worth, plus one pear?") == "The total is 42."

    first, second = fake.bodies(CHAT)
    # The tool definition as the server received it.
    (sent,) = first["tools"]
    assert sent == tool.definition
    function = sent["function"]
    assert sent["type"] == "function" and function["name"] == "run_code"
    assert "def get_price(item: str) -> int:" in function["description"]
    assert "def get_stock(item: str, warehouse: str" in function["description"]
    for registered in tool.runner.functions.values():  # each signature, with its docstring
        assert registered.stub() in function["description"]
    parameters = function["parameters"]
    assert parameters["required"] == ["code"] and parameters["additionalProperties"] is False
    assert parameters["properties"]["code"]["type"] == "string"
    assert list(parameters["properties"]) == ["code"]  # no restart: this tool is stateless
    assert function["strict"] is True
    assert first["messages"][0] == {"role": "system", "content": tool.system_prompt}
    # The tool message as the server received it, after the assistant's call.
    assert second["messages"][-2]["tool_calls"][0]["id"] == "call_1"
    assert last_tool_message(second) == {"role": "tool", "tool_call_id": "call_1", "content": '{"result":42}'}


def test_chat_model_fixes_its_code_from_the_error(fake: FakeOpenAI) -> None:
    tool = CodeTool([get_price, get_stock])
    misspelt = TOTAL_CODE.replace('get_price("apple")', 'get_prise("apple")')
    seen_errors: list[str] = []

    def fix_after_error(body: dict[str, Any]) -> dict[str, Any]:
        content = last_tool_message(body)["content"]
        seen_errors.append(content)
        assert "> 2 | total = get_prise" in content and "hint:" in content
        return run_code("call_2", TOTAL_CODE)

    fake.play(CHAT, run_code("call_1", misspelt), fix_after_error, answer_from_result)

    assert chat_loop(tool, fake, "What is it worth?") == "The total is 42."

    (error,) = seen_errors
    assert error.startswith("The code failed:")
    assert "get_prise" in error
    assert "  1 | qty = get_stock" in error and "  3 | total" in error  # the whole code, numbered
    assert "Fix the code and call run_code again." in error
    assert len(fake.bodies(CHAT)) == 3


def test_chat_host_error_lists_the_calls_already_made(fake: FakeOpenAI) -> None:
    tool = CodeTool([get_price, get_stock])
    code = 'qty = get_stock("apple")\nget_price("kiwi") * qty'
    fake.play(CHAT, run_code("call_1", code), chat_reply("No price for kiwi."))

    assert chat_loop(tool, fake, "Kiwis?") == "No price for kiwi."

    content = last_tool_message(fake.bodies(CHAT)[1])["content"]
    assert '> 2 | get_price("kiwi") * qty' in content
    assert "KeyError" in content
    assert "Calls already made" in content and "get_stock('apple') -> 3" in content


def test_chat_bad_json_arguments_are_reported_to_the_model(fake: FakeOpenAI) -> None:
    tool = CodeTool([get_price, get_stock])

    def retry_with_good_json(body: dict[str, Any]) -> dict[str, Any]:
        content = last_tool_message(body)["content"]
        assert "not valid JSON" in content and "nothing ran" in content, content
        return run_code("call_2", TOTAL_CODE)

    fake.play(CHAT, chat_reply(calls=[("call_1", '{"code": "get_price(\\"apple\\"')]), retry_with_good_json)
    fake.play(CHAT, answer_from_result)

    assert chat_loop(tool, fake, "Total?") == "The total is 42."


def test_fatal_error_from_a_function_propagates_out_of_handle(fake: FakeOpenAI) -> None:
    calls: list[str] = []

    def get_price(item: str) -> int:
        """Unit price of an item, in cents."""
        calls.append(item)
        raise FatalToolError("the price database is down")

    tool = CodeTool([get_price, get_stock])
    fake.play(CHAT, run_code("call_1", TOTAL_CODE), chat_reply("unreachable"))

    with pytest.raises(FatalToolError, match="database is down"):
        chat_loop(tool, fake, "Total?")
    assert calls == ["apple"]
    assert len(fake.bodies(CHAT)) == 1  # the model never saw the failure


# -- Responses API ----------------------------------------------------------------------------


def test_responses_api_round_trip(fake: FakeOpenAI) -> None:
    tool = CodeTool([get_price, get_stock])

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        output = body["input"][-1]
        assert output["type"] == "function_call_output"
        result = json.loads(output["output"])["result"]
        return response_reply([message_item(f"The total is {result}.")])

    fake.play(
        RESPONSES, response_reply([function_call_item("fc_1", json.dumps({"code": TOTAL_CODE}))]), answer
    )

    assert responses_loop(tool, fake, "Total?") == "The total is 42."

    first, second = fake.bodies(RESPONSES)
    (sent,) = first["tools"]
    assert sent == tool.response_definition
    assert sent["type"] == "function" and sent["name"] == "run_code" and sent["strict"] is True
    assert "def get_price(item: str) -> int:" in sent["description"]
    assert sent["parameters"]["required"] == ["code"]
    assert first["instructions"] == tool.system_prompt
    # Our function_call_output follows the model's function_call, as the API requires.
    call, output = second["input"][-2:]
    assert call["type"] == "function_call" and call["call_id"] == "fc_1"
    assert output == {"type": "function_call_output", "call_id": "fc_1", "output": '{"result":42}'}


def test_responses_api_error_is_a_function_call_output(fake: FakeOpenAI) -> None:
    tool = CodeTool([get_price, get_stock])
    fake.play(
        RESPONSES,
        response_reply([function_call_item("fc_1", json.dumps({"code": "x = 1\ny = undefined_name + x"}))]),
        response_reply([message_item("I could not do it.")]),
    )

    assert responses_loop(tool, fake, "Try?") == "I could not do it."

    output = fake.bodies(RESPONSES)[1]["input"][-1]
    assert output["type"] == "function_call_output" and output["call_id"] == "fc_1"
    assert "> 2 | y = undefined_name + x" in output["output"] and "hint:" in output["output"]


# -- async ------------------------------------------------------------------------------------


async def test_async_client_with_parallel_calls(fake: FakeOpenAI) -> None:
    async def get_stock(item: str, warehouse: str = "main") -> int:
        """Units of an item in stock."""
        await asyncio.sleep(0)
        return STOCK[item]

    tool = CodeTool([get_price, get_stock])
    both = chat_reply(
        calls=[
            ("call_a", json.dumps({"code": TOTAL_CODE})),
            ("call_b", json.dumps({"code": 'get_stock("pear")'})),
        ]
    )

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        a, b = body["messages"][-2:]
        return chat_reply(f"{json.loads(a['content'])['result']} and {json.loads(b['content'])['result']}")

    fake.play(CHAT, both, answer)

    messages: list[Any] = [{"role": "user", "content": "Both?"}]
    async with async_client(fake) as api:
        while True:
            completion = await api.chat.completions.create(
                model="scripted", messages=messages, tools=[tool.definition]
            )
            message = completion.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            if not message.tool_calls:
                break
            messages.extend(await asyncio.gather(*(tool.ahandle(call) for call in message.tool_calls)))

    assert message.content == "42 and 5"
    second = fake.bodies(CHAT)[1]
    assert second["messages"][-2:] == [
        {"role": "tool", "tool_call_id": "call_a", "content": '{"result":42}'},
        {"role": "tool", "tool_call_id": "call_b", "content": '{"result":5}'},
    ]


async def test_ahandle_raises_what_the_model_cannot_fix() -> None:
    def get_price(item: str) -> int:
        raise FatalToolError("outage")

    tool = CodeTool([get_price])
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "run_code", "arguments": '{"code": "get_price(\\"a\\")"}'},
    }
    with pytest.raises(FatalToolError, match="outage"):
        await tool.ahandle(call)


# -- arguments, routing, state (plain dicts, no server) ----------------------------------------


def chat_call(arguments: str, name: str = "run_code", call_id: str = "c1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def responses_call(arguments: str, name: str = "run_code", call_id: str = "c1") -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"code": "1 +', "not valid JSON"),
        ("[1, 2]", "must be a JSON object, not an array"),
        ("{}", 'no "code"'),
        ("", 'no "code"'),
        ('{"code": 42}', "must be a string of Python source, not a number"),
        ('{"code": ["1"]}', "not an array"),
    ],
)
def test_malformed_arguments_tell_the_model_what_was_wrong(arguments: str, expected: str) -> None:
    tool = CodeTool([get_price])
    reply = tool.handle(chat_call(arguments))
    assert reply["role"] == "tool" and reply["tool_call_id"] == "c1"
    assert expected in reply["content"] and "nothing ran" in reply["content"]
    assert '{"code": ' in reply["content"]  # shows the shape to send
    out = tool.handle(responses_call(arguments))
    assert out["type"] == "function_call_output" and expected in out["output"]


def test_arguments_already_decoded_and_unknown_keys_are_accepted() -> None:
    tool = CodeTool([get_price])
    call = {
        "id": "c1",
        "function": {"name": "run_code", "arguments": {"code": "1 + 1", "language": "python"}},
    }
    assert tool.handle(call)["content"] == '{"result":2}'


def test_printed_output_comes_back_with_the_result() -> None:
    tool = CodeTool([get_price])
    reply = tool.handle(chat_call(json.dumps({"code": 'print("hi")\nget_price("pear")'})))
    assert json.loads(reply["content"]) == {"result": 12, "printed": "hi\n"}


def test_calls_to_other_tools_are_a_caller_bug() -> None:
    tool = CodeTool([get_price])
    with pytest.raises(ValueError, match="'get_weather'"):
        tool.handle(chat_call('{"city": "Paris"}', name="get_weather"))
    with pytest.raises(ValueError, match="'get_weather'"):
        tool.handle(responses_call("{}", name="get_weather"))
    with pytest.raises(ValueError, match="not a function tool call"):
        tool.handle({"id": "c1", "type": "custom", "custom": {"name": "run_code", "input": "1"}})
    with pytest.raises(ValueError, match="no id"):
        tool.handle({"function": {"name": "run_code", "arguments": "{}"}})
    assert tool.owns(chat_call("{}")) and tool.owns(responses_call("{}"))
    assert not tool.owns(chat_call("{}", name="get_weather"))
    assert not tool.owns(responses_call("{}", name="get_weather"))
    assert not tool.owns({"type": "message"})


def test_stateful_keeps_variables_until_restart() -> None:
    tool = CodeTool([get_price, get_stock], stateful=True)
    params = tool.definition["function"].get("parameters", {})
    assert params["required"] == ["code", "restart"]  # strict mode lists every property
    assert tool.response_definition["parameters"] == params

    def run(code: str, **extra: Any) -> str:
        return tool.handle(responses_call(json.dumps({"code": code, **extra})))["output"]

    assert run('qty = get_stock("apple")') == '{"result":null}'
    assert run('def worth(item):\n    return get_price(item) * qty\nworth("apple")', restart=False) == (
        '{"result":30}'
    )
    assert run('worth("apple") + get_price("pear")') == '{"result":42}'
    # A failed run leaves the state as it was.
    assert "The code failed" in run("qty = qty + 1\nmissing_name")
    assert run("qty") == '{"result":3}'
    after_restart = run("qty", restart=True)
    assert "The code failed" in after_restart and "qty" in after_restart
    assert run("qty = 1\nqty") == '{"result":1}'
    assert "must be true or false" in run("qty", restart="yes")
    # Another instance (another conversation) has its own state.
    other = CodeTool([get_price], stateful=True)
    assert "The code failed" in other.handle(chat_call('{"code": "qty"}'))["content"]
    tool.restart()
    assert "The code failed" in run("qty")


async def test_stateful_parallel_async_calls_run_in_order() -> None:
    tool = CodeTool([get_price], stateful=True)
    replies = await asyncio.gather(
        tool.ahandle(chat_call('{"code": "a = 1", "restart": false}', call_id="c1")),
        tool.ahandle(chat_call('{"code": "b = a + 1", "restart": false}', call_id="c2")),
        tool.ahandle(chat_call('{"code": "a + b", "restart": false}', call_id="c3")),
    )
    assert [r["content"] for r in replies] == ['{"result":null}', '{"result":null}', '{"result":3}']
    assert [r["tool_call_id"] for r in replies] == ["c1", "c2", "c3"]


def test_stateless_forgets_and_non_strict_schema() -> None:
    tool = CodeTool([get_price])
    assert tool.handle(chat_call('{"code": "x = 1"}'))["content"] == '{"result":null}'
    assert "The code failed" in tool.handle(chat_call('{"code": "x"}'))["content"]
    loose = CodeTool([get_price], stateful=True, strict=False)
    assert loose.definition["function"].get("strict") is False
    assert loose.response_definition["strict"] is False
    params = loose.response_definition["parameters"] or {}
    assert params["required"] == ["code"]
    assert params["properties"] == {"code": ANY, "restart": ANY}
    # Without strict mode the model may leave restart out.
    assert loose.handle(chat_call('{"code": "x = 2"}'))["content"] == '{"result":null}'
    assert loose.handle(chat_call('{"code": "x"}'))["content"] == '{"result":2}'
