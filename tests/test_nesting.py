"""Templates run from inside registered functions: each nesting level has its own
workers, so a nested run never waits on the worker its caller holds."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import agent_tools as at
from agent_tools.sandbox.pool import MAX_NESTING, get_runtime

INNER = at.orchestrator_from_str("x * 2", inputs={"x": int}, output=int)


@pytest.fixture
def one_worker() -> Iterator[None]:
    """One worker per level: a nested run on the caller's level could never start."""
    at.configure(max_workers=1)
    yield
    at.configure()


def test_sync_function_runs_a_template_with_the_only_worker_held(one_worker: None) -> None:
    def double(x: int) -> int:
        return INNER(x=x)

    outer = at.orchestrator_from_str(
        "double(x) + 1", inputs={"x": int}, output=int, tasks=[double], timeout=20
    )
    assert outer(x=20) == 41


def test_async_function_awaits_a_template_with_the_only_worker_held(one_worker: None) -> None:
    async def double(x: int) -> int:
        return await INNER.aio(x=x)

    outer = at.orchestrator_from_str(
        "parallel_map(double, [1, 2, 3])", inputs={}, output=list[int], tasks=[double], timeout=20
    )
    assert outer() == [2, 4, 6]
    assert asyncio.run(outer.aio()) == [2, 4, 6]


def test_async_function_called_directly_awaits_a_template(one_worker: None) -> None:
    async def double(x: int) -> int:
        return await INNER.aio(x=x)

    outer = at.orchestrator_from_str(
        "double(x) + 1", inputs={"x": int}, output=int, tasks=[double], timeout=20
    )
    assert outer(x=5) == 11
    assert asyncio.run(outer.aio(x=5)) == 11


def test_sync_fan_out_threads_run_templates_one_level_down(one_worker: None) -> None:
    def double(x: int) -> int:
        return INNER(x=x)

    outer = at.orchestrator_from_str(
        "parallel_map(double, [1, 2, 3, 4], concurrency=4)",
        inputs={},
        output=list[int],
        tasks=[double],
        timeout=20,
    )
    assert outer() == [2, 4, 6, 8]
    assert get_runtime().worker_cap() == 2  # level 0 and level 1, nothing deeper


def test_nesting_deeper_than_the_limit_is_a_clear_error(one_worker: None) -> None:
    def dive(n: int) -> int:
        return DIVE(n=n)

    DIVE = at.orchestrator_from_str(
        "dive(n - 1) + 1 if n > 0 else 0", inputs={"n": int}, output=int, tasks=[dive], timeout=30
    )
    assert DIVE(n=MAX_NESTING) == MAX_NESTING
    with pytest.raises(at.HostFunctionError) as caught:
        DIVE(n=MAX_NESTING + 3)
    innermost: BaseException = caught.value
    while innermost.__cause__ is not None:
        innermost = innermost.__cause__
    assert isinstance(innermost, at.ResourceLimitError)
    assert f"nested more than {MAX_NESTING} deep" in str(innermost)
    # One pool per level reached, each within the cap.
    assert get_runtime().worker_cap() == MAX_NESTING + 1
