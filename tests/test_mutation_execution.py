"""Error classification and fan-out, as the caller and the model see them: which
hint an error carries, what a type check's refusal says and where, which exception a
failed host call becomes, and which thread (at which nesting depth) a `parallel_map`
call runs on (mutation-tested, see benchmarks/mutation.py)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import signal
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

import agent_tools as at
from agent_tools.base.prompts import hint
from agent_tools.sandbox import classify
from agent_tools.sandbox.pool import nesting, worker_pids

_hint = classify._hint  # pyright: ignore[reportPrivateUsage]
_typing_error = classify._typing_error  # pyright: ignore[reportPrivateUsage]

CHECKED = at.SandboxedConfig(type_check=True)


@pytest.mark.parametrize(
    ("etype", "message", "key"),
    [
        ("ModuleNotFoundError", "No module named 'statistics'", "statistics"),
        ("ModuleNotFoundError", "No module named 'heapq'", "heapq"),
        ("ModuleNotFoundError", "No module named 'numpy'", "module-missing"),
        ("ModuleNotFoundError", "the import machinery is not available", "module-missing"),
        ("ImportError", "cannot import name 'x' from 'json'", "import-name"),
        ("AttributeError", "module 'asyncio' has no attribute 'create_task'", "module-member"),
        ("ImportError", "No module named 'numpy'", "module-missing"),
        ("AttributeError", "'dict' object has no attribute 'get'", "method-value"),
        ("AttributeError", "type object 'str' has no attribute 'upper'", "method-value"),
        (
            "NotImplementedError",
            "external function 'f' cannot suspend in this synchronous context",
            "callback-call",
        ),
        ("RuntimeError", "datetime is not supported in this environment", "clock"),
        ("RuntimeError", "time.time() is not supported in this environment", "clock"),
        ("RuntimeError", "date.today() is not supported in this environment", "clock"),
        ("RuntimeError", "os.urandom() is not supported in this environment", "entropy"),
        ("RuntimeError", "os.getenv() is not supported in this environment", "no-os"),
        ("TypeError", "object int can't be awaited", "await"),
    ],
)
def test_runtime_errors_get_the_hint_that_names_their_cause(etype: str, message: str, key: str) -> None:
    if key == "module-missing":  # it lists the modules that do import
        expected = hint(
            key,
            modules="asyncio, base64, bisect, collections, copy, csv, dataclasses, datetime, "
            "decimal, functools, hashlib, itertools, json, math, os, pathlib, random, re, sys, time, "
            "tomllib, typing, unicodedata",
        )
        assert _hint(etype, message) == expected
        return
    if key == "import-name":
        assert _hint(etype, message) == hint(
            key, name="x", module="json", has="JSONDecodeError, dump, dumps, load, loads"
        )
        return
    if key == "module-member":
        assert _hint(etype, message) == hint(
            "import-name", name="create_task", module="asyncio", has="gather, run, sleep"
        )
        return
    if key == "method-value":
        owner, method = ("dict", "get") if "dict" in message else ("str", "upper")
        assert _hint(etype, message) == hint(key, owner=owner, method=method)
        return
    if key == "callback-call":
        assert _hint(etype, message) == hint(key, name="f")
        return
    assert _hint(etype, message) == hint(key)


@pytest.mark.parametrize(
    ("etype", "message"),
    [
        ("ValueError", "os.getenv() is not supported in this environment"),
        ("ValueError", "object int can't be awaited"),
        ("TypeError", "unsupported operand type(s) for +: 'int' and 'str'"),
        ("RuntimeError", "something else went wrong"),
        ("ModuleNotFoundErrorX", "No module named 'heapq'"),
        ("AttributeError", "'dict' object has no attribute 'total'"),
        ("AttributeError", "module 'numpy' has no attribute 'array'"),
        ("AttributeError", "'Money' object has no attribute 'get'"),
        ("AttributeError", "'dict' object has no attribute '__len__'"),
        ("ValueError", "external function 'f' cannot suspend in this synchronous context"),
    ],
)
def test_other_errors_get_no_hint(etype: str, message: str) -> None:
    assert _hint(etype, message) is None


def _refused(code: str) -> at.SandboxError:
    t = at.orchestrator_from_str(code, inputs={}, output=Any, plugin_config=CHECKED)
    with pytest.raises(at.SandboxError) as info:
        t()
    return info.value


def test_a_type_check_refusal_lists_every_problem_at_the_first_ones_place() -> None:
    error = _refused("foo(1)\nbar(2)")
    assert isinstance(error, at.TypeCheckError)
    assert error.message == (
        "error[unresolved-reference] Name `foo` used when not defined; "
        "error[unresolved-reference] Name `bar` used when not defined"
    )
    assert (error.line, error.column, error.source) == (1, 1, "foo(1)\nbar(2)")


def test_a_syntax_error_found_by_the_type_check_reads_as_one() -> None:
    error = _refused("x = 1\ny = (1,")
    assert type(error) is at.SandboxSyntaxError
    assert error.message == "unexpected EOF while parsing"
    assert (error.line, error.column, error.source) == (2, 8, "x = 1\ny = (1,")


def test_a_builtin_the_checker_lacks_does_not_excuse_a_later_unknown_function() -> None:
    # The checker's stubs lack PermissionError (the sandbox has it): that complaint is
    # skipped, and the next one, an unknown function, still stops the run.
    error = _refused("x = PermissionError\nnosuch(1)")
    assert isinstance(error, at.TypeCheckError)
    assert "nosuch" in error.message
    ok = at.orchestrator_from_str("x = PermissionError\n1", inputs={}, output=int, plugin_config=CHECKED)
    assert ok() == 1


class _Typing:
    """A checker's error whose text has no `file:line:col:` position."""

    def __init__(self, display: str) -> None:
        self._display = display

    def display(self) -> str:
        return self._display

    def __str__(self) -> str:
        return "the checker failed"


def test_a_type_check_error_without_a_position_shows_its_first_line_and_keeps_the_rest() -> None:
    error = _typing_error(_Typing("  checker crashed\nsecond line\n"), "x = 1", {})  # pyright: ignore[reportArgumentType]
    assert isinstance(error, at.TypeCheckError)
    assert error.message == "checker crashed"
    assert error.diagnostics == "checker crashed\nsecond line"


def test_a_type_check_error_without_any_text_says_what_the_error_says() -> None:
    error = _typing_error(_Typing("   "), "x = 1", {})  # pyright: ignore[reportArgumentType]
    assert isinstance(error, at.TypeCheckError)
    assert error.message == "the checker failed"
    assert error.diagnostics == ""


def boom() -> int:
    """Always fails."""
    raise ValueError("boom failed")


def test_an_error_the_code_raises_after_catching_a_host_failure_is_the_codes_own() -> None:
    # Line 5 names `boom` but raises a KeyError, not boom's ValueError: the code's own error.
    code = 'try:\n    boom()\nexcept ValueError:\n    pass\n{}["boom"]'
    t = at.orchestrator_from_str(code, inputs={}, output=Any, tasks=[boom])
    with pytest.raises(at.SandboxError) as info:
        t()
    assert type(info.value) is at.SandboxRuntimeError
    assert info.value.exc_type == "KeyError"
    assert info.value.line == 5


_threads: list[int] = []
_depths: list[int] = []


def where(i: int) -> int:
    """Record the thread and nesting depth of this call."""
    _threads.append(threading.get_ident())
    _depths.append(nesting.get())
    return i


@pytest.fixture
def calls() -> None:
    _threads.clear()
    _depths.clear()


@pytest.mark.usefixtures("calls")
@pytest.mark.parametrize(
    ("items", "concurrency"), [([1, 2, 3], 1), ([1], 4)], ids=["concurrency-1", "one-item"]
)
def test_a_fan_out_with_one_lane_calls_in_order_on_the_runs_own_thread(
    items: list[int], concurrency: int
) -> None:
    code = f"where(0)\nparallel_map(where, {items!r}, concurrency={concurrency})"
    t = at.orchestrator_from_str(code, inputs={}, output=list[int], tasks=[where])
    assert t() == items
    assert len(set(_threads)) == 1  # no helper thread: the same as the direct call's


@pytest.mark.usefixtures("calls")
def test_calls_on_fan_out_threads_run_one_level_deeper_as_direct_calls_do() -> None:
    code = "where(0)\nparallel_map(where, [1, 2, 3, 4], concurrency=2)"
    t = at.orchestrator_from_str(code, inputs={}, output=list[int], tasks=[where])
    assert t() == [1, 2, 3, 4]
    assert len(set(_threads)) > 1  # the fan-out ran on helper threads
    assert _depths == [1] * 5


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def show(x: Any) -> str:
    """The repr of what the host got."""
    return repr(x)


def _run(code: str, **config: Any) -> Any:
    options = {"plugin_config": at.SandboxedConfig(**config)} if config else {}
    return at.orchestrator_from_str(code, inputs={}, output=Any, tasks=[add, show], **options)()


def _caught(call: str, kind: str) -> str:
    """What the sandbox's code reads in the exception `call` raises."""
    return _run(f"try:\n    {call}\nexcept {kind} as e:\n    r = str(e)\nr")


HELPER = (
    "def helper(x):\n    return x\npm = parallel_map\n"
    "try:\n    pm(helper, [1])\nexcept NameError as e:\n    r = str(e)\nr"
)


def test_parallel_map_called_under_another_name_still_finds_the_function() -> None:
    assert _run("pm = parallel_map\npm(add, [1, 2], [3, 4])") == [4, 6]


def test_the_code_reads_why_parallel_map_refused_its_arguments() -> None:
    assert _run(HELPER) == (
        "parallel_map: \"<function 'helper' at 0xc>\" is not a registered function (registered: add, show)"
    )
    assert (
        _caught("parallel_map(add)", "TypeError") == "parallel_map needs at least one iterable of arguments"
    )
    assert (
        _caught("parallel_map(add, [1], [2], concurrency=0)", "ValueError")
        == "parallel_map: concurrency must be a positive int, got 0"
    )
    assert (
        _caught("pm = parallel_map\n    pm(show, iter([1]))", "TypeError")
        == "parallel_map got <list_iterator object>: pass a list, e.g. list(...)"
    )
    assert (
        _caught("pm = parallel_map\n    pm(show, {1: 2}.keys())", "TypeError")
        == "parallel_map got the text of a dict view (dict_keys([1])...): pass list(...)"
    )


def test_an_unknown_function_error_lists_none_when_nothing_is_registered() -> None:
    t = at.orchestrator_from_str(HELPER, inputs={}, output=str)
    assert t().endswith("is not a registered function (registered: none)")


def test_a_string_the_code_spells_out_is_iterated_as_a_string_even_if_it_reads_as_a_range() -> None:
    assert _run('parallel_map(show, "range(0, 2)")') == [repr(c) for c in "range(0, 2)"]


def test_parallel_map_stops_at_the_shortest_iterable_as_map_does() -> None:
    assert _run("parallel_map(add, [1, 2, 3], [10, 20])") == [11, 22]


def test_a_fan_out_that_fits_the_call_budget_exactly_runs() -> None:
    assert _run("parallel_map(add, [1, 2], [3, 4])", max_host_calls=2) == [4, 6]


@pytest.mark.parametrize(
    ("code", "made"),
    [
        ("add(1, 2)\nparallel_map(add, [1, 2], [3, 4])", 1),
        ("add(1, 2)\nadd(1, 2)\nparallel_map(add, [1], [3])", 2),
    ],
    ids=["one-over", "budget-spent"],
)
def test_a_fan_out_over_the_call_budget_is_refused_before_any_of_its_calls(code: str, made: int) -> None:
    with pytest.raises(at.CallLimitError) as info:
        _run(code, max_host_calls=2)
    assert info.value.message == "parallel_map over more items than the 2 calls a run may make"
    assert info.value.hint == hint("call-limit")
    assert info.value.record is not None and len(info.value.record.calls) == made


def test_the_code_reads_why_the_fan_out_was_refused() -> None:
    code = (
        "try:\n    parallel_map(add, [1, 2, 3], [3, 4, 5])\nexcept RuntimeError as e:\n    print(str(e))\n1"
    )
    with pytest.raises(at.CallLimitError) as info:
        _run(code, max_host_calls=2)
    assert info.value.record is not None
    assert info.value.record.stdout == "parallel_map over more items than the 2 calls a run may make\n"


def test_a_fan_out_over_a_huge_range_builds_only_as_many_items_as_the_budget_allows() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(at.CallLimitError):
            _run("parallel_map(add, range(1000000), range(1000000))", max_host_calls=10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000  # a million argument tuples would take over 100 MB


def test_the_sandboxs_own_time_limit_says_how_to_stay_within_it_and_where_it_fired() -> None:
    code = "x = 0\nwhile True:\n    x += 1"
    with pytest.raises(at.TimeLimitError) as info:
        _run(code, timeout_ms=100)
    assert info.value.hint == hint("time-limit")
    assert "timeout_ms=100" in info.value.message
    assert info.value.source == code


@pytest.mark.parametrize(("timeout_ms", "seconds"), [(100, "0.1"), (250, "0.25")])
def test_the_time_limit_says_the_limit_in_seconds_too(timeout_ms: int, seconds: str) -> None:
    with pytest.raises(at.TimeLimitError) as info:
        _run("x = 0\nwhile True:\n    x += 1", timeout_ms=timeout_ms)
    assert info.value.message == (
        f"time limit exceeded: the code ran longer than timeout_ms={timeout_ms} "
        f"({seconds} s of sandbox time; time in registered functions is not counted)"
    )


@pytest.mark.parametrize("message", ["boom", "suspension", "a suspension limit"])
def test_a_runtime_error_the_code_raises_is_its_own_not_a_call_limit(message: str) -> None:
    with pytest.raises(at.SandboxRuntimeError) as info:
        _run(f"x = 1\nraise RuntimeError({message!r})")
    assert (info.value.exc_type, info.value.exc_message, info.value.line) == ("RuntimeError", message, 2)


def test_the_memory_limit_names_the_limit_and_the_line() -> None:
    code = "x = 1\ny = [0] * 100000000"
    with pytest.raises(at.MemoryLimitError) as info:
        _run(code, max_memory=10_000_000)
    assert "max_memory=10000000" in info.value.message
    assert (info.value.source, info.value.line) == (code, 2)


def test_the_recursion_limit_says_how_to_stay_within_it_and_where_it_fired() -> None:
    code = "def f(n):\n    return f(n + 1)\nf(0)"
    with pytest.raises(at.RecursionLimitError) as info:
        _run(code, max_stack_depth=50)
    assert info.value.hint == hint("recursion")
    assert "max_stack_depth=50" in info.value.message
    assert (info.value.source, info.value.line) == (code, 2)


def test_parallel_map_under_another_name_iterates_a_spelt_out_string_as_a_string() -> None:
    assert _run('pm = parallel_map\npm(show, "range(0, 2)")') == [repr(c) for c in "range(0, 2)"]


def test_the_text_of_a_long_dict_view_is_cut_to_40_characters() -> None:
    text = str(dict.fromkeys(range(30)).keys())
    got = _caught("pm = parallel_map\n    pm(show, {i: None for i in range(30)}.keys())", "TypeError")
    assert got == f"parallel_map got the text of a dict view ({text[:40]}...): pass list(...)"


_masks: list[set[int]] = []


def mask(i: int) -> int:
    """Record the CPU mask this call runs with."""
    _masks.append(os.sched_getaffinity(0))
    return i


@pytest.mark.skipif(
    sys.platform != "linux" or len(os.sched_getaffinity(0)) < 2,
    reason="CPU pinning is Linux-only and means nothing with one CPU",
)
def test_a_pinned_runs_fan_out_runs_host_code_with_the_normal_cpu_mask() -> None:
    _masks.clear()
    full = os.sched_getaffinity(0)
    at.configure(colocate=True, max_workers=1)
    try:
        code = (
            "mask(0)\nmask(1)\nparallel_map(mask, [1, 2, 3], concurrency=1)\nparallel_map(mask, [1, 2, 3, 4])"
        )
        t = at.orchestrator_from_str(code, inputs={}, output=list[int], tasks=[mask])
        assert t() == [1, 2, 3, 4]
    finally:
        at.configure()
    assert len(_masks) == 9
    assert all(m == full for m in _masks)


def test_calls_out_of_the_sandbox_that_are_not_host_calls_are_bounded_too() -> None:
    # OS calls do not count against max_host_calls, but Monty bounds every suspension
    # (max_host_calls + 1000): past that, the run stops with a CallLimitError.
    code = 'import os\nfor i in range(1100):\n    os.getenv("HOME")\n1'
    with pytest.raises(at.CallLimitError) as info:
        _run(code, max_host_calls=1)
    assert info.value.message == "suspension limit 1001 exceeded: too many calls out of the sandbox"
    assert (info.value.source, info.value.line) == (code, 3)


def test_a_feature_the_sandbox_does_not_yet_support_reads_as_a_syntax_error_with_a_hint() -> None:
    code = 'x = 1\nraise NotImplementedError("monty does not yet support that feature")'
    with pytest.raises(at.SandboxError) as info:
        _run(code)
    assert type(info.value) is at.SandboxSyntaxError
    assert info.value.message == "monty does not yet support that feature"
    assert info.value.hint == hint("unsupported-syntax")
    assert (info.value.source, info.value.line) == (code, 2)


@pytest.mark.parametrize(
    "code",
    ['raise ValueError("it does not yet support that")', 'raise NotImplementedError("not here")'],
    ids=["other-type", "other-message"],
)
def test_other_errors_that_mention_support_are_runtime_errors(code: str) -> None:
    with pytest.raises(at.SandboxError) as info:
        _run(code)
    assert type(info.value) is at.SandboxRuntimeError


def test_parallel_map_of_an_unregistered_name_is_an_unknown_function() -> None:
    with pytest.raises(at.UnknownFunctionError) as info:
        _run('parallel_map("nosuch", [1])')
    assert info.value.name == "nosuch"
    assert info.value.exc_message == (
        "NameError: parallel_map: 'nosuch' is not a registered function (registered: add, show)"
    )


def test_the_output_limit_names_the_code_it_stopped() -> None:
    code = 'for i in range(100000):\n    print("xxxxxxxxxx")'
    with pytest.raises(at.OutputLimitError) as info:
        _run(code, max_output_bytes=1000)
    assert info.value.source == code


@contextlib.contextmanager
def _one_worker() -> Iterator[set[int]]:
    """A pool of one Monty worker, started: yields its pid (as a set, to kill it)."""
    at.configure(max_workers=1)
    try:
        before = set(worker_pids())
        assert at.orchestrator_from_str("1", inputs={}, output=int)() == 1
        yield set(worker_pids()) - before
    finally:
        at.configure()


def test_a_worker_killed_after_a_slow_host_call_is_a_crash_not_a_time_limit() -> None:
    # Time in registered functions does not count against timeout_ms: a worker that
    # dies after a host call longer than timeout_ms crashed, it did not run too long.
    with _one_worker() as mine:

        def die(seconds: float) -> int:
            """Sleep, then kill this run's worker."""
            time.sleep(seconds)
            for pid in mine:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
            return 1

        code = "die(0.3)\nx = 0\nfor i in range(10):\n    x += 1\nx"
        t = at.orchestrator_from_str(code, inputs={}, output=int, tasks=[die])
        with pytest.raises(at.SandboxError) as info:
            t.override(plugin_config=at.SandboxedConfig(timeout_ms=200))()
        assert type(info.value) is at.WorkerCrashedError
        assert info.value.message.endswith("(the pool has replaced the worker)")
        assert info.value.source == code


def test_a_worker_stopped_inside_one_long_operation_is_a_time_limit_naming_the_code() -> None:
    # One big-integer power never returns to Monty's own time check: the worker is
    # stopped from outside, and the run says it ran past timeout_ms.
    code = "x = 7 ** 30000000\n1"
    with pytest.raises(at.SandboxError) as info:
        _run(code, timeout_ms=100, max_memory=2_000_000_000)
    assert type(info.value) is at.TimeLimitError
    assert info.value.message == "the code ran past timeout_ms=100 and its worker was stopped"
    assert info.value.source == code


def test_syntax_the_sandbox_cannot_parse_reads_as_a_syntax_error_at_its_line() -> None:
    code = "x = 1\ndel x"
    with pytest.raises(at.SandboxError) as info:
        _run(code)
    assert type(info.value) is at.SandboxSyntaxError
    assert info.value.message == "The monty syntax parser does not yet support the 'del' statement"
    assert (info.value.source, info.value.line) == (code, 2)


def test_a_syntax_error_says_what_the_parser_says_where() -> None:
    code = "x = 1\ny = (1,"
    with pytest.raises(at.SandboxError) as info:
        _run(code)
    assert type(info.value) is at.SandboxSyntaxError
    assert info.value.message == "unexpected EOF while parsing"
    assert (info.value.source, info.value.line) == (code, 2)


request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


def flaky(i: int) -> int:
    if i % 2:
        raise ValueError(f"odd {i}")
    return i * 10


def whose(i: int) -> str:
    return f"{i}:{request_id.get()}"


def _kept(call: str) -> Any:
    code = f"rs = {call}\n[(type(r).__name__, str(r)) if isinstance(r, ValueError) else r for r in rs]"
    return at.orchestrator_from_str(code, inputs={}, output=Any, tasks=[flaky])()


@pytest.mark.parametrize("concurrency", [1, 2, 8])
def test_return_exceptions_keeps_each_failure_in_its_place(concurrency: int) -> None:
    got = _kept(f"parallel_map(flaky, [0, 1, 2, 3], concurrency={concurrency}, return_exceptions=True)")
    assert got == [0, ("ValueError", "odd 1"), 20, ("ValueError", "odd 3")]


def test_return_exceptions_keeps_the_failure_of_a_single_item() -> None:
    assert _kept("parallel_map(flaky, [1], return_exceptions=True)") == [("ValueError", "odd 1")]
    assert _kept("flyte_map(flaky, [1])") == [("ValueError", "odd 1")]


@pytest.mark.parametrize("concurrency", [2, 4])
def test_fan_out_threads_see_the_callers_context_variables(concurrency: int) -> None:
    t = at.orchestrator_from_str(
        f"parallel_map(whose, [1, 2, 3, 4], concurrency={concurrency})", inputs={}, output=Any, tasks=[whose]
    )
    token = request_id.set("req-7")
    try:
        assert t() == ["1:req-7", "2:req-7", "3:req-7", "4:req-7"]
    finally:
        request_id.reset(token)


def test_a_fan_out_over_the_budget_points_at_the_call() -> None:
    code = "x = 1\nys = [0] + parallel_map(add, range(50), range(50))"
    with pytest.raises(at.CallLimitError) as info:
        _run(code, max_host_calls=10)
    err = info.value
    assert (err.source, err.line, err.column, err.end_column) == (code, 2, 12, 51)


def test_a_type_check_complaint_after_a_rewritten_fan_out_points_into_the_code_as_written() -> None:
    code = "d = {1: 2}\ns = 'a'\nr = parallel_map(add, d.keys(), d.values()); add(s, 1)"
    with pytest.raises(at.TypeCheckError) as info:
        _run(code, type_check=True)
    err = info.value
    assert (err.line, err.column) == (3, 50)
    assert err.hint == "nothing ran; fix the call to match the function's signature"


def test_the_type_checks_unknown_function_hint_names_the_registered_functions() -> None:
    with pytest.raises(at.TypeCheckError) as info:
        _run("x = 1\ny = ad(x, 2)", type_check=True)
    assert info.value.hint == "nothing ran; " + hint(
        "unknown-function", closest="did you mean `add`? ", registered="add, show"
    )


class Halt(BaseException):
    pass


def halts(i: int) -> int:
    if i == 2:
        raise Halt("halt")
    return i


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_base_exception_in_a_fan_out_stops_the_run_whatever_the_code_catches(concurrency: int) -> None:
    code = (
        "try:\n"
        f"    r = parallel_map(halts, [1, 2, 3], concurrency={concurrency})\n"
        "except BaseException:\n"
        "    r = 'caught'\n"
        "r"
    )
    t = at.orchestrator_from_str(code, inputs={}, output=Any, tasks=[halts])
    with pytest.raises(at.HostFunctionError) as info:
        t()
    assert info.value.message == (
        "halts(2) raised Halt: halt (a BaseException, not an Exception: the run was stopped)"
    )
    assert isinstance(info.value.__cause__, Halt)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_wall_clock_timeout_of_code_that_spins_names_the_code(asynchronous: bool) -> None:
    code = "x = 0\nwhile True:\n    x += 1"
    t = at.orchestrator_from_str(code, inputs={}, output=int, timeout=0.3)
    with pytest.raises(at.TimeLimitError) as info:
        asyncio.run(t.aio()) if asynchronous else t()
    assert info.value.source == code
    assert "timeout=0.3s" in info.value.message


def test_a_worker_killed_after_running_past_its_time_limit_is_a_time_limit() -> None:
    # Monty stops a worker stuck in one long operation about a second after
    # timeout_ms; a worker killed (by anyone) once the code has run past timeout_ms,
    # but before that, ran too long all the same: it did not just crash.
    with _one_worker() as mine:

        def kill() -> None:
            for pid in mine:
                os.kill(pid, signal.SIGKILL)

        code = "x = 7 ** 30000000\n1"
        timer = threading.Timer(0.6, kill)
        timer.start()
        try:
            with pytest.raises(at.SandboxError) as info:
                _run(code, timeout_ms=150, max_memory=2_000_000_000)
        finally:
            timer.cancel()
        assert type(info.value) is at.TimeLimitError
        assert info.value.message == "the code ran past timeout_ms=150 and its worker was stopped"
        assert info.value.source == code


def test_flyte_map_of_an_unknown_name_names_it_and_what_is_registered() -> None:
    from agent_tools.sandbox.fanout import UnknownTaskError

    with pytest.raises(UnknownTaskError) as info:
        _run("x = 1\nflyte_map('ad', [1])")
    err = info.value
    message = "flyte_map: 'ad' is not a registered function (registered: add, show)"
    assert err.message == message
    assert (err.name, err.available, err.line) == ("ad", ["add", "show"], 2)
    assert (err.exc_type, err.exc_message) == ("RuntimeError", f"RuntimeError: {message}")
    assert err.hint == hint("unknown-function", closest="did you mean `add`? ", registered="add, show")
    assert isinstance(err, RuntimeError)
    assert str(err).startswith(f"unknown function at line 2: {message}\n")


def test_flyte_map_of_an_unknown_name_ends_the_run_even_when_the_code_catches_it() -> None:
    from agent_tools.sandbox.fanout import UnknownTaskError

    code = "try:\n    flyte_map('nope', [1])\nexcept RuntimeError:\n    pass\n'went on'"
    with pytest.raises(UnknownTaskError, match="flyte_map: 'nope' is not a registered function"):
        _run(code)


@pytest.mark.parametrize(
    ("call", "kind", "message"),
    [
        (
            "parallel_map(add, [1], [2], workers=2)",
            "TypeError",
            "parallel_map() got an unexpected keyword argument 'workers' "
            "(it takes concurrency, group_name, return_exceptions)",
        ),
        (
            "flyte_map(add, [1], [2], concurrency=1, workers=2, retries=1)",
            "TypeError",
            "flyte_map() got an unexpected keyword argument 'workers' "
            "(it takes concurrency, group_name, return_exceptions)",
        ),
        (
            "parallel_map(add, [1], [2], concurrency=-1)",
            "ValueError",
            "parallel_map: concurrency must be a positive int, got -1",
        ),
        (
            "parallel_map(add, [1], [2], concurrency=True)",
            "ValueError",
            "parallel_map: concurrency must be a positive int, got True",
        ),
        (
            "parallel_map(add, [1], [2], concurrency=2.0)",
            "ValueError",
            "parallel_map: concurrency must be a positive int, got 2.0",
        ),
        (
            "flyte_map(add, [1], [2], concurrency=-1)",
            "ValueError",
            "flyte_map: concurrency must be an int >= 0 (0: no limit), got -1",
        ),
        (
            "flyte_map(add, [1], [2], concurrency=True)",
            "ValueError",
            "flyte_map: concurrency must be an int >= 0 (0: no limit), got True",
        ),
        (
            "flyte_map(add, [1], [2], concurrency='2')",
            "ValueError",
            "flyte_map: concurrency must be an int >= 0 (0: no limit), got '2'",
        ),
        (
            "parallel_map(add, [1], [2], return_exceptions=1)",
            "TypeError",
            "parallel_map: return_exceptions must be True or False, got 1",
        ),
        (
            "parallel_map(add, [1], [2], group_name=3)",
            "TypeError",
            "parallel_map: group_name must be a str or None, got 3",
        ),
    ],
)
def test_the_code_reads_why_a_map_refused_its_keywords(call: str, kind: str, message: str) -> None:
    assert _caught(call, kind) == message


@pytest.mark.parametrize(
    "call",
    [
        "parallel_map(add, [1, 2], [3, 4], concurrency=1, group_name='g', return_exceptions=False)",
        "parallel_map(add, [1, 2], [3, 4], group_name=None, return_exceptions=True)",
        "flyte_map(add, [1, 2], [3, 4], concurrency=0, group_name='g', return_exceptions=False)",
        "flyte_map(add, [1, 2], [3, 4], concurrency=1)",
    ],
)
def test_a_map_takes_each_of_flytes_keywords(call: str) -> None:
    assert _run(call) == [4, 6]


def _most_at_once(call: str, items: int, cap: int) -> int:
    """How many calls of `call` over `items` items ran at the same time, at most: each
    call waits (up to a second) until `cap` calls have been running at once."""
    reached = threading.Condition()
    running = [0, 0]  # now, most

    def hold(i: int) -> int:
        with reached:
            running[0] += 1
            running[1] = max(running)
            reached.notify_all()
            reached.wait_for(lambda: running[1] >= cap, timeout=1.0)
            running[0] -= 1
        return i

    code = f"{call}(hold, list(range({items})))"
    assert at.orchestrator_from_str(code, inputs={}, output=Any, tasks=[hold])() == list(range(items))
    return running[1]


def test_parallel_map_runs_eight_calls_at_once_by_default_and_flyte_map_up_to_32() -> None:
    assert _most_at_once("parallel_map", 12, cap=8) == 8
    assert _most_at_once("flyte_map", 40, cap=32) == 32
    assert _most_at_once("flyte_map", 6, cap=6) == 6
