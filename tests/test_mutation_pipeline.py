"""One template run, as its caller sees it: missing secrets named before anything
runs, the wall-clock timeout (of the run and of the cache read) with what it says and
the hint, retries paced by the backoff, and what the record keeps
(mutation-tested, see benchmarks/mutation.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest

import agent_tools as at
from agent_tools.base.prompts import hint
from agent_tools.boundary.measure import io_size
from agent_tools.task import cache, pipeline

_made: list[str] = []


def note(x: str) -> str:
    """Record a call."""
    _made.append(x)
    return x


def nap(seconds: float) -> float:
    """Sleep on the host."""
    time.sleep(seconds)
    return seconds


def test_missing_secrets_are_all_named_with_their_variables_and_nothing_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _made.clear()
    monkeypatch.delenv("MUT_A", raising=False)
    monkeypatch.setenv("MUT_B", "set")
    monkeypatch.delenv("MUT_C", raising=False)
    secrets = [
        at.Secret("a", as_env_var="MUT_A"),
        at.Secret("b", as_env_var="MUT_B"),
        at.Secret("c", as_env_var="MUT_C"),
    ]
    t = at.orchestrator_from_str('note("ran")', inputs={}, output=str, tasks=[note], secrets=secrets)
    with pytest.raises(at.SecretError) as info:
        t()
    assert info.value.message == (
        "secrets not set on the host: 'a' (host environment variable MUT_A), "
        "'c' (host environment variable MUT_C)"
    )
    assert _made == []
    monkeypatch.setenv("MUT_A", "x")
    monkeypatch.setenv("MUT_C", "y")
    assert t() == "ran"


def test_the_wall_clock_timeout_says_what_it_bounds_and_how_to_stay_within_it() -> None:
    code = "nap(2.0)"
    t = at.orchestrator_from_str(code, inputs={}, output=float, tasks=[nap], timeout=0.25)
    with pytest.raises(at.TimeLimitError) as info:
        t()
    assert info.value.message == (
        "the run took longer than timeout=0.25s (wall clock, host functions included); "
        "it was stopped and pending host calls were cancelled"
    )
    assert info.value.hint == hint("wall-clock")
    assert info.value.source == code


def test_a_run_within_its_wall_clock_timeout_returns_its_value() -> None:
    t = at.orchestrator_from_str("nap(0.01)", inputs={}, output=float, tasks=[nap], timeout=5)
    record = at.run(t)
    assert record.result == 0.01
    assert [c.function for c in record.calls] == ["nap"]
    assert record.host_time >= 0.01


def test_a_slow_cache_read_says_it_was_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    real_get = cache.CacheStore.get

    def slow_get(self: cache.CacheStore, key: str) -> tuple[bool, Any]:
        time.sleep(1.0)
        return real_get(self, key)

    monkeypatch.setattr(cache.CacheStore, "get", slow_get)
    t = at.orchestrator_from_str("x + 1", inputs={"x": int}, output=int, cache="auto", timeout=0.2)
    with pytest.raises(at.TimeLimitError) as info:
        t(x=1)
    assert info.value.message == "reading the result cache took longer than timeout=0.2s (wall clock)"
    assert info.value.hint == hint("wall-clock")


def test_a_cached_result_within_the_timeout_is_read_back_without_running() -> None:
    _made.clear()
    t = at.orchestrator_from_str(
        "note(x)", inputs={"x": str}, output=str, tasks=[note], cache="auto", timeout=5
    )
    assert t(x="a") == "a"
    record = at.run(t, x="a")
    assert record.cached and record.result == "a"
    assert _made == ["a"]


class _State:
    def __init__(self, attempt_number: int) -> None:
        self.attempt_number = attempt_number


def test_retries_wait_as_the_backoff_says_the_first_after_its_base() -> None:
    wait = pipeline._wait(at.Backoff(base=0.5, factor=3.0, cap=100))  # pyright: ignore[reportPrivateUsage]
    assert [wait(_State(n)) for n in (1, 2, 3)] == [0.5, 1.5, 4.5]  # pyright: ignore[reportArgumentType]
    assert pipeline._wait(None)(_State(3)) == 0.0  # pyright: ignore[reportPrivateUsage, reportArgumentType]


def _echo(limit: int, **options: Any) -> at.CodeTaskTemplate:
    return at.orchestrator_from_str("x", inputs={"x": str}, output=str, max_inline_io_bytes=limit, **options)


@pytest.mark.parametrize("options", [{}, {"timeout": 5}], ids=["plain", "full"])
def test_inputs_and_output_may_take_exactly_max_inline_io_bytes(options: dict[str, Any]) -> None:
    text = "a" * 40
    size = io_size({"x": text})
    out = at.orchestrator_from_str(
        "None", inputs={"x": str}, output=type(None), max_inline_io_bytes=size, **options
    )
    assert out(x=text) is None  # the inputs at the limit, no output
    made = at.orchestrator_from_str(
        "'a' * 40", inputs={}, output=str, max_inline_io_bytes=io_size(text), **options
    )
    assert made() == text  # no inputs, the output at the limit
    with pytest.raises(at.InputValidationError) as info:
        out.override(max_inline_io_bytes=size - 1)(x=text)
    assert info.value.message == f"the inputs take {size} bytes, over max_inline_io_bytes={size - 1}"


def test_inputs_plus_output_over_the_limit_names_their_total() -> None:
    text = "a" * 40
    total = io_size({"x": text}) + io_size(text)
    with pytest.raises(at.OutputValidationError) as info:
        _echo(total - 1)(x=text)
    assert (
        info.value.message == f"inputs plus output take {total} bytes, over max_inline_io_bytes={total - 1}"
    )
    assert _echo(total)(x=text) == text


def test_inputs_that_cannot_cross_into_the_sandbox_say_why() -> None:
    with pytest.raises(at.InputValidationError) as info:
        _echo(1000)(x="a\ud800b")
    assert info.value.message.startswith(
        "the inputs cannot cross into the sandbox: a str with a lone surrogate"
    )


@pytest.mark.parametrize(
    ("debuggable", "options"),
    [(False, {"timeout": 5}), (True, {}), (True, {"timeout": 5})],
    ids=["not-debuggable", "debuggable", "debuggable-with-timeout"],
)
def test_the_record_keeps_the_traceback_only_of_a_debuggable_run(
    debuggable: bool, options: dict[str, Any]
) -> None:
    t = at.orchestrator_from_str("x = 1\n1 / 0", inputs={}, output=int, debuggable=debuggable, **options)
    with pytest.raises(at.SandboxRuntimeError) as info:
        t()
    record = info.value.record
    assert record is not None
    if debuggable:
        assert record.traceback == info.value.traceback and record.traceback
        assert record.frames == list(info.value.frames) and record.frames
    else:
        assert record.traceback is None and record.frames == []


def test_a_cache_only_template_reads_its_result_back() -> None:
    _made.clear()
    t = at.orchestrator_from_str("note(x)", inputs={"x": str}, output=str, tasks=[note], cache="auto")
    assert t(x="b") == "b"
    assert at.run(t, x="b").cached
    assert _made == ["b"]


@pytest.mark.parametrize("options", [{}, {"timeout": 5}], ids=["plain", "full"])
def test_the_record_says_how_long_the_run_took(options: dict[str, Any]) -> None:
    started = time.perf_counter()
    record = at.run(at.orchestrator_from_str("nap(0.05)", inputs={}, output=float, tasks=[nap], **options))
    took = time.perf_counter() - started
    assert 0.05 <= record.duration <= took
    failing = at.orchestrator_from_str("nap(0.05)\n1 / 0", inputs={}, output=int, tasks=[nap], **options)
    started = time.perf_counter()
    with pytest.raises(at.SandboxRuntimeError) as info:
        failing()
    took = time.perf_counter() - started
    assert info.value.record is not None
    assert 0.05 <= info.value.record.duration <= took
    assert info.value.record.errors == [info.value]


_tries: list[int] = []


def flaky(x: int) -> int:
    """Fails on its first two calls."""
    _tries.append(x)
    time.sleep(0.02)
    if len(_tries) < 3:
        raise ConnectionError("try again")
    return x


def test_every_attempts_calls_and_host_time_are_kept() -> None:
    _tries.clear()
    t = at.orchestrator_from_str("flaky(7)", inputs={}, output=int, tasks=[flaky], retries=2)
    record = at.run(t)
    assert record.result == 7 and record.attempts == 3
    assert [(c.function, c.attempt) for c in record.calls] == [("flaky", 1), ("flaky", 2), ("flaky", 3)]
    assert record.host_time >= 0.06
    assert len(record.errors) == 2 and all(isinstance(err, at.HostFunctionError) for err in record.errors)
