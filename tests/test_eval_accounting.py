"""Honest accounting: the eval harness counts, per model request and in every mode, the
instructions, the tool definitions the model is really offered, and the messages.

A recording model sits under the harness's own meter and keeps the definitions each
request carried, so the counts are checked against what was sent, not against a second
copy of the counting code's assumptions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import Tool
from pydantic_ai._utils import estimate_string_tokens  # the estimate the harness follows
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import ToolDefinition

import evals.harness as harness
from agent_tools.adapters.pydantic_ai import CodeToolset
from evals.accounting import TOKEN_METHOD, definition_text, definition_tokens, estimate_tokens
from evals.domains import domain_function_names, functions_for
from evals.harness import INSTRUCTIONS, RunOptions, oracle_factory, run_eval, supported_modes
from evals.oracle import oracle_model
from evals.report import write_reports
from evals.results import Mode, RunSummary, TaskResult
from evals.schema import Task, load_datasets

TASKS = {t.id: t for t in load_datasets()}
SMALL = TASKS["orders-top-uk-spender"]  # two functions, several tools-mode requests
LARGE = TASKS["enterprise-overdue-germany-eur"]  # the 120-function catalog


class Recorder:
    """A model factory: the oracle, keeping the tool definitions of every request it gets."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, Mode], list[list[ToolDefinition]]] = {}

    def __call__(self, task: Task, mode: Mode) -> Model:
        oracle = oracle_model(task, mode)
        play: Callable[[list[ModelMessage], AgentInfo], ModelResponse] = oracle.function  # type: ignore[assignment]
        sent = self.sent.setdefault((task.id, mode), [])

        def recorded(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            sent.append(list(info.function_tools))
            return play(messages, info)

        return FunctionModel(recorded, model_name=f"recorded-{mode}")


async def run(tasks: list[Task], modes: list[Mode], factory: Any = oracle_factory) -> RunSummary:
    summary = await run_eval(
        tasks, factory, RunOptions(modes=modes, concurrency=1), model_name="oracle", oracle=True
    )
    assert summary.results and all(r.passed for r in summary.results), [r.reason for r in summary.results]
    return summary


def by_mode(summary: RunSummary) -> dict[tuple[str, str], TaskResult]:
    return {(r.task_id, r.mode): r for r in summary.results}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "one",
        "def f(x: int) -> int:\n    return x",
        '{"a": 1, "b": [1, 2.5]}',
        "Hello, world: yes.",
    ],
)
def test_estimate_is_pydantic_ais(text: str) -> None:
    """The oracle's usage has always come from pydantic-ai's test-model estimate: the harness keeps it."""
    assert estimate_tokens(text) == (estimate_string_tokens(text) if text.strip() else 0)
    assert "not a model's tokenizer" in TOKEN_METHOD


def _code_toolset(task: Task) -> CodeToolset:
    """The toolset code mode builds for `task`, with the options the harness passes."""
    _, options, _ = supported_modes(["code"])
    return CodeToolset(functions_for(task.domain, harness.offered_functions(task)), **options["code"])


@pytest.mark.parametrize("task", [SMALL, LARGE], ids=lambda t: t.id)
async def test_code_mode_counts_the_run_code_definition_sent(task: Task) -> None:
    recorder = Recorder()
    result = by_mode(await run([task], ["code"], recorder))[(task.id, "code")]
    sent = recorder.sent[(task.id, "code")]
    assert len(sent) == result.model_requests == len(result.per_request) == 2
    toolset = _code_toolset(task)
    run_code = toolset.tools["run_code"].tool_def
    for request, tools in zip(result.per_request, sent, strict=True):
        assert [t.name for t in tools] == ["run_code"] and request.tools_offered == 1
        # what was sent is the runner's description, and the count is that definition's size
        assert tools[0].description == toolset.runner.description() == run_code.description
        assert request.definitions == estimate_tokens(definition_text(tools[0])) > 0
        assert request.definition_chars == len(definition_text(tools[0])) > len(toolset.runner.description())
    assert result.definition_tokens == 2 * definition_tokens([run_code])


@pytest.mark.parametrize("task", [SMALL, LARGE], ids=lambda t: t.id)
async def test_tools_mode_counts_every_function_definition(task: Task) -> None:
    recorder = Recorder()
    result = by_mode(await run([task], ["tools"], recorder))[(task.id, "tools")]
    sent = recorder.sent[(task.id, "tools")]
    functions = functions_for(task.domain, harness.offered_functions(task))
    expected = sum(estimate_tokens(definition_text(Tool(f, takes_ctx=False).tool_def)) for f in functions)
    assert len(sent) == result.model_requests == len(result.per_request) >= 2
    for request, tools in zip(result.per_request, sent, strict=True):
        assert sorted(t.name for t in tools) == sorted(f.__name__ for f in functions)
        assert request.tools_offered == len(functions) == result.tools_offered
        assert request.definitions == definition_tokens(tools) == expected
    assert result.definition_tokens == expected * result.model_requests


async def test_the_split_adds_up_to_the_total() -> None:
    summary = await run([SMALL, LARGE], ["tools", "code"])
    for r in summary.results:
        assert r.tokens == r.system_tokens + r.definition_tokens + r.message_tokens + r.response_tokens
        assert r.tokens == sum(c.total for c in r.per_request)
        assert r.system_tokens == sum(c.system for c in r.per_request)
        assert r.message_tokens == sum(c.messages for c in r.per_request)
        assert r.response_tokens == sum(c.response for c in r.per_request) > 0
        for c in r.per_request:
            assert c.input == c.system + c.definitions + c.messages
            assert c.system == estimate_tokens(INSTRUCTIONS)  # the instructions go with every request
        messages = [c.messages for c in r.per_request]
        assert messages == sorted(messages) and messages[0] < messages[-1]  # the history grows
    results = by_mode(summary)
    # the definitions dominate a large catalog in every mode; tools mode sends 120 of them per request
    large_tools, large_code = results[(LARGE.id, "tools")], results[(LARGE.id, "code")]
    assert (
        large_tools.tools_offered == large_tools.functions_offered == len(domain_function_names("enterprise"))
    )
    assert large_tools.definition_tokens > large_tools.message_tokens
    assert large_code.definition_tokens > large_code.message_tokens


async def test_the_counts_follow_the_description(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is hard-coded: a shorter run_code description gives fewer definition tokens."""
    before = by_mode(await run([SMALL], ["code"]))[(SMALL.id, "code")]
    real = harness.CodeToolset

    def shorter(functions: list[Any], **options: Any) -> CodeToolset:
        toolset = real(functions, **options)
        toolset.tools["run_code"].description = "Run Python; the functions are list_customers and get_orders."
        return toolset

    monkeypatch.setattr(harness, "CodeToolset", shorter)
    after = by_mode(await run([SMALL], ["code"]))[(SMALL.id, "code")]
    expected = estimate_tokens(
        definition_text(
            ToolDefinition(
                name="run_code",
                description="Run Python; the functions are list_customers and get_orders.",
                parameters_json_schema=_code_toolset(SMALL).tools["run_code"].tool_def.parameters_json_schema,
            )
        )
    )
    assert [c.definitions for c in after.per_request] == [expected, expected]
    assert after.definition_tokens < before.definition_tokens
    assert after.message_tokens == before.message_tokens


class _NoCatalog:
    """A CodeToolset from before the catalog option: any `catalog=` is a TypeError."""

    made: list[dict[str, Any]] = []  # noqa: RUF012 - shared on purpose, reset per test

    def __new__(cls, functions: list[Any], **options: Any) -> CodeToolset:  # type: ignore[misc]
        if "catalog" in options:
            raise TypeError("CodeToolset.__init__() got an unexpected keyword argument 'catalog'")
        cls.made.append(options)
        return CodeToolset(functions, **options)


class _Accepts:
    """A CodeToolset that takes `catalog=` and notes it, whatever the installed agent_tools does."""

    made: list[Any] = []  # noqa: RUF012 - shared on purpose, reset per test

    def __new__(cls, functions: list[Any], **options: Any) -> CodeToolset:  # type: ignore[misc]
        cls.made.append(options.pop("catalog", None))
        return CodeToolset(functions, **options)


async def test_code_search_is_skipped_when_agent_tools_lacks_the_option(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _NoCatalog.made = []
    monkeypatch.setattr(harness, "CodeToolset", _NoCatalog)
    modes, options, skipped = supported_modes(["tools", "code", "code-search"])
    assert modes == ["tools", "code"] and options == {"code": {}}
    assert (
        "code-search" in skipped and "does not accept CodeToolset(catalog='search')" in skipped["code-search"]
    )
    summary = await run([SMALL], ["tools", "code", "code-search"])
    assert {r.mode for r in summary.results} == {"tools", "code"}
    assert summary.skipped_modes == skipped and summary.modes == ["tools", "code"]
    page = write_reports(summary, tmp_path)["html"].read_text()
    assert "code-search mode skipped" in page


async def test_the_catalog_option_is_passed_through(monkeypatch: pytest.MonkeyPatch) -> None:
    _Accepts.made = []
    monkeypatch.setattr(harness, "CodeToolset", _Accepts)
    summary = await run([SMALL], ["code", "code-search"])
    assert summary.mode_options == {"code": {"catalog": "full"}, "code-search": {"catalog": "search"}}
    assert _Accepts.made.count("full") >= 2 and _Accepts.made.count("search") >= 2  # probe + run


async def test_code_search_mode_with_this_agent_tools(tmp_path: Path) -> None:
    """With an agent_tools that lists names and summaries, the oracle looks its functions up
    (`describe`) in one more request, and the definitions shrink to the summaries."""
    modes, _, skipped = supported_modes(["code-search"])
    if not modes:
        pytest.skip(skipped["code-search"])
    recorder = Recorder()
    summary = await run([LARGE], ["code", "code-search"], recorder)
    results = by_mode(summary)
    search, full = results[(LARGE.id, "code-search")], results[(LARGE.id, "code")]
    description = recorder.sent[(LARGE.id, "code-search")][0][0].description or ""
    assert "def overdue_invoices(" not in description and "overdue_invoices" in description
    assert search.model_requests == 3 and search.run_code_retries == 0
    assert search.per_request[0].definitions < full.per_request[0].definitions
    assert search.per_request[0].definitions == estimate_tokens(
        definition_text(recorder.sent[(LARGE.id, "code-search")][0][0])
    )
    data = json.loads(write_reports(summary, tmp_path)["results"].read_text())
    assert set(data["aggregates"]["savings_by_mode"]) == {"code", "code-search"}
