"""Flyte compatibility, differentially: the same snippet through `flyte.sandbox` (Flyte's
own behaviour is the reference) and through agent_tools.

Each Flyte-half test takes the `flyte` fixture, which skips it only when Flyte is not
installed (CI installs it); the agent_tools half of every behaviour runs regardless.
Where the two differ by design, a test asserts each side's behaviour and says why;
docs_flyte_snippet.md has the table of those differences.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import decimal
import inspect
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Optional
from zoneinfo import ZoneInfo

import pydantic
import pytest

import agent_tools as at
from agent_tools.adapters.flyte_export import to_flyte
from agent_tools.sandbox.fanout import UnknownTaskError
from agent_tools.sandbox.functions import FLYTE_TASK, build_stubs, register
from agent_tools.sandbox.preflight import MONTY_MODULES, check_code

try:  # the Flyte half: Flyte objects exist only when Flyte is installed
    import flyte
    import flyte.sandbox as fs
except ImportError:  # pragma: no cover - CI installs Flyte
    flyte = None  # type: ignore[assignment]
    fs = None  # type: ignore[assignment]


# -- what both halves register ---------------------------------------------------------


def plain_double(x: int) -> int:
    """Double x (a plain function)."""
    return x * 2


async def aplain_double(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


def plain_boom(x: int) -> int:
    if x == 2:
        raise ValueError("two")
    return x


if flyte is not None:
    env = flyte.TaskEnvironment(name="compat")

    @env.task
    async def double(x: int) -> int:
        """Double x."""
        await asyncio.sleep(0)
        return x * 2

    @env.task
    def inc(x: int, by: int = 1) -> int:
        """Add `by` to x."""
        return x + by

    @env.task
    async def boom(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    @env.task
    async def add_to_date(d: dt.date, days: int) -> dt.date:
        return d + timedelta(days=days)

    @flyte.trace
    async def traced(x: int) -> int:
        """Add ten (an async trace)."""
        return x + 10

    @flyte.trace
    def traced_sync(x: int) -> int:
        """Add twenty (a sync trace)."""
        return x + 20

    # Decorator mode in Flyte finds tasks in the function's globals.
    @env.sandbox.orchestrator
    def flyte_direct(x: int) -> int:
        return double(x) + 1

    @env.sandbox.orchestrator
    async def flyte_adirect(x: int) -> int:
        return double(x) + 1

    @env.sandbox.orchestrator
    def flyte_comprehension(xs: list[int]) -> list[int]:
        return [double(x) for x in xs]

    @env.sandbox.orchestrator
    def flyte_uses_json(x: int) -> str:
        return json.dumps([x])

    @env.sandbox.orchestrator
    def flyte_uses_trace(x: int) -> int:
        return traced(x)


@pytest.fixture(scope="module")
def flyte_local() -> Iterator[None]:
    """Flyte's local mode, and its process-wide Monty pool closed afterwards (it never
    closes it itself; test_runtime counts Monty workers)."""
    if flyte is None:
        yield
        return
    flyte.init()  # no endpoint: flyte.run executes in-process
    yield
    from flyte.sandbox import _runtime

    pool, _runtime._pool = _runtime._pool, None
    if pool is not None:

        async def close() -> None:
            await pool.__aexit__(None, None, None)

        asyncio.run(close())


@pytest.fixture
def flyte_on(flyte_local: None) -> Any:
    """The Flyte half of a test: skipped only when Flyte is not installed."""
    return pytest.importorskip("flyte")


def flyte_local_run(code: str, inputs: dict[str, Any], tasks: list[Any] | None = None) -> Any:
    return asyncio.run(fs.orchestrate_local(code, inputs=inputs, tasks=tasks))


def ours_local(code: str, inputs: dict[str, Any], tasks: list[Any] | None = None) -> Any:
    return asyncio.run(at.orchestrate_local(code, inputs=inputs, tasks=tasks))


def ours_sync(code: str, inputs: dict[str, Any], tasks: list[Any] | None = None, **kw: Any) -> Any:
    """The sync face: the template called on this thread (no event loop)."""
    return at.orchestrator_from_str(code, inputs=dict.fromkeys(inputs, Any), output=Any, tasks=tasks, **kw)(
        **inputs
    )


# -- 1. the public names of flyte.sandbox ------------------------------------------------

CLAIMED = frozenset(
    {
        "ORCHESTRATOR_SYNTAX_PROMPT",
        "CodeTaskTemplate",
        "SandboxedConfig",
        "SandboxedTaskTemplate",
        "orchestrate_local",
        "orchestrator_from_str",
    }
)
"""The names of `flyte.sandbox` agent_tools provides (at the top of `agent_tools`)."""

NOT_PROVIDED = frozenset({"ImageConfig", "create", "sandbox_environment"})
"""The names of `flyte.sandbox` agent_tools does not provide: Flyte's second sandbox,
arbitrary code (and shell commands) in a Docker container built on demand. agent_tools
is the Monty orchestration sandbox only."""

FLYTE_ONLY_TEMPLATE_FIELDS = frozenset({"entrypoint", "produces_artifacts", "service_account"})
"""`flyte.sandbox.CodeTaskTemplate` parameters agent_tools' template does not take:
newer Flyte task parameters (cluster entrypoints, artifacts, Kubernetes service
accounts) that have no meaning in a standalone run; `to_flyte` leaves them at Flyte's
defaults."""


def test_the_names_we_claim_are_public() -> None:
    assert set(at.__all__) >= CLAIMED
    assert not NOT_PROVIDED & set(at.__all__)
    assert all(hasattr(at, name) for name in CLAIMED)


def test_every_public_name_of_flyte_sandbox_is_claimed_or_listed_as_not_provided(flyte_on: Any) -> None:
    public = set(fs.__all__)
    assert public == CLAIMED | NOT_PROVIDED
    assert public - set(at.__all__) == NOT_PROVIDED


def test_the_entry_points_take_flytes_parameters(flyte_on: Any) -> None:
    for name in ("orchestrator_from_str", "orchestrate_local"):
        theirs = inspect.signature(getattr(fs, name)).parameters
        ours = inspect.signature(getattr(at, name)).parameters
        for param, p in theirs.items():
            assert param in ours, (name, param)
            assert ours[param].kind == p.kind, (name, param)
            assert ours[param].default == p.default, (name, param)


def test_sandboxed_config_has_flytes_fields_and_defaults_but_type_check(flyte_on: Any) -> None:
    theirs = {f.name: f.default for f in dataclasses.fields(fs.SandboxedConfig)}
    ours = {f.name: f.default for f in dataclasses.fields(at.SandboxedConfig)}
    for name, default in theirs.items():
        assert name in ours
        if name != "type_check":
            assert ours[name] == default, name
    # By design: Flyte type-checks every run (True); ours is off by default, because
    # Monty's checker costs 4 to 25 ms a run and is often wrong about valid dynamic
    # code (the run_code tool's pre-flight check catches the common mistakes instead).
    assert (theirs["type_check"], ours["type_check"]) == (True, False)
    # Flyte's fields are in another order: pass them by keyword.
    assert list(theirs) != list(ours)[: len(theirs)]


def test_code_task_template_takes_flytes_parameters(flyte_on: Any) -> None:
    theirs = {f.name for f in dataclasses.fields(fs.CodeTaskTemplate) if f.init}
    ours = {f.name for f in dataclasses.fields(at.CodeTaskTemplate) if f.init}
    assert theirs - ours == FLYTE_ONLY_TEMPLATE_FIELDS


def test_sandboxed_task_template_is_a_code_task_template_in_both() -> None:
    # Flyte: CodeTaskTemplate subclasses SandboxedTaskTemplate (a code string is the
    # special case). Ours: the other way round, so everything that takes a template
    # (run, stream, to_flyte, CodeRunner) takes a decorated one too.
    assert issubclass(at.SandboxedTaskTemplate, at.CodeTaskTemplate)
    if fs is not None:
        assert issubclass(fs.CodeTaskTemplate, fs.SandboxedTaskTemplate)


# -- 2. Flyte tasks, traces and plain callables as registered functions -----------------


def test_a_flyte_task_is_named_typed_and_documented_by_its_function(flyte_on: Any) -> None:
    functions = register([double, inc, traced, traced_sync])
    assert list(functions) == ["double", "inc", "traced", "traced_sync"]  # not "compat.double"
    assert functions["double"].is_async and functions["inc"].is_async  # both go through `aio`
    assert getattr(functions["double"].func, FLYTE_TASK) is double
    assert str(functions["inc"].signature) == "(x: int, by: int = 1) -> int"
    stubs = build_stubs(functions)
    assert 'def double(x: int) -> int:\n    """Double x."""' in stubs
    assert 'def inc(x: int, by: int = 1) -> int:\n    """Add `by` to x."""' in stubs
    assert 'def traced(x: int) -> int:\n    """Add ten (an async trace)."""' in stubs
    assert inspect.getdoc(functions["double"].func) == "Double x."
    assert list(register({"twice": double})) == ["twice"]  # a mapping names it by its key


def test_a_plain_function_is_not_taken_for_a_flyte_task_and_flyte_is_not_imported() -> None:
    functions = register([plain_double])
    assert not hasattr(functions["plain_double"].func, FLYTE_TASK)
    # Flyte stays optional: registering and running never import it.
    code = (
        "import sys, agent_tools as at\n"
        "def f(x: int) -> int:\n    return x + 1\n"
        "assert at.orchestrator_from_str('f(1)', inputs={}, output=int, tasks=[f])() == 2\n"
        "assert not any(m == 'flyte' or m.startswith('flyte.') for m in sys.modules), 'flyte imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


CALLS = [
    ("double(x) + 1", {"x": 3}, 7),
    ("inc(x) + inc(x, 5) + inc(x, by=2)", {"x": 1}, 2 + 6 + 3),
    ("traced(x) + traced_sync(x)", {"x": 1}, 11 + 21),
    ("plain_double(x) + aplain_double(x)", {"x": 2}, 8),
    ("[double(v) for v in xs]", {"xs": [1, 2]}, [2, 4]),
    ("r = 0\nfor v in xs:\n    r += double(inc(v))\nr", {"xs": [1, 2]}, 4 + 6),
]


@pytest.mark.parametrize(("code", "inputs", "expected"), CALLS, ids=[c for c, _, _ in CALLS])
def test_flyte_tasks_traces_and_callables_give_flytes_result(
    flyte_on: Any, code: str, inputs: dict[str, Any], expected: Any
) -> None:
    tasks = [double, inc, traced, traced_sync, plain_double, aplain_double]
    assert flyte_local_run(code, inputs, tasks) == expected
    assert ours_local(code, inputs, tasks) == expected  # the async face
    assert ours_sync(code, inputs, tasks) == expected  # the sync face: no event loop


def test_the_record_shows_a_flyte_task_call_by_its_function_name(flyte_on: Any) -> None:
    t = at.orchestrator_from_str("double(x)", inputs={"x": int}, output=int, tasks=[double])
    record = at.run(t, x=4)
    assert record.result == 8
    assert [(c.function, c.args, c.result) for c in record.calls] == [("double", (4,), 8)]


def test_a_flyte_task_called_from_a_template_inside_a_flyte_run_goes_to_flytes_controller(
    flyte_on: Any,
) -> None:
    """Inside a Flyte run, `double.aio` submits the task to Flyte's controller. It works
    from both faces: a sync Flyte task calling the template, an async one awaiting it."""
    ours = at.orchestrator_from_str("double(x) + inc(x)", inputs={"x": int}, output=int, tasks=[double, inc])

    @env.task
    def outer_sync(x: int) -> int:
        return ours(x=x)

    @env.task
    async def outer_async(x: int) -> int:
        return await ours.aio(x=x)

    assert flyte.run(outer_sync, x=3).outputs()[0] == 6 + 4
    assert flyte.run(outer_async, x=3).outputs()[0] == 6 + 4


def test_a_failing_flyte_task_raises_with_the_line_in_ours(flyte_on: Any) -> None:
    # Flyte: the task's own exception ends the run (the sandbox code cannot catch it).
    with pytest.raises(ValueError, match="two"):
        flyte_local_run("boom(2)", {}, [boom])
    # Ours, by design: a HostFunctionError with the line, the call and the record; the
    # task's exception is its cause. And the code can catch it where it happens.
    with pytest.raises(at.HostFunctionError) as info:
        ours_sync("boom(2)", {}, [boom])
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.line == 1 and info.value.function == "boom"
    assert ours_sync("try:\n    boom(2)\nexcept ValueError as e:\n    r = str(e)\nr", {}, [boom]) == "two"


def test_a_non_callable_or_nameless_task_is_refused_as_flyte_refuses_it(flyte_on: Any) -> None:
    with pytest.raises(TypeError):
        fs.orchestrator_from_str("1", inputs={}, tasks=[3])
    with pytest.raises(TypeError, match="is not callable"):
        at.orchestrator_from_str("1", inputs={}, tasks=[3])
    # A Flyte code task has no function with a name (its func is a lambda).
    code_task = fs.orchestrator_from_str("1", inputs={}, output=int)
    with pytest.raises(TypeError, match="no function with a usable name"):
        at.orchestrator_from_str("1", inputs={}, tasks=[code_task])


# -- 3. flyte_map and its keywords -------------------------------------------------------


MAPS = [
    "flyte_map('double', xs)",
    "flyte_map('double', xs, concurrency=0)",
    "flyte_map('double', xs, concurrency=2)",
    "flyte_map('double', xs, group_name='doubles')",
    "flyte_map('double', xs, return_exceptions=False)",
    "flyte_map('inc', xs, xs)",
    "flyte_map('double', xs, concurrency=1, group_name='g', return_exceptions=True)",
]


@pytest.mark.parametrize("code", MAPS)
def test_flyte_map_keywords_give_flytes_result(flyte_on: Any, code: str) -> None:
    xs = [1, 2, 3]
    expected = flyte_local_run(code, {"xs": xs}, [double, inc])
    assert expected == [2, 4, 6]
    assert ours_local(code, {"xs": xs}, [double, inc]) == expected
    assert ours_sync(code, {"xs": xs}, [double, inc]) == expected


def test_flyte_map_returns_a_failed_tasks_exception_in_the_list_by_default(flyte_on: Any) -> None:
    code = "flyte_map('boom', xs)"
    theirs = flyte_local_run(code, {"xs": [1, 2, 3]}, [boom])
    ours = ours_sync(code, {"xs": [1, 2, 3]}, [boom])
    for result in (theirs, ours):
        assert result[0] == 1 and result[2] == 3
        assert type(result[1]) is ValueError and str(result[1]) == "two"
    # The code sees the exception as a value, as in Flyte.
    inspect_code = "rs = flyte_map('boom', xs)\n[type(r).__name__ for r in rs]"
    assert flyte_local_run(inspect_code, {"xs": [1, 2]}, [boom]) == ["int", "ValueError"]
    assert ours_sync(inspect_code, {"xs": [1, 2]}, [boom]) == ["int", "ValueError"]


def test_flyte_map_with_return_exceptions_false_raises_the_failure(flyte_on: Any) -> None:
    code = "flyte_map('boom', xs, return_exceptions=False)"
    with pytest.raises(ValueError, match="two"):
        flyte_local_run(code, {"xs": [1, 2, 3]}, [boom])
    # Ours, by design: the failure raises in the sandbox at the line (catchable there);
    # uncaught, it is a HostFunctionError whose cause is the task's exception.
    with pytest.raises(at.HostFunctionError) as info:
        ours_sync(code, {"xs": [1, 2, 3]}, [boom])
    assert isinstance(info.value.__cause__, ValueError)


def test_flyte_map_of_an_unknown_name_is_a_runtime_error_in_both(flyte_on: Any) -> None:
    code = "flyte_map('nope', xs)"
    with pytest.raises(RuntimeError, match="flyte_map: task 'nope' not found"):
        flyte_local_run(code, {"xs": [1]}, [double])
    with pytest.raises(RuntimeError) as info:
        ours_sync(code, {"xs": [1]}, [double])
    error = info.value
    assert isinstance(error, UnknownTaskError)
    assert isinstance(error, at.UnknownFunctionError)
    assert error.message == "flyte_map: 'nope' is not a registered function (registered: double)"
    assert error.name == "nope" and error.line == 1 and error.exc_type == "RuntimeError"


def test_flyte_map_of_an_unknown_name_ends_the_run_even_when_the_code_catches_it() -> None:
    # As in Flyte, where the RuntimeError is raised on the host and never reaches the code.
    code = "try:\n    flyte_map('nope', [1])\nexcept RuntimeError as e:\n    r = str(e)\n'went on'"
    with pytest.raises(UnknownTaskError, match="flyte_map: 'nope' is not a registered function"):
        ours_sync(code, {}, [plain_double])


def test_parallel_map_keeps_its_documented_behaviour() -> None:
    # A failure raises (no return_exceptions unless asked), an unknown name is a
    # NameError in the code (UnknownFunctionError, not a RuntimeError), concurrency
    # must be positive.
    with pytest.raises(at.HostFunctionError):
        ours_sync("parallel_map(plain_boom, [1, 2, 3])", {}, [plain_boom])
    with pytest.raises(at.UnknownFunctionError) as info:
        ours_sync("parallel_map('nope', [1])", {}, [plain_boom])
    assert not isinstance(info.value, RuntimeError)
    assert info.value.exc_message.startswith("NameError: parallel_map: 'nope'")
    caught = (
        "try:\n    parallel_map(plain_boom, [1], concurrency=0)\nexcept ValueError as e:\n    r = str(e)\nr"
    )
    assert ours_sync(caught, {}, [plain_boom]) == "parallel_map: concurrency must be a positive int, got 0"
    # It takes Flyte's keywords too, with its own defaults.
    rs = ours_sync(
        "parallel_map(plain_boom, [1, 2], return_exceptions=True, group_name='g')", {}, [plain_boom]
    )
    assert rs[0] == 1 and isinstance(rs[1], ValueError)


def test_in_code_that_uses_both_names_each_keeps_its_own_defaults() -> None:
    # flyte_map and parallel_map are bound to their own host functions: code naming
    # both gets Flyte's defaults for flyte_map (failures returned in the list) and
    # parallel_map's for parallel_map (a failure raises).
    code = "a = flyte_map(plain_boom, [1, 2])\nb = parallel_map(plain_double, [1])\n{rest}"
    rs = ours_sync(code.format(rest="a + b"), {}, [plain_boom, plain_double])
    assert rs[0] == 1 and isinstance(rs[1], ValueError) and rs[2] == 2
    with pytest.raises(at.HostFunctionError):
        ours_sync(code.format(rest="parallel_map(plain_boom, [2])"), {}, [plain_boom, plain_double])


def test_flyte_map_messages_name_flyte_map() -> None:
    def caught(call: str, kind: str) -> Any:
        return ours_sync(f"try:\n    {call}\nexcept {kind} as e:\n    r = str(e)\nr", {}, [plain_double])

    assert (
        caught("flyte_map(plain_double)", "TypeError") == "flyte_map needs at least one iterable of arguments"
    )
    assert caught("flyte_map(plain_double, [1], concurrency=-1)", "ValueError") == (
        "flyte_map: concurrency must be an int >= 0 (0: no limit), got -1"
    )
    assert caught("flyte_map(plain_double, [1], return_exceptions=1)", "TypeError") == (
        "flyte_map: return_exceptions must be True or False, got 1"
    )
    assert caught("flyte_map(plain_double, [1], group_name=3)", "TypeError") == (
        "flyte_map: group_name must be a str or None, got 3"
    )
    assert caught("fm = flyte_map\n    fm(plain_double, iter([1]))", "TypeError") == (
        "flyte_map got <list_iterator object>: pass a list, e.g. list(...)"
    )


def test_flyte_map_over_plain_callables_returns_failures_too(flyte_on: Any) -> None:
    # Flyte's default for a plain callable (not a task) is return_exceptions=False
    # (its `_map_callable`), unlike its documented default and its tasks' (True).
    # Ours, by design: one default for every registered function, Flyte's documented one.
    with pytest.raises(ValueError, match="two"):
        flyte_local_run("flyte_map('plain_boom', xs)", {"xs": [1, 2]}, [plain_boom])
    rs = ours_sync("flyte_map('plain_boom', xs)", {"xs": [1, 2]}, [plain_boom])
    assert rs[0] == 1 and isinstance(rs[1], ValueError)


def test_flyte_map_of_a_function_rather_than_its_name(flyte_on: Any) -> None:
    # Flyte: a registered function is reachable only as a call, so naming it is a NameError.
    with pytest.raises(Exception, match="NameError"):
        flyte_local_run("flyte_map(double, xs)", {"xs": [1, 2]}, [double])
    # Ours, by design: the function or its name, as parallel_map takes.
    assert ours_sync("flyte_map(double, xs)", {"xs": [1, 2]}, [double]) == [2, 4]


def test_flyte_map_with_an_unknown_keyword(flyte_on: Any) -> None:
    # Flyte forwards only its three keywords and drops the rest without a word.
    assert flyte_local_run("flyte_map('double', xs, concurency=2)", {"xs": [1]}, [double]) == [2]
    # Ours, by design: a misspelt keyword is an error (the pre-flight check, when on,
    # refuses it before anything runs; else the call raises TypeError).
    caught = (
        "try:\n    flyte_map('plain_double', [1], concurency=2)\nexcept TypeError as e:\n    r = str(e)\nr"
    )
    assert ours_sync(caught, {}, [plain_double]) == (
        "flyte_map() got an unexpected keyword argument 'concurency' "
        "(it takes concurrency, group_name, return_exceptions)"
    )
    checked = at.SandboxedConfig(preflight=True)
    with pytest.raises(at.SandboxError, match="has no parameter `concurency`; did you mean `concurrency`"):
        ours_sync("flyte_map('plain_double', [1], concurency=2)", {}, [plain_double], plugin_config=checked)


def test_the_preflight_check_knows_the_maps_keywords() -> None:
    functions = register([plain_double])
    for code in (
        "parallel_map(plain_double, [1], concurrency=2, group_name='g', return_exceptions=True)",
        "flyte_map('plain_double', [1], concurrency=0, group_name=None, return_exceptions=False)",
        "def flyte_map(*a, **k):\n    return a\nflyte_map(1, 2, anything=3)",  # the code's own
    ):
        assert check_code(code, functions) == [], code
    problems = check_code("parallel_map(plain_double, [1], concurrency=2, retries=3)", functions)
    assert [(p.code, p.column) for p in problems] == [("unknown-argument", 48)]
    assert "parallel_map(fn, *iterables, concurrency=8, group_name=None, return_exceptions=False)" in (
        problems[0].message
    )


def test_the_stubs_type_check_every_flyte_map_keyword() -> None:
    checked = at.SandboxedConfig(type_check=True)
    for code in (
        "flyte_map('plain_double', [1, 2], concurrency=0, group_name='g', return_exceptions=False)",
        "parallel_map(plain_double, [1, 2], concurrency=2, group_name=None, return_exceptions=True)",
    ):
        assert ours_sync(code, {}, [plain_double], plugin_config=checked) == [2, 4]
    with pytest.raises(at.TypeCheckError, match="unknown-argument"):
        ours_sync("flyte_map('plain_double', [1], concurency=2)", {}, [plain_double], plugin_config=checked)
    stubs = at.orchestrator_from_str("1", inputs={}, tasks=[plain_double]).type_check_stubs
    assert (
        "concurrency: int = 0,\n    group_name: str | None = None,\n    return_exceptions: bool = True,"
        in stubs
    )


# -- 4. decorator mode -------------------------------------------------------------------

RATE = 3


@at.orchestrator
def ours_direct(x: int) -> int:
    return plain_double(x) + 1


@at.orchestrator(timeout_ms=5_000, name="comprehension")
def ours_comprehension(xs: list[int]) -> list[int]:
    """Doubles every item."""
    return [plain_double(x) for x in xs]


@at.orchestrator
async def ours_async(x: int, *, k: int = 1) -> int:
    y = await aplain_double(x)
    return y + k


@at.orchestrator
def ours_modules_and_constants(x: int, d: dt.date) -> dict[str, Any]:
    return {
        "json": json.dumps([x]),
        "floor": math.floor(x / RATE),
        "next": d + timedelta(days=1),
    }


@at.orchestrator
def ours_untyped(x, y=2):  # type: ignore[no-untyped-def]
    return x * y


@at.orchestrator
def ours_returns_nothing(x: int) -> None:
    plain_double(x)


def test_the_decorator_makes_a_template_typed_by_the_signature() -> None:
    t = ours_direct
    assert isinstance(t, at.SandboxedTaskTemplate) and isinstance(t, at.CodeTaskTemplate)
    assert t.name == "ours_direct"
    assert t.interface == at.NativeInterface.from_types({"x": int}, int)
    assert sorted(t._user_functions) == ["plain_double"]
    assert t(3) == t(x=3) == 7
    assert asyncio.run(t.aio(x=3)) == 7
    assert at.run(t, x=3).calls[0].function == "plain_double"
    assert t.forward(3) == 7  # calls the function itself, outside the sandbox, as Flyte's does
    assert ours_comprehension.name == "comprehension"
    assert ours_comprehension.sandbox_config.timeout_ms == 5_000
    assert ours_comprehension.docs == at.Documentation(description="Doubles every item.")
    assert ours_comprehension(xs=[1, 2]) == [2, 4]


def test_defaults_keyword_only_parameters_and_async_def() -> None:
    assert ours_async.interface.inputs["k"][1] == 1
    assert ours_async(x=2) == 5 and ours_async(x=2, k=10) == 14
    assert ours_untyped(x=3) == 6 and ours_untyped.interface.output_type is Any
    assert ours_returns_nothing(x=1) is None and ours_returns_nothing.interface.outputs == {}


def test_modules_members_and_constants_the_body_uses_are_in_the_sandbox() -> None:
    out = ours_modules_and_constants(x=7, d=dt.date(2024, 2, 28))
    assert out == {"json": "[7]", "floor": 2, "next": dt.date(2024, 2, 29)}
    assert ours_modules_and_constants._user_functions == {}  # imported there, not called on the host


def test_closure_variables_and_explicit_tasks() -> None:
    offset = 5

    def bump(x: int) -> int:
        return x + offset

    @at.orchestrator(tasks={"triple": lambda x: x * 3})
    def inner(x: int) -> int:
        return bump(x) + triple(x) + offset  # type: ignore[name-defined]  # noqa: F821

    assert sorted(inner._user_functions) == ["bump", "triple"]
    assert inner(x=1) == 6 + 3 + 5


def test_a_template_the_body_uses_runs_nested() -> None:
    @at.orchestrator
    def outer(xs: list[int]) -> int:
        return sum(ours_comprehension(xs)) + ours_direct(1)

    assert sorted(outer._user_functions) == ["ours_comprehension", "ours_direct"]
    assert outer(xs=[1, 2]) == 6 + 3


def test_a_decorator_made_once_decorates_several_functions_alike() -> None:
    limited = at.orchestrator(plugin_config=at.SandboxedConfig(timeout_ms=1_234), env_vars={"A": "1"})

    @limited
    def one() -> int:
        return 1

    @limited
    def two() -> int:
        return 2

    assert one.sandbox_config.timeout_ms == two.sandbox_config.timeout_ms == 1_234
    assert one.env_vars == two.env_vars == {"A": "1"}
    assert (one(), two()) == (1, 2)


def test_what_the_decorator_refuses() -> None:
    with pytest.raises(TypeError, match=r"takes \*args"):

        @at.orchestrator
        def star(*args: int) -> int:
            return 0

    with pytest.raises(TypeError, match="generator"):

        @at.orchestrator
        def gen(n: int) -> Iterator[int]:
            yield n

    with pytest.raises(TypeError, match="orchestrator_from_str"):
        at.orchestrator("1 + 1")  # type: ignore[call-overload]


def test_decorator_mode_matches_flytes_for_tasks_in_globals(flyte_on: Any) -> None:
    theirs = flyte.run(flyte_direct, x=3).outputs()[0]
    theirs_async = flyte.run(flyte_adirect, x=3).outputs()[0]

    @at.orchestrator
    def direct(x: int) -> int:
        return double(x) + 1

    @at.orchestrator
    async def adirect(x: int) -> int:
        return double(x) + 1

    assert direct(x=3) == theirs == 7
    assert adirect(x=3) == theirs_async == 7
    assert getattr(direct._user_functions["double"], FLYTE_TASK) is double


def test_decorator_mode_finds_what_flytes_misses(flyte_on: Any) -> None:
    # Flyte looks only at the function's own global names: a task used only in a
    # comprehension (its own code object on Python 3.11) is not found, nor a
    # `@flyte.trace` function (it looks for an `aio` traces do not have), nor imported
    # modules. Ours, by design, looks into nested code, registers every function and
    # imports the modules the sandbox has.
    with pytest.raises(Exception, match="NameError"):
        flyte.run(flyte_comprehension, xs=[1, 2])
    with pytest.raises(Exception, match="NameError"):
        flyte.run(flyte_uses_json, x=1)
    with pytest.raises(Exception, match="NameError"):
        flyte.run(flyte_uses_trace, x=1)

    @at.orchestrator
    def uses_trace(x: int) -> int:
        return traced(x) + traced_sync(x)

    assert uses_trace(x=1) == 11 + 21

    @at.orchestrator
    def comprehension(xs: list[int]) -> list[int]:
        return [double(x) for x in xs]

    @at.orchestrator
    def uses_json(x: int) -> str:
        return json.dumps([x])

    assert comprehension(xs=[1, 2]) == [2, 4]
    assert uses_json(x=1) == "[1]"


def test_the_orchestrator_prompt_describes_our_sandbox_truthfully(flyte_on: Any) -> None:
    prompt = at.ORCHESTRATOR_SYNTAX_PROMPT
    assert prompt != fs.ORCHESTRATOR_SYNTAX_PROMPT
    # Every module it lists imports; those it says are missing do not.
    listed = prompt.split("only these modules exist: ")[1].split(". ")[0].split(", ")
    assert set(listed) <= MONTY_MODULES
    assert ours_sync("\n".join(f"import {m}" for m in listed) + "\n1", {}) == 1
    for missing in ("statistics", "heapq", "zoneinfo"):
        with pytest.raises(at.SandboxRuntimeError, match="ModuleNotFoundError"):
            ours_sync(f"import {missing}", {})
    # The builtins' signatures are the stubs'.
    stubs = at.orchestrator_from_str("1", inputs={}).type_check_stubs
    for line in (
        "parallel_map(fn, *iterables, concurrency=8, group_name=None, return_exceptions=False)",
        "flyte_map(fn, *iterables, concurrency=0, group_name=None, return_exceptions=True)",
    ):
        assert line in prompt
        name = line.split("(")[0]
        assert f"def {name}(" in stubs
    # No clock, no entropy; time.sleep, seeded random and os.environ work.
    for code in (
        "import datetime\ndatetime.datetime.now()",
        "import time\ntime.time()",
        "import random\nrandom.random()",
    ):
        with pytest.raises(at.SandboxRuntimeError, match="not supported"):
            ours_sync(code, {})
    assert ours_sync("import random\nrandom.Random(1).random() < 1", {}) is True
    assert ours_sync("for i in range(5):\n    if i == 2:\n        return i\n99", {}) == 2
    assert ours_sync("import os\nos.environ.get('A')", {}, env_vars={"A": "b"}) == "b"
    with pytest.raises(at.SandboxSyntaxError):
        ours_sync("def g():\n    yield 1\nlist(g())", {})


# -- 5. types ----------------------------------------------------------------------------

UTC_PLUS_0530 = dt.timezone(timedelta(hours=5, minutes=30), "IST")

DATES_AND_DECIMALS: list[tuple[Any, Any]] = [
    (dt.date, dt.date(2024, 2, 29)),
    (dt.datetime, dt.datetime(2024, 1, 2, 3, 4, 5, 678901)),
    (dt.datetime, dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    (dt.datetime, dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC_PLUS_0530)),
    (dt.datetime, dt.datetime(1, 1, 1, tzinfo=dt.timezone(-timedelta(hours=23, minutes=59)))),
    (dt.time, dt.time(23, 59, 59, 999999)),
    (dt.time, dt.time(1, 2, tzinfo=UTC_PLUS_0530)),
    (dt.timedelta, timedelta(days=-1, seconds=5, microseconds=7)),
    (dt.timedelta, timedelta(days=999_999_999)),
    (decimal.Decimal, decimal.Decimal("1.10")),
    (decimal.Decimal, decimal.Decimal("-12345678901234567890.000000000001")),
    (decimal.Decimal, decimal.Decimal("-0")),
    (decimal.Decimal, decimal.Decimal("1E+30")),
    (list[dt.date], [dt.date(2020, 1, 1), dt.date(2021, 12, 31)]),
    (dict[str, decimal.Decimal], {"price": decimal.Decimal("9.99")}),
    (Optional[dt.datetime], None),
    (tuple[dt.date, timedelta], (dt.date(2024, 1, 1), timedelta(hours=1))),
]


@pytest.mark.parametrize(("tp", "value"), DATES_AND_DECIMALS, ids=[repr(v) for _, v in DATES_AND_DECIMALS])
def test_dates_times_and_decimals_round_trip_exactly(tp: Any, value: Any) -> None:
    t = at.orchestrator_from_str("v", inputs={"v": tp}, output=tp)
    out = t(v=value)
    assert out == value
    assert repr(out) == repr(value)  # same type, same digits, same timezone (name included)
    assert asyncio.run(t.aio(v=value)) == value


def test_date_arithmetic_in_the_sandbox_comes_back_exact() -> None:
    t = at.orchestrator_from_str(
        "import datetime\nimport decimal\n"
        "(d + datetime.timedelta(days=1), when.utcoffset(), when + span,\n"
        " price * 3 + decimal.Decimal('0.01'))",
        inputs={"d": dt.date, "when": dt.datetime, "span": timedelta, "price": decimal.Decimal},
        output=tuple[dt.date, timedelta, dt.datetime, decimal.Decimal],
    )
    when = dt.datetime(2024, 3, 1, 12, tzinfo=UTC_PLUS_0530)
    assert t(d=dt.date(2024, 2, 28), when=when, span=timedelta(hours=13), price=decimal.Decimal("0.10")) == (
        dt.date(2024, 2, 29),
        timedelta(hours=5, minutes=30),
        dt.datetime(2024, 3, 2, 1, tzinfo=UTC_PLUS_0530),
        decimal.Decimal("0.31"),
    )


def test_a_datetime_in_an_iana_zone_comes_back_in_its_fixed_offset() -> None:
    # Monty 1.4 holds fixed-offset timezones only: the instant is kept, the zone (and
    # with it daylight saving for later arithmetic) is not.
    paris = dt.datetime(2024, 7, 2, 3, 4, 5, tzinfo=ZoneInfo("Europe/Paris"))
    out = at.orchestrator_from_str("v", inputs={"v": dt.datetime}, output=dt.datetime)(v=paris)
    assert out == paris
    assert out.tzinfo == dt.timezone(timedelta(hours=2), "CEST")


def test_declared_dates_and_decimals_are_validated_strictly() -> None:
    t = at.orchestrator_from_str("v", inputs={"v": dt.date}, output=dt.date)
    for wrong in (dt.datetime(2024, 1, 1), "2024-01-01", 20240101):
        with pytest.raises(at.InputValidationError):
            t(v=wrong)
    with pytest.raises(at.InputValidationError):
        at.orchestrator_from_str("v", inputs={"v": decimal.Decimal}, output=Any)(v=1.5)
    # pydantic's rule for a declared Decimal: finite numbers only (Monty holds the others).
    for special in ("NaN", "Infinity"):
        with pytest.raises(at.InputValidationError, match="finite number"):
            at.orchestrator_from_str("v", inputs={"v": decimal.Decimal}, output=Any)(
                v=decimal.Decimal(special)
            )
    with pytest.raises(at.OutputValidationError):
        at.orchestrator_from_str("'soon'", inputs={}, output=dt.datetime)()


def test_flyte_refuses_dates_and_decimals_as_declared_types(flyte_on: Any) -> None:
    # Flyte's sandbox declares only primitives, collections and its IO types, though
    # Monty holds these natively. Ours, by design, accepts them (above).
    for tp in (dt.date, dt.datetime, dt.time, timedelta, decimal.Decimal):
        with pytest.raises(TypeError, match="unsupported type"):
            fs.orchestrator_from_str("v", inputs={"v": tp}, output=tp)
        assert at.orchestrator_from_str("v", inputs={"v": tp}, output=tp).interface.output_type is tp


def next_business_day(d: dt.date, at_time: Optional[dt.time] = None) -> dt.datetime:
    """The next weekday, at `at_time` (midnight by default)."""
    day = d + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return dt.datetime.combine(day, at_time or dt.time())


def price_with_tax(price: decimal.Decimal, rate: decimal.Decimal, wait: timedelta) -> decimal.Decimal:
    return price * (1 + rate)


def test_registered_functions_take_and_return_them_and_the_stubs_name_them() -> None:
    tasks = [next_business_day, price_with_tax]
    t = at.orchestrator_from_str(
        "import datetime\nimport decimal\n"
        "(next_business_day(d, datetime.time(9)),\n"
        " price_with_tax(p, decimal.Decimal('0.2'), datetime.timedelta(0)))",
        inputs={"d": dt.date, "p": decimal.Decimal},
        output=tuple[dt.datetime, decimal.Decimal],
        tasks=tasks,
    )
    assert t(d=dt.date(2024, 3, 1), p=decimal.Decimal("10.00")) == (
        dt.datetime(2024, 3, 4, 9),
        decimal.Decimal("12.000"),
    )
    stubs = t.type_check_stubs
    assert "def next_business_day(d: date, at_time: time | None = None) -> datetime:" in stubs
    assert "def price_with_tax(price: Decimal, rate: Decimal, wait: timedelta) -> Decimal:" in stubs
    checked = at.SandboxedConfig(type_check=True)
    with pytest.raises(at.TypeCheckError, match="Expected `date`"):
        ours_sync("next_business_day('2024-03-01')", {}, tasks, plugin_config=checked)


def test_a_flyte_task_taking_and_returning_a_date(flyte_on: Any) -> None:
    code = "add_to_date(d, 1)"
    expected = dt.date(2024, 3, 1)
    assert flyte_local_run(code, {"d": dt.date(2024, 2, 29)}, [add_to_date]) == expected
    t = at.orchestrator_from_str(code, inputs={"d": dt.date}, output=dt.date, tasks=[add_to_date])
    assert t(d=dt.date(2024, 2, 29)) == expected


SHARED_TYPES: list[tuple[Any, Any]] = [
    (int, 1),
    (float, 1.5),
    (str, "é"),
    (bool, True),
    (bytes, b"\x00x"),
    (list[int], [1, 2]),
    (dict[str, int], {"a": 1}),
    (set[int], {1, 2}),
    (frozenset[str], frozenset({"a"})),
    (Optional[int], None),
    (list[Optional[dict[str, list[float]]]], [None, {"k": [1.0]}]),
]


@pytest.mark.parametrize(("tp", "value"), SHARED_TYPES, ids=[repr(tp) for tp, _ in SHARED_TYPES])
def test_the_types_both_accept_round_trip_alike(flyte_on: Any, tp: Any, value: Any) -> None:
    theirs = flyte.run(fs.orchestrator_from_str("v", inputs={"v": tp}, output=tp), v=value).outputs()[0]
    ours = at.orchestrator_from_str("v", inputs={"v": tp}, output=tp)(v=value)
    assert theirs == ours == value


class Point(pydantic.BaseModel):
    x: int
    y: int


def test_types_only_ours_accepts(flyte_on: Any) -> None:
    # A tuple output: Flyte's type engine reads it as several outputs, and the run fails.
    with pytest.raises(Exception, match="outputs"):
        flyte.run(
            fs.orchestrator_from_str("v", inputs={"v": tuple[int, str]}, output=tuple[int, str]), v=(1, "a")
        )
    assert at.orchestrator_from_str("v", inputs={"v": tuple[int, str]}, output=tuple[int, str])(
        v=(1, "a")
    ) == (
        1,
        "a",
    )
    # Models, dataclasses and TypedDicts: Flyte refuses them; ours, by design, passes
    # them as dicts and validates them back.
    with pytest.raises(TypeError, match="unsupported type"):
        fs.orchestrator_from_str("p", inputs={"p": Point}, output=Point)
    assert at.orchestrator_from_str("p", inputs={"p": Point}, output=Point)(p=Point(x=1, y=2)) == Point(
        x=1, y=2
    )


# -- 6. limits and error kinds -----------------------------------------------------------

LIMITS: list[tuple[str, at.SandboxedConfig, type[BaseException], type[BaseException], str]] = [
    (
        "while True:\n    pass",
        at.SandboxedConfig(timeout_ms=200),
        at.TimeLimitError,
        TimeoutError,
        "TimeoutError",
    ),
    (
        "x = 'a' * 100_000_000\nlen(x)",
        at.SandboxedConfig(max_memory=5_000_000),
        at.MemoryLimitError,
        MemoryError,
        "MemoryError",
    ),
    (
        "def f(n):\n    return f(n + 1)\nf(0)",
        at.SandboxedConfig(max_stack_depth=50),
        at.RecursionLimitError,
        RecursionError,
        "RecursionError",
    ),
    ("1 / 0", at.SandboxedConfig(), at.SandboxRuntimeError, at.SandboxError, "ZeroDivisionError"),
    ("def f(:\n    pass", at.SandboxedConfig(), at.SandboxSyntaxError, at.SandboxError, "Expected"),
]


@pytest.mark.parametrize(
    ("code", "config", "ours_kind", "builtin", "theirs_text"),
    LIMITS,
    ids=[k.__name__ for _, _, k, _, _ in LIMITS],
)
def test_limits_and_errors_fail_in_both_each_with_its_own_kind(
    flyte_on: Any,
    code: str,
    config: at.SandboxedConfig,
    ours_kind: type[BaseException],
    builtin: type[BaseException],
    theirs_text: str,
) -> None:
    ours = at.orchestrator_from_str(code, inputs={}, output=Any, plugin_config=config)
    # Ours, by design: a SandboxError subclass that is also the matching builtin
    # (TimeoutError, MemoryError, RecursionError), with the line, a hint and the run's
    # record; never pydantic_monty's MontyRuntimeError.
    with pytest.raises(ours_kind) as info:
        ours()
    assert isinstance(info.value, builtin)
    assert info.value.record is not None
    assert type(info.value).__module__ == "agent_tools.base.errors"
    # Flyte: the same limits (to_flyte carries them over) fail its run with Flyte's
    # RuntimeUserError around Monty's error text.
    with pytest.raises(RuntimeError, match=theirs_text):
        flyte.run(to_flyte(ours))


def test_orchestrate_local_errors_are_montys_in_flyte_and_ours_in_agent_tools(flyte_on: Any) -> None:
    import pydantic_monty

    with pytest.raises(pydantic_monty.MontyRuntimeError, match="ZeroDivisionError"):
        flyte_local_run("1 / 0", {})
    with pytest.raises(at.SandboxRuntimeError) as info:
        ours_local("1 / 0", {})
    assert not isinstance(info.value, pydantic_monty.MontyError)
    assert info.value.exc_type == "ZeroDivisionError" and info.value.line == 1


def test_environment_variables(flyte_on: Any) -> None:
    # Flyte declines every OS call; ours, by design, serves the template's env_vars
    # (and secrets) to os.environ and os.getenv, and nothing else of the host's.
    with pytest.raises(Exception, match="not supported"):
        flyte_local_run("import os\nos.environ.get('A')", {})
    assert ours_sync("import os\n(os.environ.get('A'), os.getenv('HOME'))", {}, env_vars={"A": "b"}) == (
        "b",
        None,
    )


def test_the_clock_is_refused_in_both(flyte_on: Any) -> None:
    code = "import datetime\ndatetime.date.today()"
    with pytest.raises(Exception, match="not supported"):
        flyte_local_run(code, {})
    with pytest.raises(at.SandboxRuntimeError, match="not supported"):
        ours_sync(code, {})


def test_forward_says_what_flytes_says(flyte_on: Any) -> None:
    theirs = fs.orchestrator_from_str("1", inputs={}, output=int)
    with pytest.raises(NotImplementedError) as flyte_info:
        theirs.forward()
    with pytest.raises(NotImplementedError) as ours_info:
        at.orchestrator_from_str("1", inputs={}, output=int).forward()
    assert "does not support forward()" in str(flyte_info.value)
    assert "CodeTaskTemplate does not support forward()" in str(ours_info.value)
    assert "execute it through the sandbox" in str(ours_info.value)


# -- 7. to_flyte round trip --------------------------------------------------------------

# Module level, as a cluster run needs it (Flyte finds the task by importing this module).
if flyte is not None:
    ROUND_TRIP_SOURCE = "double(x) + inc(x) + traced(x) + plain_double(x) + sum(flyte_map('double', [x, x]))"
    OURS_FROM_FLYTE_TASKS = at.orchestrator_from_str(
        ROUND_TRIP_SOURCE, inputs={"x": int}, output=int, tasks=[double, inc, traced, plain_double]
    )
    EXPORTED = to_flyte(OURS_FROM_FLYTE_TASKS)
    EXPORTED_DECORATED = to_flyte(ours_direct)


def test_a_template_of_flyte_tasks_exports_back_and_runs_in_flyte_alike(flyte_on: Any) -> None:
    expected = 6 + 4 + 13 + 6 + 12
    assert OURS_FROM_FLYTE_TASKS(x=3) == expected
    assert flyte.run(EXPORTED, x=3).outputs()[0] == expected
    # Flyte gets its tasks back as themselves (called through `aio`, submitted as tasks).
    assert EXPORTED._user_functions["double"] is double
    assert EXPORTED._user_functions["inc"] is inc
    assert EXPORTED._user_functions["plain_double"] is plain_double
    assert flyte_local_run(ROUND_TRIP_SOURCE, {"x": 3}, list(EXPORTED._user_functions.values())) == expected


def test_a_decorated_template_exports_and_runs_in_flyte(flyte_on: Any) -> None:
    assert flyte.run(EXPORTED_DECORATED, x=3).outputs()[0] == ours_direct(x=3) == 7


def test_the_export_cache_version_of_flyte_tasks_is_stable(flyte_on: Any) -> None:
    def version() -> str:
        t = at.orchestrator_from_str("double(x)", inputs={"x": int}, output=int, tasks=[double], cache="auto")
        return to_flyte(t).cache.policies[0].get_version("salt", None)

    assert version() == version()
    exported_source = to_flyte(
        at.orchestrator_from_str("double(x)", inputs={"x": int}, output=int, tasks=[double], cache="auto")
    )
    assert exported_source.cache.is_enabled()


def test_exporting_a_date_typed_template_is_refused_by_flyte(flyte_on: Any) -> None:
    # Flyte's sandbox does not take the types (see above), so neither does the export.
    with pytest.raises(TypeError, match="unsupported type"):
        to_flyte(at.orchestrator_from_str("d", inputs={"d": dt.date}, output=dt.date))
