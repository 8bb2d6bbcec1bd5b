"""Exhaustion: CPU, memory, recursion, output, huge numbers and containers,
deeply nested results and sources. Each hits its own limit (small ones here, so
the corpus stays fast) and the pool stays healthy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import agent_tools as at

from ._harness import Case, Context, Outcome, check_case, params, run_standard

pytestmark = pytest.mark.usefixtures("healthy")

RTE = at.SandboxRuntimeError
TIME, MEMORY, RECURSION, OUTPUT = (
    at.TimeLimitError,
    at.MemoryLimitError,
    at.RecursionLimitError,
    at.OutputLimitError,
)
FAST = {"timeout_ms": 300}
SHALLOW = {"max_stack_depth": 100}
QUIET = {"max_output_bytes": 10_000, "timeout_ms": 300}


def nested(kind: str, depth: int) -> str:
    inner = "x = [x]" if kind == "list" else "x = {'k': x}"
    start = "[]" if kind == "list" else "{}"
    return f"x = {start}\nfor _ in range({depth}):\n    {inner}\nx"


def depth_of(value: Any) -> int:
    depth = 0
    while isinstance(value, (list, dict)) and value:
        value = value[0] if isinstance(value, list) else value["k"]
        depth += 1
    return depth


def result_depth(expected: int) -> Any:
    def check(outcome: Outcome, ctx: Context) -> None:
        if outcome.error is None:
            assert depth_of(outcome.result) == expected

    return check


def f(x: int = 0) -> int:
    return x


def _timed(case: Case, ctx: Context) -> Outcome:
    started = time.perf_counter()
    outcome = run_standard(case, ctx)
    outcome.extra["elapsed"] = time.perf_counter() - started
    return outcome


def _stopped_at_the_cap_keeping_the_output(outcome: Outcome, ctx: Context) -> None:
    elapsed = outcome.extra["elapsed"]
    assert elapsed < 1.0, f"the code kept running {elapsed:.1f} s after passing the output cap"
    assert outcome.record is not None
    assert outcome.record.stdout == ("x" * 100 + "\n") * 9 + "x" * 91, outcome.record.stdout


CPU = [
    Case("cpu_while_true", "while True:\n    pass", TIME, limits=FAST),
    Case("cpu_counter", "x = 0\nwhile True:\n    x += 1", TIME, limits=FAST),
    Case("cpu_bigint_growth", "x = 1\nwhile True:\n    x = x * 3", TIME, limits=FAST),
    Case("cpu_sum_range", "sum(range(10 ** 12))", TIME, limits=FAST),
    Case("cpu_factorial", "import math\nmath.factorial(10 ** 6)", TIME, limits=FAST),
    Case(
        "cpu_swallow_time_limit",
        "try:\n    while True:\n        pass\nexcept BaseException:\n    r = 'swallowed'\nr",
        TIME,
        limits=FAST,
    ),
    Case(
        "cpu_retry_after_time_limit",
        "while True:\n    try:\n        while True:\n            pass\n"
        "    except BaseException:\n        pass",
        TIME,
        limits=FAST,
    ),
    Case(
        "cpu_async_spin",
        "import asyncio\nasync def spin():\n    while True:\n        await asyncio.sleep(0)\nawait spin()",
        TIME,
        limits=FAST,
    ),
    Case("sleep_past_limit", "import time\ntime.sleep(10)", TIME, limits=FAST),
    Case(
        "sleep_many_sleepers",
        "import asyncio\nasync def s():\n    await asyncio.sleep(10)\n"
        "await asyncio.gather(*[s() for _ in range(1000)])",
        TIME,
        limits=FAST,
    ),
    Case("regex_backtracking", "import re\nre.match('(a+)+$', 'a' * 30 + '!')", result=None),
    Case("regex_alternation", "import re\nre.match('(a|aa)*c', 'a' * 40)", result=None),
]

MEMORY_GROWTH = [
    Case("mem_append_loop", "x = []\nwhile True:\n    x.append('a' * 10000)", MEMORY),
    Case("mem_string_doubling", "s = 'a'\nwhile True:\n    s = s + s", MEMORY),
    Case("mem_replace_growth", "x = 'a' * 10 ** 6\nwhile True:\n    x = x.replace('a', 'aa')", MEMORY),
    Case(
        "mem_swallow_memory_error",
        "try:\n    while True:\n        y = [1] * 10 ** 6 * 100\nexcept MemoryError:\n    r = 'swallowed'\nr",
        MEMORY,
    ),
    Case("mem_coroutines", "async def g():\n    return 1\ncs = [g() for _ in range(10 ** 6)]", MEMORY),
    Case("mem_nested_dicts", nested("dict", 100_000), MEMORY),
    Case("json_dumps_huge", "import json\njson.dumps([[[[]]]] * 10 ** 6)", MEMORY),
]

HUGE_VALUES = [
    *(
        Case(f"huge_{name}", code, MEMORY)
        for name, code in (
            ("power_tower", "10 ** 10 ** 8"),
            ("power_of_two", "2 ** 2 ** 40"),
            ("pow", "pow(3, 10 ** 9)"),
            ("str_repeat", "'a' * 10 ** 9"),
            ("bytes_repeat", "b'a' * 10 ** 9"),
            ("list_repeat", "[0] * 10 ** 9"),
            ("list_range", "list(range(10 ** 8))"),
            ("dict_comprehension", "{i: i for i in range(10 ** 8)}"),
            ("set_range", "set(range(10 ** 6))"),
            ("sorted_range", "sorted(range(10 ** 7))"),
            ("format_width", "'{:>999999999}'.format(1)"),
            ("str_center", "'a'.center(10 ** 10)"),
            ("percent_format", "'%s' * 10 ** 8 % ()"),
            ("star_args", "print(*(['x'] * 10 ** 6))"),
        )
    ),
    Case("int_to_str_digit_limit", "str(10 ** 5000)", RTE, "ValueError"),
    Case("int_from_str_digit_limit", "int('9' * 5000)", RTE, "ValueError"),
    Case("big_int_arithmetic_is_fine", "(10 ** 10000 + 1) % 1000", result=1),
]

RECURSION_CASES = [
    Case("rec_direct", "def f(n):\n    return f(n + 1)\nf(0)", RECURSION, limits=SHALLOW, line=2),
    Case(
        "rec_mutual",
        "def a(n):\n    return b(n)\ndef b(n):\n    return a(n)\na(0)",
        RECURSION,
        limits=SHALLOW,
    ),
    Case("rec_omega", "(lambda f: f(f))(lambda f: f(f))", RECURSION, limits=SHALLOW),
    Case("rec_async", "async def f(n):\n    return await f(n + 1)\nawait f(0)", RECURSION, limits=SHALLOW),
    Case(
        "rec_repr",
        "class A:\n    def __repr__(self):\n        return repr(self)\nrepr(A())",
        RECURSION,
        limits=SHALLOW,
    ),
    Case(
        "rec_caught_is_allowed",
        "def f():\n    return f()\ntry:\n    f()\nexcept RecursionError:\n    r = 'caught'\nr",
        limits=SHALLOW,
        result="caught",
    ),
    Case(
        "rec_retry_explodes_in_time",
        "def f(n):\n    try:\n        return f(n + 1)\n    except RecursionError:\n"
        "        return f(n + 1) + f(n + 1)\nf(0)",
        TIME,
        limits={"max_stack_depth": 30, **FAST},
    ),
    Case("rec_json_loads", "import json\njson.loads('[' * 100000 + ']' * 100000)", RTE, "JSONDecodeError"),
]

OUTPUT_FLOODS = [
    Case("print_loop", "while True:\n    print('x' * 100)", OUTPUT, limits=QUIET),
    Case("print_once_huge", "print('x' * 10 ** 7)", OUTPUT, limits=QUIET),
    Case("print_many_small", "for i in range(10 ** 6):\n    print(i)", OUTPUT, limits=QUIET),
    Case("print_no_newline", "while True:\n    print('x' * 100, end='')", OUTPUT, limits=QUIET),
    Case(
        "print_stderr",
        "import sys\nwhile True:\n    print('x' * 1000, file=sys.stderr)",
        OUTPUT,
        limits=QUIET,
    ),
    Case("print_multibyte", "print('é' * 6000)", OUTPUT, limits=QUIET),
    Case(
        "print_swallowed",
        "try:\n    while True:\n        print('x' * 1000)\nexcept BaseException:\n    pass\n'swallowed'",
        OUTPUT,
        limits=QUIET,
    ),
    Case(
        "print_flood_stops_at_the_cap",
        "while True:\n    print('x' * 100)",
        OUTPUT,
        limits={"max_output_bytes": 1000, "timeout_ms": 2000},
        scenario=_timed,
        check=_stopped_at_the_cap_keeping_the_output,
    ),
    Case("print_under_the_cap", "print('x' * 9000)\n'printed'", limits=QUIET, result="printed"),
]

NESTED_RESULTS = [
    Case("result_nested_250", nested("list", 250), check=result_depth(250)),
    Case("result_nested_255", nested("list", 255), check=result_depth(255)),
    # Monty hands back a value nested max_stack_depth deep with '<deeply nested>' in
    # place of the rest, silently; it must be refused, never returned cut short.
    Case("result_nested_256", nested("list", 256), at.OutputValidationError),
    Case("result_nested_100k", nested("list", 100_000), at.OutputValidationError),
    Case("result_nested_dict_300", nested("dict", 300), at.OutputValidationError),
    Case(
        "result_nested_past_a_lower_stack_depth",
        nested("list", 150),
        at.OutputValidationError,
        limits=SHALLOW,
    ),
    Case("result_marker_string_is_kept", "['<deeply nested>']", result=["<deeply nested>"]),
    Case(
        "result_frozenset_key",
        "{frozenset({1}): 'v'}",
        result={frozenset({1}): "v"},
    ),
    # Monty returns a cycle with its repr in place of the back reference.
    Case("result_cyclic_list", "x = []\nx.append(x)\nx", result=["[...]"]),
    Case("result_cyclic_dict", "d = {}\nd['self'] = d\nd", result={"self": "{...}"}),
    Case(
        "result_over_inline_io_cap",
        "'a' * 2_000_000",
        at.OutputValidationError,
        options={"max_inline_io_bytes": 1_000_000},
    ),
    Case("result_of_wrong_type", "'not an int'", at.OutputValidationError, options={"output": int}),
]

SOURCES = [
    Case("source_deep_unary", "x = " + "-" * 100_000 + "1", at.SandboxSyntaxError, bare=True),
    Case("source_deep_brackets", "x = " + "[" * 5000 + "]" * 5000, at.SandboxSyntaxError, bare=True),
    Case(
        "source_deep_blocks",
        "".join("    " * i + "if True:\n" for i in range(200)) + "    " * 200 + "x = 1",
        at.SandboxSyntaxError,
        bare=True,
    ),
    Case("source_huge_literal", "x = [" + ", ".join(["1"] * 100_000) + "]", at.SandboxSyntaxError),
    Case(
        "source_await_and_deep_nesting",
        "await f()\nx = " + "-" * 100_000 + "1",
        at.SandboxSyntaxError,
        tasks=(f,),
        bare=True,
    ),
    Case("source_huge", "x = 'a'\n" * 200_000, MEMORY, bare=True),
]

CASES = CPU + MEMORY_GROWTH + HUGE_VALUES + RECURSION_CASES + OUTPUT_FLOODS + NESTED_RESULTS + SOURCES


@pytest.mark.parametrize("case", params(CASES))
def test_exhaustion(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_case(case, tmp_path, monkeypatch)
