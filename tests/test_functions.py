"""Registered functions (point 4) and fan-out (point 5)."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import threading
import time
from typing import Any

import pydantic
import pytest

import agent_tools as at

from .conftest import add


class Weather(pydantic.BaseModel):
    city: str
    temp_c: float


@dataclasses.dataclass
class Order:
    id: int
    total: float


def get_weather(city: str) -> Weather:
    """Current weather for a city."""
    return Weather(city=city, temp_c=len(city) * 1.5)


async def aget_weather(city: str) -> Weather:
    await asyncio.sleep(0.001)
    return Weather(city=city, temp_c=len(city) * 1.5)


def get_order(order_id: int) -> Order:
    return Order(id=order_id, total=order_id * 10.0)


def total_of(order: Order) -> float:
    """Receives an Order: the dict from the sandbox is validated into the dataclass."""
    assert isinstance(order, Order)
    return order.total


def fail(msg: str) -> None:
    raise ValueError(f"failed: {msg}")


def test_registration_errors() -> None:
    with pytest.raises(ValueError, match="duplicate function name 'add'"):
        at.orchestrator_from_str("1", inputs={}, tasks=[add, add])
    with pytest.raises(TypeError, match="is not callable"):
        at.orchestrator_from_str("1", inputs={}, tasks=[add, 3])
    with pytest.raises(TypeError, match="tasks must be a list"):
        at.orchestrator_from_str("1", inputs={}, tasks="add")
    with pytest.raises(ValueError, match="'parallel_map' is a sandbox builtin"):
        at.orchestrator_from_str("1", inputs={}, tasks={"parallel_map": add})


def round_price(value: float, step: float = 0.05) -> float:
    """Rounds to a price step, unlike the builtin `round`."""
    return 999.0


@pytest.mark.parametrize("name", ["round", "sum", "len", "max", "print", "format", "id", "type", "sorted"])
@pytest.mark.parametrize("face", ["template", "mapping", "CodeRunner", "CodeToolset", "CodeTool"])
def test_a_name_the_sandbox_builtins_have_is_refused_on_every_face(name: str, face: str) -> None:
    """The code's `round(...)` reaches the sandbox's builtin, never a function
    registered as `round` (which the model would read in the catalog, and the
    pre-flight check would accept): such a name is refused, saying what to do."""
    fn: Any = _renamed(round_price, name)
    message = rf"'{name}' is a Python builtin in the sandbox.*register it under another name.*'{name}_'"
    with pytest.raises(ValueError, match=message):
        if face == "template":
            at.orchestrator_from_str("1", inputs={}, tasks=[fn])
        elif face == "mapping":
            at.orchestrator_from_str("1", inputs={}, tasks={name: round_price})
        elif face == "CodeRunner":
            at.CodeRunner([fn])
        elif face == "CodeToolset":
            at.CodeToolset([fn])
        else:
            from agent_tools.adapters.openai import CodeTool

            CodeTool([fn])


def _renamed(func: Any, name: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
    call.__annotations__ = dict(func.__annotations__)
    return call


def test_under_another_name_the_function_is_reached_and_the_builtin_stays() -> None:
    template = at.orchestrator_from_str(
        "[round_(1.234), round(1.234, 1)]", inputs={}, output=list[float], tasks={"round_": round_price}
    )
    assert template() == [999.0, 1.2]


def test_sync_and_async_functions_are_plain_calls_with_keywords() -> None:
    async def amul(a: int, b: int = 2) -> int:
        await asyncio.sleep(0)
        return a * b

    t = at.orchestrator_from_str(
        "(add(1, b=2), amul(3), amul(a=3, b=3), amul(add(1, 1)) + 1)",
        inputs={},
        output=tuple[int, int, int, int],
        tasks=[add, amul],
    )
    assert t() == (3, 6, 9, 5)


def test_models_and_dataclasses_enter_as_plain_data_and_validate_on_the_way_in() -> None:
    t = at.orchestrator_from_str(
        """
        w = get_weather("Paris")
        o = get_order(3)
        (type(w).__name__, w["temp_c"], o, total_of(o))
        """,
        inputs={},
        output=tuple,
        tasks=[get_weather, get_order, total_of],
    )
    assert t() == ("dict", 7.5, {"id": 3, "total": 30.0}, 30.0)


def test_host_exception_is_catchable_at_the_call_line() -> None:
    t = at.orchestrator_from_str(
        """
        try:
            fail("a")
            r = "not reached"
        except ValueError as e:
            r = "caught: " + str(e)
        r
        """,
        inputs={},
        output=str,
        tasks=[fail],
    )
    assert t() == "caught: failed: a"


def test_uncaught_host_exception_is_a_host_function_error() -> None:
    t = at.orchestrator_from_str("x = 1\nfail('boom')\nx", inputs={}, output=int, tasks=[fail])
    with pytest.raises(at.HostFunctionError) as info:
        t()
    err = info.value
    assert err.function == "fail" and err.call_args == ("boom",) and err.line == 2
    assert isinstance(err.__cause__, ValueError)
    text = str(err)
    assert "fail('boom') raised ValueError: failed: boom" in text
    assert "> 2 | fail('boom')" in text


def test_async_host_exception_too() -> None:
    async def afail(n: int) -> int:
        raise KeyError(n)

    t = at.orchestrator_from_str(
        "try:\n    afail(1)\nexcept KeyError:\n    r = 'ok'\nr", inputs={}, output=str, tasks=[afail]
    )
    assert t() == "ok"
    with pytest.raises(at.HostFunctionError, match="afail"):
        at.orchestrator_from_str("afail(2)", inputs={}, tasks=[afail])()


def test_unknown_function_lists_the_registered_ones() -> None:
    t = at.orchestrator_from_str("x = 1\nget_wether('Paris')", inputs={}, tasks=[get_weather, add])
    with pytest.raises(at.UnknownFunctionError) as info:
        t()
    err = info.value
    assert err.name == "get_wether" and err.available == ["add", "get_weather"] and err.line == 2
    assert "'get_wether' is not a registered function (registered: add, get_weather)" in str(err)
    assert "> 2 | get_wether('Paris')" in str(err)


def test_host_values_the_sandbox_cannot_hold_are_a_clear_error() -> None:
    def gives_object() -> Any:
        return object()

    with pytest.raises(at.HostFunctionError, match="gives_object returned a value the sandbox cannot hold"):
        at.orchestrator_from_str("gives_object()", inputs={}, tasks=[gives_object])()


# -- point 5: fan-out -----------------------------------------------------------------


def test_parallel_map_runs_concurrently_and_keeps_order() -> None:
    active, peak = 0, 0
    lock = threading.Lock()

    def slow_square(n: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return n * n

    t = at.orchestrator_from_str(
        "parallel_map(slow_square, list(range(8)), concurrency=4)",
        inputs={},
        output=list[int],
        tasks=[slow_square],
    )
    started = time.perf_counter()
    rec = at.run(t)
    elapsed = time.perf_counter() - started
    assert rec.result == [n * n for n in range(8)]
    assert peak == 4
    assert elapsed < 8 * 0.05  # concurrent, not serial
    assert len(rec.calls) == 8


def test_parallel_map_by_name_alias_ranges_and_async() -> None:
    t = at.orchestrator_from_str(
        """
        a = parallel_map("add", range(3), [10, 20, 30])
        b = flyte_map(add, range(2), range(2))
        c = parallel_map(aget_weather, ["Rome", "Oslo"], concurrency=2)
        (a, b, [w["temp_c"] for w in c])
        """,
        inputs={},
        output=tuple,
        tasks=[add, aget_weather],
    )
    assert t() == ([10, 21, 32], [0, 2], [6.0, 6.0])


def test_parallel_map_errors() -> None:
    with pytest.raises(at.SandboxRuntimeError, match="'nope' is not a registered function"):
        at.orchestrator_from_str("parallel_map('nope', [1])", inputs={}, tasks=[add])()
    with pytest.raises(at.HostFunctionError, match=r"fail\('a'\) raised ValueError"):
        at.orchestrator_from_str("parallel_map(fail, ['a', 'b'])", inputs={}, tasks=[fail])()


def test_await_and_gather_styles_work_alongside_plain_calls() -> None:
    async def aadd(a: int, b: int) -> int:
        return a + b

    t = at.orchestrator_from_str(
        """
        import asyncio
        x = await aadd(1, 2)
        y = add(x, 1)
        await add(0, 0)
        async def helper(n):
            return await aadd(n, n)
        g1 = await asyncio.gather(aadd(1, 1), add(2, 2))
        g2 = await asyncio.gather(*[aadd(i, 0) for i in range(3)])
        g3 = await asyncio.gather(helper(5), helper(6))
        (x, y, g1, g2, g3)
        """,
        inputs={},
        output=tuple,
        tasks=[add, aadd],
    )
    assert t() == (3, 4, [2, 4], [0, 1, 2], [10, 12])


def test_await_on_a_non_registered_value_hints_to_drop_it() -> None:
    t = at.orchestrator_from_str("f = add\nawait f(1, 2)", inputs={}, tasks=[add])
    with pytest.raises(at.SandboxRuntimeError) as info:
        t()
    assert info.value.hint is not None and "drop the `await`" in info.value.hint


@pytest.mark.parametrize(
    ("code", "method"),
    [
        ("t = {'a': 1, 'b': add(1, 2)}\nmax(t, key=t.get)", "dict.get"),
        ("list(map(str.upper, ['a', str(add(1, 2))]))", "str.upper"),
        ("xs = [add(1, 2)]\nput = xs.append\nput(4)", "list.append"),
    ],
)
def test_a_method_used_as_a_value_hints_to_call_or_wrap_it(code: str, method: str) -> None:
    t = at.orchestrator_from_str(code, inputs={}, tasks=[add])
    with pytest.raises(at.SandboxRuntimeError) as info:
        t()
    assert info.value.exc_type == "AttributeError"
    assert info.value.hint is not None and f"`{method}` can be called" in info.value.hint


def test_a_name_a_sandbox_module_lacks_gets_its_own_hint() -> None:
    t = at.orchestrator_from_str(
        "from dataclasses import dataclass, asdict\nadd(1, 2)", inputs={}, tasks=[add]
    )
    with pytest.raises(at.SandboxRuntimeError) as info:
        t()
    assert info.value.exc_type == "ImportError"
    assert info.value.hint is not None and "`dataclasses` has no `asdict`" in info.value.hint
    assert "it has: FrozenInstanceError, MISSING, dataclass, field, is_dataclass" in info.value.hint
    assert "not available" not in info.value.hint  # the module itself is


def test_a_missing_attribute_gets_no_method_hint() -> None:
    t = at.orchestrator_from_str("t = {'a': add(1, 2)}\nt.total", inputs={}, tasks=[add])
    with pytest.raises(at.SandboxRuntimeError) as info:
        t()
    assert info.value.exc_type == "AttributeError" and info.value.hint is None


@pytest.mark.parametrize(
    "code",
    [
        "max([1, 2], key=lambda x: add(x, 1))",
        "sorted([2, 1], key=lambda x: -add(x, 0))",
        "list(map(lambda x: add(x, 1), [1]))",
        "def f(x):\n    return add(x, 1)\nmin([1, 2], key=f)",  # past what the pre-flight check sees
    ],
)
@pytest.mark.parametrize("preflight", ["fast", "off"])
def test_a_registered_function_in_a_builtins_callback_is_explained(code: str, preflight: str) -> None:
    calls: list[int] = []

    def add(a: int, b: int) -> int:
        calls.append(a)
        return a + b

    reply = at.CodeRunner([add], preflight=preflight).run(f"add(0, 0)\n{code}")  # pyright: ignore[reportArgumentType]
    assert not reply.ok
    assert (
        "call it in a loop or comprehension" in reply.text
        and "max(items, key=lambda x: values[x])" in reply.text
    )
    caught_before = preflight == "fast" and not code.startswith("def ")
    if caught_before:
        assert "nothing ran" in reply.text and calls == []
    else:
        assert "cannot suspend" in reply.text and calls[:1] == [0]


def test_an_async_function_with_a_blocking_twin_is_called_through_the_twin() -> None:
    """`sandbox.functions.BLOCKING`: the sandbox calls the blocking twin from its own
    thread (no hop to an event loop); code outside the sandbox still awaits the function."""
    import asyncio

    import agent_tools as at
    from agent_tools.sandbox.functions import BLOCKING, register

    used: list[str] = []

    async def lookup(key: str) -> str:
        used.append("async")
        return key.upper()

    def lookup_blocking(key: str) -> str:
        used.append("blocking")
        return key.upper()

    setattr(lookup, BLOCKING, lookup_blocking)
    fn = register([lookup])["lookup"]
    assert not fn.is_async and fn.func is lookup
    template = at.orchestrator_from_str(
        "lookup('a') + lookup(key='b')", inputs={}, output=str, tasks=[lookup]
    )
    assert template() == "AB"
    assert asyncio.run(template.aio()) == "AB"
    assert used == ["blocking"] * 4
    assert asyncio.run(lookup("c")) == "C" and used[-1] == "async"
    assert "def lookup(key: str) -> str" in at.CodeRunner([lookup]).catalog()
