"""Host-call abuse: unregistered names, floods past the call budget, huge and
deeply nested arguments, functions passed as values, and re-entrant calls through
`parallel_map` and through registered functions that run templates themselves."""

from __future__ import annotations

import asyncio
import json
import textwrap
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import agent_tools as at

from ..conftest import add
from ._harness import Case, Context, Outcome, check_case, params, run_script, run_standard

pytestmark = pytest.mark.usefixtures("healthy")

RTE = at.SandboxRuntimeError
FEW = {"max_host_calls": 50}


def echo(x: Any) -> str:
    """What the host received: its type and repr."""
    return f"{type(x).__name__}:{x!r}"[:200]


def ident(x: Any) -> Any:
    return x


async def aident(x: Any) -> Any:
    await asyncio.sleep(0)
    return x


async def aadd(a: int, b: int) -> int:
    return a + b


def size(x: Any) -> int:
    return len(x)


def depth(x: Any) -> int:
    d = 0
    while isinstance(x, list) and x:
        x, d = x[0], d + 1
    return d


def secret_fn(x: int) -> str:
    """Registered, but never named in the code."""
    return f"secret {x}"


class Point(BaseModel):
    x: int
    y: int


def norm(p: Point) -> int:
    return abs(p.x) + abs(p.y)


_inner = at.orchestrator_from_str("x * 2", inputs={"x": int}, output=int)


def run_inner(x: int) -> int:
    """A registered function that itself runs sandboxed code on the same pool."""
    return _inner(x=x)


_peak_threads = [0]


def probe(x: int) -> int:
    _peak_threads[0] = max(_peak_threads[0], threading.active_count())
    time.sleep(0.02)
    return x


def _host_memory(case: Case, ctx: Context) -> Outcome:
    tracemalloc.start()
    try:
        outcome = run_standard(case, ctx)
        outcome.extra["peak_bytes"] = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return outcome


def _small_host_peak(outcome: Outcome, ctx: Context) -> None:
    peak = outcome.extra["peak_bytes"]
    assert peak < 1_500_000, f"the host allocated {peak / 1e6:.1f} MB for a 50-call budget"


def _threads(case: Case, ctx: Context) -> Outcome:
    _peak_threads[0] = 0
    baseline = threading.active_count()
    outcome = run_standard(case, ctx)
    outcome.extra["threads"] = _peak_threads[0] - baseline
    return outcome


def _few_threads(outcome: Outcome, ctx: Context) -> None:
    assert outcome.extra["threads"] <= 64, f"the code made the host start {outcome.extra['threads']} threads"


def _items_or_error(outcome: Outcome, ctx: Context) -> None:
    if outcome.error is None:
        assert outcome.result == [1, 2], f"mapped over {outcome.result!r}"


DEADLOCK_SCRIPT = textwrap.dedent(
    """
    import json, os, threading, time
    import agent_tools as at

    at.configure(max_workers=2)
    inner = at.orchestrator_from_str("x * 2", inputs={"x": int}, output=int)
    both_running = threading.Barrier(2, timeout=10)

    def run_inner(x: int) -> int:
        both_running.wait()  # each outer run now holds one of the two workers
        return inner(x=x)

    outer = at.orchestrator_from_str("run_inner(x)", inputs={"x": int}, output=int, tasks=[run_inner])
    results = {}

    def go(i):
        try:
            results[i] = outer(x=i)
        except BaseException as exc:
            results[i] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=go, args=(i,), daemon=True) for i in (1, 2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 2.5  # an ordinary nested run takes milliseconds
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    print(json.dumps({"finished": not any(t.is_alive() for t in threads), "results": results}), flush=True)
    os._exit(0)
    """
)


def _saturated_pool(case: Case, ctx: Context) -> Outcome:
    done = run_script(DEADLOCK_SCRIPT, timeout=30)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return Outcome(error=RuntimeError(f"the script failed ({done.returncode}): {done.stderr[-2000:]}"))
    report = json.loads(lines[-1])
    if not report["finished"]:
        return Outcome(error=RuntimeError(f"the two runs deadlocked: {report}"))
    return Outcome(result=report["results"])


UNKNOWN = [
    Case("unknown_call", "nope(1)", at.UnknownFunctionError, "NameError", tasks=(add,)),
    Case(
        "unknown_os_like_call",
        "os_system('touch MARKER')",
        at.UnknownFunctionError,
        "NameError",
        tasks=(add,),
    ),
    Case("unknown_name_as_value", "f = nope\nf(1)", RTE, "NameError", tasks=(add,)),
    Case(
        "unknown_built_name",
        "eval('sec' + 'ret_fn(1)')",
        RTE,
        "NameError",
        tasks=(secret_fn,),
    ),
    Case(
        "parallel_map_unknown_name",
        "parallel_map('nope', [1])",
        at.UnknownFunctionError,
        "NameError",
        tasks=(add,),
    ),
    Case("parallel_map_undefined_variable", "parallel_map(nope, [1])", RTE, "NameError", tasks=(add,)),
    Case(
        "parallel_map_of_parallel_map",
        "parallel_map(parallel_map, [add], [[1]])",
        (RTE, at.UnknownFunctionError),
        "NameError",
        tasks=(add,),
    ),
    Case(
        "parallel_map_of_its_own_name",
        "parallel_map('parallel_map', ['add'], [[1, 2]])",
        (RTE, at.UnknownFunctionError),
        "NameError",
        tasks=(add,),
    ),
    Case(
        "parallel_map_of_a_builtin", "parallel_map(getattr, [1])", (RTE, at.UnknownFunctionError), "NameError"
    ),
    # By design (README, Fan-out): parallel_map reaches any registered function by name.
    Case(
        "parallel_map_by_built_name",
        "parallel_map('sec' + 'ret_fn', [1])",
        tasks=(secret_fn,),
        result=["secret 1"],
    ),
]

FLOODS = [
    Case("flood_loop", "while True:\n    add(1, 2)", at.CallLimitError, tasks=(add,), limits=FEW),
    Case(
        "flood_swallow_exception",
        "while True:\n    try:\n        add(1, 2)\n    except Exception:\n        pass",
        at.CallLimitError,
        tasks=(add,),
        limits=FEW,
    ),
    Case(
        "flood_swallow_base_exception",
        "while True:\n    try:\n        add(1, 2)\n    except BaseException:\n        pass",
        at.CallLimitError,
        tasks=(add,),
        limits=FEW,
    ),
    Case(
        "flood_parallel_map",
        "parallel_map(add, range(100), range(100))",
        at.CallLimitError,
        tasks=(add,),
        limits=FEW,
    ),
    Case(
        "flood_gather",
        "import asyncio\nawait asyncio.gather(*[aadd(i, 1) for i in range(100)])",
        at.CallLimitError,
        tasks=(aadd,),
        limits=FEW,
    ),
    Case(
        "flood_parallel_map_host_memory",
        "parallel_map(ident, range(3000))",
        at.CallLimitError,
        tasks=(ident,),
        limits=FEW,
        scenario=_host_memory,
        check=_small_host_peak,
    ),
    Case(
        "flood_parallel_map_async_host_memory",
        "parallel_map(aident, range(3000))",
        at.CallLimitError,
        tasks=(aident,),
        limits=FEW,
        scenario=_host_memory,
        check=_small_host_peak,
    ),
    Case(
        "parallel_map_host_threads",
        "len(parallel_map(probe, range(200), concurrency=10 ** 9))",
        tasks=(probe,),
        scenario=_threads,
        check=_few_threads,
        result=200,
    ),
    Case(
        "parallel_map_concurrency_zero",
        "parallel_map(add, [1], [2], concurrency=0)",
        RTE,
        "ValueError",
        tasks=(add,),
    ),
    Case(
        "parallel_map_concurrency_bool",
        "parallel_map(add, [1], [2], concurrency=True)",
        RTE,
        "ValueError",
        tasks=(add,),
    ),
    Case("parallel_map_no_iterable", "parallel_map(add)", RTE, "TypeError", tasks=(add,)),
    Case("parallel_map_not_iterable", "parallel_map(ident, 5)", RTE, "TypeError", tasks=(ident,)),
    Case(
        "parallel_map_string_is_a_string",
        "parallel_map(ident, 'range(0, 3)')",
        tasks=(ident,),
        result=list("range(0, 3)"),
    ),
    Case(
        "parallel_map_string_of_a_huge_range",
        "parallel_map(ident, 'range(0, 1000000000000)')",
        tasks=(ident,),
        result=list("range(0, 1000000000000)"),
    ),
    Case(
        "parallel_map_huge_range_stops_at_the_budget",
        "parallel_map(ident, range(10 ** 12))",
        at.CallLimitError,
        tasks=(ident,),
    ),
    Case(
        "parallel_map_over_an_iterator",
        "parallel_map(ident, iter([1, 2]))",
        ("ok", RTE),
        tasks=(ident,),
        check=_items_or_error,
    ),
]

ARGUMENTS = [
    Case("argument_50mb", "size('a' * 50_000_000)", at.MemoryLimitError, tasks=(size,)),
    Case("argument_10mb", "size('a' * 10_000_000)", tasks=(size,), result=10_000_000),
    Case("argument_10mb_bytes", "size(b'a' * 10_000_000)", tasks=(size,), result=10_000_000),
    Case("argument_star_million", "add(*[1] * 10 ** 6)", at.MemoryLimitError, tasks=(add,)),
    Case("argument_star_thousand", "add(*[1] * 1000)", at.HostFunctionError, tasks=(add,)),
    Case("argument_unknown_keyword", "add(1, b=2, c=3)", at.HostFunctionError, tasks=(add,)),
    Case(
        "argument_dunder_keyword",
        "add(**{'__class__': 1, 'a': 1, 'b': 2})",
        at.HostFunctionError,
        tasks=(add,),
    ),
    Case("argument_invalid_model", "norm({'x': 'one', 'y': 2})", at.HostFunctionError, tasks=(norm,)),
    Case("argument_valid_model", "norm({'x': -1, 'y': 2})", tasks=(norm,), result=3),
    Case(
        "argument_nested_200",
        "x = []\nfor _ in range(200):\n    x = [x]\ndepth(x)",
        tasks=(depth,),
        result=200,
    ),
    Case(
        "argument_nested_300",
        "x = []\nfor _ in range(300):\n    x = [x]\ndepth(x)",
        tasks=(depth,),
        result=300,
        bug=(
            "MONTY: an argument nested deeper than 256 levels reaches the host cut short, with the "
            "string '<deeply nested>' in place of the rest (depth(x) sees 256); no error is raised"
        ),
    ),
    Case("argument_cyclic", "x = []\nx.append(x)\necho(x)", tasks=(echo,), result="list:['[...]']"),
    Case("argument_registered_function", "echo(add)", tasks=(echo, add), result="str:'add'"),
    Case("argument_echo_itself", "echo(echo)", tasks=(echo,), result="str:'echo'"),
    Case("argument_parallel_map", "echo(parallel_map)", tasks=(echo,), result="str:'parallel_map'"),
    Case("argument_lambda", "echo(lambda: 1)", tasks=(echo,), result="str:\"<function '<lambda>' at 0xc>\""),
    Case("argument_class", "echo(type(1))", tasks=(echo,), result="type:<class 'int'>"),
    Case("argument_exception", "echo(ValueError('x'))", tasks=(echo,), result="ValueError:ValueError('x')"),
    Case(
        "argument_builtin_function",
        "echo(len)",
        tasks=(echo,),
        result="MontyStdTypeProxy:MontyStdTypeProxy(kind='function', name='len')",
    ),
    Case("argument_builtin_returned", "ident(len)", at.HostFunctionError, tasks=(ident,)),
    Case("registered_function_as_result", "[add, ident]", tasks=(add, ident), result=["add", "ident"]),
]

REENTRANT = [
    Case("reentrant_template", "run_inner(20) + 2", tasks=(run_inner,), result=42),
    Case(
        "reentrant_template_fan_out",
        "parallel_map(run_inner, range(4))",
        tasks=(run_inner,),
        result=[0, 2, 4, 6],
    ),
    Case(
        "reentrant_templates_saturated_pool",
        scenario=_saturated_pool,
        result={"1": 2, "2": 4},
    ),
]

CASES = UNKNOWN + FLOODS + ARGUMENTS + REENTRANT


@pytest.mark.parametrize("case", params(CASES))
def test_host_calls(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_case(case, tmp_path, monkeypatch)
