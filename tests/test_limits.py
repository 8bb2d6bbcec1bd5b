"""Limits (point 6): each raises its own error and leaves the pool healthy."""

from __future__ import annotations

import time

import pytest

import agent_tools as at

from .conftest import add

pytestmark = pytest.mark.usefixtures("healthy")


def make(code: str, **config: int) -> at.CodeTaskTemplate:
    return at.orchestrator_from_str(
        code,
        inputs={},
        tasks=[add],
        plugin_config=at.SandboxedConfig(**config),  # type: ignore[arg-type]
    )


def test_cpu_loop_hits_the_time_limit() -> None:
    started = time.perf_counter()
    with pytest.raises(at.TimeLimitError, match="timeout_ms=200") as info:
        make("while True:\n    pass", timeout_ms=200)()
    assert time.perf_counter() - started < 5
    assert isinstance(info.value, TimeoutError)


def test_time_in_host_functions_is_not_counted() -> None:
    def slow() -> int:
        time.sleep(0.3)
        return 1

    t = at.orchestrator_from_str(
        "slow() + slow()",
        inputs={},
        output=int,
        tasks=[slow],
        plugin_config=at.SandboxedConfig(timeout_ms=200),
    )
    assert t() == 2


def test_sleeping_counts_against_the_time_limit() -> None:
    with pytest.raises(at.TimeLimitError):
        make("import time\ntime.sleep(0.2)\ntime.sleep(0.2)", timeout_ms=300)()
    with pytest.raises(at.TimeLimitError):
        make("import asyncio\nawait asyncio.sleep(1)", timeout_ms=300)()


def test_memory_limit() -> None:
    with pytest.raises(at.MemoryLimitError, match="max_memory=5000000") as info:
        make("x = []\nwhile True:\n    x.append('a' * 10000)", max_memory=5_000_000)()
    assert isinstance(info.value, at.ResourceLimitError)


@pytest.mark.parametrize("code", ["10 ** 10 ** 8", "'a' * 10 ** 9", "[0] * 10 ** 9"])
def test_single_huge_allocations(code: str) -> None:
    with pytest.raises((at.MemoryLimitError, at.TimeLimitError)):
        make(code, max_memory=20_000_000, timeout_ms=2000)()


def test_recursion_limit() -> None:
    with pytest.raises(at.RecursionLimitError, match="max_stack_depth=50") as info:
        make("def f(n):\n    return f(n + 1)\nf(0)", max_stack_depth=50)()
    assert info.value.line == 2


def test_recursion_within_the_limit_works() -> None:
    t = at.orchestrator_from_str(
        "def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\nf(40)",
        inputs={},
        output=int,
        plugin_config=at.SandboxedConfig(max_stack_depth=50),
    )
    assert t() == 40


def test_host_call_budget() -> None:
    with pytest.raises(at.CallLimitError, match="more than 10 calls") as info:
        make("for i in range(20):\n    add(i, 1)", max_host_calls=10)()
    rec = info.value.record
    assert rec is not None and len(rec.calls) == 10
    assert info.value.line == 2


def test_host_call_budget_cannot_be_caught_away() -> None:
    code = """
    n = 0
    for i in range(20):
        try:
            add(i, 1)
            n += 1
        except Exception:
            pass
    n
    """
    with pytest.raises(at.CallLimitError):
        make(code, max_host_calls=5)()


def test_parallel_map_counts_against_the_budget() -> None:
    with pytest.raises(at.CallLimitError):
        make("parallel_map(add, range(30), range(30))", max_host_calls=10)()


def test_printed_output_cap() -> None:
    with pytest.raises(at.OutputLimitError, match="printed more than 1000 bytes"):
        make("while True:\n    print('x' * 100)", max_output_bytes=1000)()
    rec = at.run(make("for i in range(5):\n    print(i)", max_output_bytes=1000))
    assert rec.stdout == "0\n1\n2\n3\n4\n"


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="timeout_ms must be a positive int"):
        at.SandboxedConfig(timeout_ms=0)
    with pytest.raises(ValueError, match="max_memory must be a positive int"):
        at.SandboxedConfig(max_memory=-1)
    with pytest.raises(TypeError, match="type_check must be a bool"):
        at.SandboxedConfig(type_check="yes")  # type: ignore[arg-type]
