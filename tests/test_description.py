"""What the model reads about `run_code`: compact, true, about its own functions and
limits; large catalogs as summaries with lookups in the code; errors that name the
closest registered function in every path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic_ai import Agent, Tool
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

import agent_tools as at
from agent_tools.tool.description import DEFAULT_CATALOG_BUDGET

FIXED_PART_TOKENS = 600
"""The issue's budget for the description with no functions (chars / 4)."""


def get_customer(customer_id: int) -> dict[str, Any]:
    """One customer by id."""
    return {"customer_id": customer_id, "name": f"Customer {customer_id}"}


def list_orders(customer_id: int, limit: int = 10, status: str | None = None) -> list[dict[str, Any]]:
    """A customer's orders, newest first."""
    return [{"order_id": i, "customer_id": customer_id} for i in range(limit)]


def many(n: int) -> list[Any]:
    """`n` small functions, f0 ... f{n-1}, each documented."""
    out: list[Any] = []
    for i in range(n):

        def fn(x: int, scale: int = 2, _i: int = i) -> int:
            return x * scale + _i

        fn.__name__ = f"metric_{i:03d}"
        fn.__doc__ = (
            f"Metric number {i} of the warehouse ({'stock' if i % 2 else 'sales'}), scaled.\n\nMore text."
        )
        sig_fn = _clean(fn)
        out.append(sig_fn)
    return out


def _clean(fn: Any) -> Any:
    import inspect

    params = [p for p in inspect.signature(fn).parameters.values() if not p.name.startswith("_")]
    fn.__signature__ = inspect.Signature(params, return_annotation=int)
    return fn


def test_the_fixed_part_is_compact() -> None:
    description = at.CodeRunner([]).description()
    assert len(description) / 4 < FIXED_PART_TOKENS
    assert "## The sandbox" not in description
    assert "get_weather" not in description  # no made-up example


def test_the_example_and_the_limits_come_from_this_runner() -> None:
    description = at.CodeRunner([get_customer, list_orders], timeout_ms=5_000).description()
    assert "e.g. `get_customer(1)`" in description
    assert "5 s of sandbox time" in description and "1,000 function calls" in description
    assert "50 MB of memory" in description and "1 MB of printed output" in description
    config = at.SandboxedConfig(timeout_ms=250, max_memory=8 * 1024 * 1024, max_host_calls=40)
    tight = at.CodeRunner([list_orders], plugin_config=config).description()
    assert "e.g. `list_orders(1)`" in tight
    assert "250 ms of sandbox time" in tight and "8 MB of memory" in tight and "40 function calls" in tight


def test_stubs_show_real_defaults_and_each_tool_description() -> None:
    description = at.CodeRunner([list_orders]).description()
    assert "def list_orders(customer_id: int, limit: int = 10, status: str | None = None)" in description

    def lookup(customer_id: int) -> str:
        """Docstring of the function."""
        return "x"

    toolset = at.CodeToolset([Tool(lookup, description="Find a customer's record by id, from the CRM.")])
    text = toolset.tools["run_code"].description or ""
    assert "Find a customer's record by id, from the CRM." in text
    plain = at.CodeToolset([Tool(lookup)]).tools["run_code"].description or ""
    assert "Docstring of the function." in plain


def test_stateful_mode_says_variables_persist_and_describes_restart() -> None:
    toolset = at.CodeToolset([get_customer], stateful=True)
    tool = toolset.tools["run_code"]
    assert "persist from one run_code call to the next" in (tool.description or "")
    schema = tool.function_schema.json_schema
    assert "forget every variable" in schema["properties"]["restart"]["description"]
    assert "persist" not in (at.CodeToolset([get_customer]).tools["run_code"].description or "")
    from agent_tools.openai_tools import CodeTool

    tool_openai = CodeTool([get_customer], stateful=True)
    assert "persist from one run_code call" in tool_openai.definition["function"]["description"]


@pytest.mark.parametrize("n", [3, 30, 300])
def test_the_description_size_by_catalog_size(n: int) -> None:
    runner = at.CodeRunner(many(n))
    description = runner.description()
    assert description == at.CodeRunner(many(n)).description()  # byte-identical run to run
    if n == 300:  # above the budget: summaries, and lookups in the code
        assert runner.searching(runner.functions) is not False
        assert "def metric_000" not in description
        assert "- metric_000: Metric number 0 of the warehouse (sales), scaled." in description
        assert "`describe(name)`" in description and "`search_functions(query)`" in description
        assert len(description) < DEFAULT_CATALOG_BUDGET
    else:
        assert "def metric_000(x: int, scale: int = 2) -> int:" in description


def test_describe_and_search_functions_from_the_code() -> None:
    runner = at.CodeRunner(many(300))
    reply = runner.run("describe('metric_007')")
    assert reply.ok, reply.text
    stub = json.loads(reply.text)["result"]
    assert "def metric_007(x: int, scale: int = 2) -> int:" in stub and "Metric number 7" in stub
    reply = runner.run("[f['name'] for f in search_functions('metric 12 stock', limit=3)]")
    assert reply.ok, reply.text
    found = json.loads(reply.text)["result"]
    assert len(found) == 3 and all(name.startswith("metric_") for name in found)
    reply = runner.run("metric_012(2)")  # the functions themselves are callable
    assert json.loads(reply.text)["result"] == 16
    reply = runner.run("describe('metric_7')")
    assert not reply.ok and "did you mean" in reply.text


def test_search_mode_on_request_and_full_on_request() -> None:
    small = at.CodeRunner([get_customer, list_orders], catalog="search")
    assert "- get_customer: One customer by id." in small.description()
    assert json.loads(small.run("search_functions('orders')").text)["result"][0]["name"] == "list_orders"
    big = at.CodeRunner(many(300), catalog="full")
    assert "def metric_299(" in big.description()
    with pytest.raises(ValueError, match="catalog must be"):
        at.CodeRunner([get_customer], catalog="some")  # type: ignore[arg-type]

    def describe(x: int) -> int:
        return x

    with pytest.raises(ValueError, match="describe: the name of a function the code uses"):
        at.CodeRunner([describe], catalog="search")


@pytest.mark.parametrize("preflight", ["fast", "full", "off"])
def test_a_misspelt_function_names_the_closest_in_every_path(preflight: str) -> None:
    runner = at.CodeRunner([get_customer, list_orders], preflight=preflight)  # type: ignore[arg-type]
    reply = runner.run("get_custmer(1)")
    assert not reply.ok
    assert "did you mean `get_customer`?" in reply.text


def test_hints_never_ask_for_what_only_the_host_controls() -> None:
    runner = at.CodeRunner([], timeout_ms=200)
    text = runner.run("while True:\n    pass").text
    assert "timeout_ms" not in text.split("hint:")[-1]
    assert "split the work over several run_code calls" in text
    text = at.CodeRunner([]).run("import heapq2").text
    assert "these import: asyncio, base64, bisect" in text


def test_the_error_reaches_the_model_with_real_line_breaks() -> None:
    seen: list[Any] = []

    def model(messages: list[Any], info: AgentInfo) -> ModelResponse:
        for part in messages[-1].parts:
            if isinstance(part, ToolReturnPart) or type(part).__name__ == "RetryPromptPart":
                seen.append(part)
                return ModelResponse(parts=[TextPart("done")])
        return ModelResponse(
            parts=[ToolCallPart("run_code", {"code": "x = 1\ny = x / 0\ny"}, tool_call_id="c1")]
        )

    Agent(FunctionModel(model), toolsets=[at.CodeToolset([])]).run_sync("go")
    part = seen[0]
    text = part.model_response() if type(part).__name__ == "RetryPromptPart" else str(part.content)
    assert "\n> 2 | y = x / 0\n" in text
    assert "\\n" not in text


def _openai_agent(url: str, **options: Any) -> Agent[None, str]:
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel("scripted", provider=OpenAIProvider(base_url=url, api_key="test"))
    return Agent(model, toolsets=[at.CodeToolset([], **options)])


def _completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }


def _code_call(code: str, n: int) -> dict[str, Any]:
    call = {
        "id": f"call_{n}",
        "type": "function",
        "function": {"name": "run_code", "arguments": json.dumps({"code": code})},
    }
    return _completion({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls")


@pytest.mark.parametrize(("channel", "real_breaks"), [("auto", True), ("result", True), ("retry", False)])
def test_an_openai_model_reads_the_numbered_listing_with_real_line_breaks(
    channel: str, real_breaks: bool
) -> None:
    from tests.loopback import serve_json

    bodies: list[dict[str, Any]] = []

    def answer(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        bodies.append(body)
        if body["messages"][-1]["role"] == "tool":
            return 200, _completion({"role": "assistant", "content": "done"}, "stop")
        return 200, _code_call("x = 1\ny = x / 0\ny", 1)

    with serve_json(answer) as url:
        _openai_agent(url, error_channel=channel).run_sync("go")
    content = bodies[-1]["messages"][-1]["content"]
    assert ("\n> 2 | y = x / 0\n" in content) is real_breaks
    assert ("\\n" in content) is not real_breaks  # the retry channel: JSON-encoded, escaped


def test_errors_as_results_still_count_against_max_retries() -> None:
    from pydantic_ai.exceptions import UnexpectedModelBehavior

    from tests.loopback import serve_json

    calls: list[int] = []

    def answer(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        calls.append(1)
        return 200, _code_call("1 / 0", len(calls))

    with (
        serve_json(answer) as url,
        pytest.raises(UnexpectedModelBehavior, match="exceeded max retries count of 2"),
    ):
        _openai_agent(url, max_retries=2).run_sync("go")
    assert len(calls) == 3  # the first try and two retries
    with pytest.raises(ValueError, match="error_channel must be"):
        at.CodeToolset([], error_channel="sometimes")  # type: ignore[arg-type]
