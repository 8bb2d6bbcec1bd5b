"""Tests that fail when a promise of README.md or SECURITY.md breaks: limits hold at
the value set (not merely "an error is raised"), retries pace and stop as promised,
parallel_map's order, concurrency and first failure, the pre-flight check lets valid
code through, and the text the model reads carries what it promises."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import agent_tools as at
from agent_tools.adapters.openai import CodeTool

from .conftest import add, monty_workers

# -- limits hold at the value set --------------------------------------------------------


@pytest.mark.parametrize("limit_ms", [200, 400])
def test_timeout_ms_stops_a_cpu_loop_near_the_value_set(limit_ms: int) -> None:
    t = at.orchestrator_from_str("while True:\n    pass", inputs={}, timeout_ms=limit_ms)
    started = time.perf_counter()
    with pytest.raises(at.TimeLimitError):
        t()
    elapsed = time.perf_counter() - started
    assert limit_ms / 1000 * 0.9 <= elapsed < limit_ms / 1000 + 2.5  # 100x looser would be 20 s


@pytest.mark.parametrize("limit", [2_000_000, 4_000_000])
def test_max_memory_refuses_a_heap_a_few_times_over_it_and_allows_one_under(limit: int) -> None:
    config = at.SandboxedConfig(max_memory=limit)
    over = at.orchestrator_from_str(
        "x = ['m' * 1000 for _ in range(n)]\nlen(x)", inputs={"n": int}, output=int, plugin_config=config
    )
    with pytest.raises(at.MemoryLimitError):
        over(n=limit * 3 // 1000)  # 3x the limit: a 50x looser limit would let it pass
    assert over(n=limit // 10 // 1000) == limit // 10 // 1000


@pytest.mark.parametrize("depth", [40, 80])
def test_max_stack_depth_refuses_recursion_past_it_and_allows_below(depth: int) -> None:
    code = "def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\nf(k)"
    config = at.SandboxedConfig(max_stack_depth=depth)
    t = at.orchestrator_from_str(code, inputs={"k": int}, output=int, plugin_config=config)
    with pytest.raises(at.RecursionLimitError):
        t(k=depth * 2)  # a 4x looser limit would let it pass
    assert t(k=depth // 2) == depth // 2


@pytest.mark.parametrize("limit", [3, 10])
def test_max_host_calls_allows_exactly_that_many(limit: int) -> None:
    config = at.SandboxedConfig(max_host_calls=limit)
    t = at.orchestrator_from_str(
        "s = 0\nfor i in range(n):\n    s = add(s, 1)\ns",
        inputs={"n": int},
        output=int,
        tasks=[add],
        plugin_config=config,
    )
    assert t(n=limit) == limit
    with pytest.raises(at.CallLimitError):
        t(n=limit + 1)


def test_wall_clock_timeout_kills_a_spinning_worker_so_a_one_worker_pool_is_free() -> None:
    at.configure(max_workers=1)
    try:
        cpu = at.orchestrator_from_str("while True:\n    pass", inputs={}, timeout_ms=60_000, timeout=0.3)
        with pytest.raises(at.TimeLimitError):
            cpu()
        ok = at.orchestrator_from_str("x + 1", inputs={"x": int}, output=int)
        started = time.perf_counter()
        assert ok(x=1) == 2
        assert time.perf_counter() - started < 10  # a worker left spinning would hold the pool 60 s
    finally:
        at.configure()


# -- retries ------------------------------------------------------------------------------


def test_backoff_waits_about_the_delay_set_no_more() -> None:
    attempts: list[float] = []

    def flaky() -> int:
        attempts.append(time.perf_counter())
        raise ValueError("flaky")

    strategy = at.RetryStrategy(count=2, backoff=at.Backoff(base=0.3, factor=1.0, cap=None))
    t = at.orchestrator_from_str("flaky()", inputs={}, tasks=[flaky], retries=strategy)
    with pytest.raises(at.HostFunctionError):
        t()
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert len(gaps) == 2
    for gap in gaps:
        assert 0.28 <= gap < 0.9  # 1.2 s instead of 0.3 s must fail


@pytest.mark.parametrize(
    ("code", "config", "error"),
    [
        ("while True:\n    pass", at.SandboxedConfig(timeout_ms=100), at.TimeLimitError),
        (
            "x = ['m' * 1000 for _ in range(100000)]",
            at.SandboxedConfig(max_memory=2_000_000),
            at.MemoryLimitError,
        ),
        (
            "def f(n):\n    return f(n + 1)\nf(0)",
            at.SandboxedConfig(max_stack_depth=30),
            at.RecursionLimitError,
        ),
        ("for i in range(10):\n    add(i, 1)", at.SandboxedConfig(max_host_calls=3), at.CallLimitError),
        ("while True:\n    print('x' * 100)", at.SandboxedConfig(max_output_bytes=300), at.OutputLimitError),
        ("add(1, 'two')", at.SandboxedConfig(type_check=True), at.TypeCheckError),
        ("1 +", at.SandboxedConfig(), at.SandboxSyntaxError),
        ("1 / 0", at.SandboxedConfig(), at.SandboxRuntimeError),
    ],
)
def test_limit_validation_and_code_errors_are_never_retried(
    code: str, config: at.SandboxedConfig, error: type[Exception]
) -> None:
    t = at.orchestrator_from_str(code, inputs={}, tasks=[add], plugin_config=config, retries=3)
    with pytest.raises(error) as info:
        t()
    record = getattr(info.value, "record", None)
    assert record is not None
    assert record.attempts == 1


def test_a_failing_registered_function_is_retried_and_every_attempt_recorded() -> None:
    tries: list[int] = []

    def flaky(x: int) -> int:
        tries.append(x)
        if len(tries) < 3:
            raise ValueError("not yet")
        return x * 2

    t = at.orchestrator_from_str("flaky(21)", inputs={}, output=int, tasks=[flaky], retries=3)
    record = at.run(t)
    assert record.result == 42
    assert record.attempts == 3
    assert [c.attempt for c in record.calls] == [1, 2, 3]


# -- parallel_map ---------------------------------------------------------------------------


def test_parallel_map_reports_the_first_failure_in_item_order_not_in_time() -> None:
    def slow_fail(i: int) -> int:
        if i == 1:
            time.sleep(0.3)
            raise ValueError("item 1 failed")
        if i == 4:
            raise ValueError("item 4 failed")
        return i

    t = at.orchestrator_from_str("parallel_map(slow_fail, range(6))", inputs={}, tasks=[slow_fail])
    for _ in range(3):
        with pytest.raises(at.HostFunctionError) as info:
            t()
        assert "item 1 failed" in str(info.value)
        assert info.value.call_args == (1,)


@pytest.fixture
def gauge() -> Iterator[dict[str, int]]:
    yield {"now": 0, "peak": 0}


@pytest.mark.parametrize(("concurrency", "expected"), [(None, 8), (3, 3), (1, 1)])
def test_parallel_map_runs_as_many_at_once_as_asked_sync(
    concurrency: int | None, expected: int, gauge: dict[str, int]
) -> None:
    lock = threading.Lock()

    def probe(i: int) -> int:
        with lock:
            gauge["now"] += 1
            gauge["peak"] = max(gauge["peak"], gauge["now"])
        time.sleep(0.05)
        with lock:
            gauge["now"] -= 1
        return i

    arg = "" if concurrency is None else f", concurrency={concurrency}"
    t = at.orchestrator_from_str(
        f"parallel_map(probe, range(20){arg})", inputs={}, output=list[int], tasks=[probe]
    )
    assert t() == list(range(20))
    assert gauge["peak"] == expected


@pytest.mark.parametrize(("concurrency", "expected"), [(None, 8), (4, 4)])
async def test_parallel_map_runs_as_many_at_once_as_asked_async(
    concurrency: int | None, expected: int, gauge: dict[str, int]
) -> None:
    async def aprobe(i: int) -> int:
        gauge["now"] += 1
        gauge["peak"] = max(gauge["peak"], gauge["now"])
        await asyncio.sleep(0.05)
        gauge["now"] -= 1
        return i

    arg = "" if concurrency is None else f", concurrency={concurrency}"
    t = at.orchestrator_from_str(
        f"parallel_map(aprobe, range(20){arg})", inputs={}, output=list[int], tasks=[aprobe]
    )
    assert await t.aio() == list(range(20))
    assert gauge["peak"] == expected


# -- the pre-flight check ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "d = {'a': 1}\nx = d.get('a')\nabs(x)",
        "import re\nm = re.match('a', 'abc')\nm.group(0)",
        "d = {'a': 1}\nsum([d.get('a'), 2])",
    ],
)
def test_checker_complaints_about_builtins_never_block_valid_code(code: str) -> None:
    t = at.orchestrator_from_str(
        code, inputs={}, output=Any, tasks=[add], plugin_config=at.SandboxedConfig(type_check=True)
    )
    assert t() is not None


@pytest.mark.parametrize("code", ["add(1, 'two')", "add(1)", "add(1, 2, 3)", "add(a=1, c=2)", "ad(1, 2)"])
def test_wrong_calls_to_registered_functions_are_stopped_before_anything_runs(code: str) -> None:
    made: list[int] = []

    def effect() -> int:
        made.append(1)
        return 1

    t = at.orchestrator_from_str(
        f"effect()\n{code}", inputs={}, tasks=[add, effect], plugin_config=at.SandboxedConfig(type_check=True)
    )
    with pytest.raises((at.TypeCheckError, at.SandboxSyntaxError)):
        t()
    assert made == []


# -- the text the model reads -------------------------------------------------------------------


def test_model_error_numbers_the_whole_code_not_an_excerpt() -> None:
    lines = [f"v{i} = {i}" for i in range(1, 30)] + ["v1 / 0"]
    reply = at.CodeRunner([add]).run("\n".join(lines))
    assert not reply.ok
    for n in (1, 2, 15, 29):
        assert f"{n:>2} | v{n} = {n}" in reply.text
    assert "> 30 | v1 / 0" in reply.text


def test_model_error_shows_printed_output_and_the_calls_made_capped_at_20() -> None:
    code = "print('before the error')\nfor i in range(25):\n    add(i, 1)\n1 / 0"
    reply = at.CodeRunner([add]).run(code)
    text = reply.text
    assert "Printed before the error:\nbefore the error" in text
    assert "- add(0, 1) -> 1" in text
    assert "- add(19, 1) -> 20" in text
    assert "add(20, 1)" not in text
    assert "- ... and 5 more" in text


def test_model_error_marks_the_failing_line_with_context_around_it() -> None:
    reply = at.CodeRunner([add]).run("a = 1\nb = 2\nc = a / 0\nd = 4")
    assert "> 3 | c = a / 0" in reply.text
    assert "  2 | b = 2" in reply.text and "  4 | d = 4" in reply.text
    assert "^" in reply.text


@pytest.fixture
def no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISSING_SECRET_FOR_TEST", raising=False)


def test_missing_secret_is_raised_by_code_runner_and_code_tool_before_anything_runs(no_secret: None) -> None:
    made: list[int] = []

    def send(x: int) -> int:
        made.append(x)
        return x

    runner = at.CodeRunner([send], secrets=["MISSING_SECRET_FOR_TEST"])
    with pytest.raises(at.SecretError):
        runner.run("send(1)")
    tool = CodeTool([send], secrets=["MISSING_SECRET_FOR_TEST"])
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "run_code", "arguments": '{"code": "send(2)"}'},
    }
    with pytest.raises(at.SecretError):
        tool.handle(call)
    assert made == []


class _PreHooked(at.CodeTaskTemplate):
    made: list[str]

    def pre(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.made.append("pre")
        return {}


def test_missing_secret_fails_before_the_pre_hook_and_any_function(no_secret: None) -> None:
    made: list[str] = []

    def send(x: int) -> int:
        made.append("send")
        return x

    t = _PreHooked(
        name="hooked",
        interface=at.NativeInterface.from_types({}, type(None)),
        secrets="MISSING_SECRET_FOR_TEST",
        _user_source="send(1)",
        _user_functions={"send": send},
    )
    t.made = made
    with pytest.raises(at.SecretError):
        t()
    assert made == []


# -- worker replacement ----------------------------------------------------------------------------


def test_a_crashed_worker_is_replaced_by_a_new_process() -> None:
    at.shutdown()  # a fresh pool: its one worker is the one the flood kills
    ok = at.orchestrator_from_str("x + 1", inputs={"x": int}, output=int)
    assert ok(x=1) == 2  # the pool is up
    before = set(monty_workers())
    assert len(before) == 1
    flood = at.orchestrator_from_str(
        "while True:\n    print('x' * 100)", inputs={}, plugin_config=at.SandboxedConfig(max_output_bytes=100)
    )
    with pytest.raises(at.OutputLimitError):
        flood()  # kills its worker
    assert ok(x=2) == 3
    after = set(monty_workers())
    assert after - before, "no new worker process replaced the killed one"
    assert not before & after, "the killed worker is still counted"


def test_a_slow_cache_read_is_within_the_wall_clock_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_tools.task import cache

    real_get = cache.CacheStore.get

    def slow_get(self: cache.CacheStore, key: str) -> tuple[bool, Any]:
        time.sleep(2)
        return real_get(self, key)

    monkeypatch.setattr(cache.CacheStore, "get", slow_get)
    t = at.orchestrator_from_str("x + 1", inputs={"x": int}, output=int, cache="auto", timeout=0.3)
    started = time.perf_counter()
    with pytest.raises(at.TimeLimitError) as info:
        t(x=1)
    assert time.perf_counter() - started < 1.5
    assert "result cache" in str(info.value)
    untimed = at.orchestrator_from_str("x + 2", inputs={"x": int}, output=int, cache="auto")
    assert untimed(x=1) == 3  # without a timeout the read simply takes its time


def test_missing_secret_is_raised_to_the_caller_of_a_pydantic_ai_agent(no_secret: None) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    made: list[int] = []

    def send(x: int) -> int:
        made.append(x)
        return x

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[ToolCallPart("run_code", {"code": "send(1)"})])

    toolset = at.CodeToolset([send], secrets=["MISSING_SECRET_FOR_TEST"])
    agent: Agent[None, str] = Agent(FunctionModel(model), toolsets=[toolset])
    with pytest.raises(at.SecretError):
        agent.run_sync("go")
    assert made == []
