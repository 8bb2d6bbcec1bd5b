"""The Flyte-shaped API: making templates, their properties, running them (points 1-3)."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from typing import Any, Optional, Union

import pydantic
import pytest
from typing_extensions import TypedDict

import agent_tools as at

from .conftest import add


class Point(pydantic.BaseModel):
    x: int
    y: int


@dataclasses.dataclass
class Box:
    label: str
    size: float


class Item(TypedDict):
    name: str
    qty: int


def test_orchestrator_from_str_builds_a_template() -> None:
    t = at.orchestrator_from_str("add(x, y) * 2", inputs={"x": int, "y": int}, output=int, tasks=[add])
    assert isinstance(t, at.CodeTaskTemplate)
    assert t.name == "sandboxed-code" and t.short_name == "sandboxed-code"
    assert t.task_type == "sandboxed-python"
    assert isinstance(t.retries, at.RetryStrategy) and t.retries.count == 0
    assert t.plugin_config == at.SandboxedConfig(timeout_ms=30_000)
    assert t._user_source == "add(x, y) * 2"
    assert t._user_input_names == ["x", "y"]
    assert t._user_functions == {"add": add}
    assert t.native_interface is t.interface
    assert t.interface.inputs == {"x": (int, inspect.Parameter.empty), "y": (int, inspect.Parameter.empty)}
    assert t.interface.outputs == {"o0": int}
    assert t.source_file == __file__
    assert t(1, 2) == 6
    assert t(x=3, y=4) == 14
    assert t(5, y=6) == 22


def test_every_seed_parameter_is_accepted_and_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S", "secret-value")
    iface = at.NativeInterface.from_types({"n": int}, int)
    t = at.CodeTaskTemplate(
        name="n",
        interface=iface,
        short_name="short",
        task_type="sandboxed-python",
        task_type_version=2,
        image="python:3.11",
        resources={"cpu": 1},
        cache="auto",
        interruptible=True,
        retries=3,
        reusable=None,
        docs="docs",
        env_vars={"A": "1"},
        secrets=["S"],
        timeout=10,
        pod_template="pt",
        report=True,
        queue="q",
        debuggable=True,
        parent_env=None,
        parent_env_name="env",
        max_inline_io_bytes=1000,
        triggers=("t",),
        links=("l",),
        _call_as_synchronous=True,
        func=lambda **kw: None,
        plugin_config=at.SandboxedConfig(timeout_ms=1000, max_memory=10_000_000, max_stack_depth=50),
        task_resolver="r",
        _user_source="  n + 1  ",
        _user_input_names=["n"],
        _user_functions={"add": add},
    )
    assert (t.short_name, t.task_type_version, t.image, t.queue, t.parent_env_name) == (
        "short",
        2,
        "python:3.11",
        "q",
        "env",
    )
    assert t.retries == at.RetryStrategy(count=3)
    assert (t.interruptible, t.report, t.debuggable, t.triggers, t.links) == (
        True,
        True,
        True,
        ("t",),
        ("l",),
    )
    # Kept in their one normal form (tests/test_params.py covers each):
    assert t.cache == at.Cache(behavior="auto")
    assert t.secrets == (at.Secret(key="S"),)
    assert t.timeout == at.Timeout(max_runtime=10)
    assert t.docs == at.Documentation(description="docs")
    assert t.resources == {"cpu": 1}
    assert t._user_source == "n + 1"
    assert t(n=1) == 2


def test_forward_is_not_supported() -> None:
    t = at.orchestrator_from_str("1", inputs={}, output=int)
    with pytest.raises(NotImplementedError, match="no Python function"):
        t.forward()


def test_json_schema_has_flytes_shape() -> None:
    t = at.orchestrator_from_str(
        "0", inputs={"n": int, "tags": list[str], "p": Point, "o": Optional[float]}, output=int
    )
    schema = t.json_schema
    assert schema["type"] == "object"
    assert schema["required"] == ["n", "tags", "p", "o"]
    assert schema["properties"]["n"] == {"type": "integer"}
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert schema["properties"]["p"]["type"] == "object"
    assert schema["properties"]["p"]["properties"]["x"] == {"title": "X", "type": "integer"}
    assert schema["properties"]["o"] == {"anyOf": [{"type": "number"}, {"type": "null"}]}


# -- point 1: source ---------------------------------------------------------------


def test_last_expression_is_the_result_and_source_is_dedented() -> None:
    t = at.orchestrator_from_str(
        """
        total = 0
        for i in range(n):
            total += i
        total
        """,
        inputs={"n": int},
        output=int,
    )
    assert t(n=5) == 10


def test_empty_source_gives_none_and_no_inputs_are_needed() -> None:
    assert at.orchestrator_from_str("", inputs={})() is None
    assert at.orchestrator_from_str("   \n  ", inputs={})() is None
    assert at.orchestrator_from_str("x = 1", inputs={})() is None
    assert at.orchestrator_from_str("41 + 1", inputs={}, output=int)() == 42


async def test_orchestrate_local() -> None:
    assert await at.orchestrate_local("add(x, y) * 2", inputs={"x": 1, "y": 2}, tasks=[add]) == 6
    assert await at.orchestrate_local("[1, 2]", inputs={}) == [1, 2]


async def test_aio_and_execute() -> None:
    t = at.orchestrator_from_str("add(x, y)", inputs={"x": int, "y": int}, output=int, tasks=[add])
    assert await t.aio(1, 2) == 3
    assert await t.execute(x=2, y=2) == 4
    results = await asyncio.gather(*(t.aio(i, i) for i in range(10)))
    assert results == [2 * i for i in range(10)]


# -- point 2: types ------------------------------------------------------------------

ROUND_TRIP: list[tuple[Any, Any]] = [
    (int, 7),
    (float, 2.5),
    (str, "héllo"),
    (bool, True),
    (bytes, b"\x00\xff"),
    (type(None), None),
    (list, [1, "a", None]),
    (list[int], [1, 2]),
    (dict[str, list[int]], {"a": [1], "b": []}),
    (tuple[int, str], (1, "a")),
    (tuple[int, ...], (1, 2, 3)),
    (set[int], {1, 2}),
    (frozenset[str], frozenset({"a"})),
    (Optional[int], None),
    (Union[int, str], "x"),
    (int | None, 3),
    (Any, {"k": (1, 2)}),
]


@pytest.mark.parametrize(("tp", "value"), ROUND_TRIP, ids=[repr(tp) for tp, _ in ROUND_TRIP])
def test_supported_types_round_trip(tp: Any, value: Any) -> None:
    t = at.orchestrator_from_str("v", inputs={"v": tp}, output=tp)
    assert t(v=value) == value


def test_models_dataclasses_and_typeddicts_cross_as_dicts() -> None:
    t = at.orchestrator_from_str(
        """
        seen = (type(p).__name__, type(b).__name__, type(i).__name__)
        {"x": p["x"] + 1, "y": p["y"] + len(seen)}
        """,
        inputs={"p": Point, "b": Box, "i": Item},
        output=Point,
    )
    out = t(p=Point(x=1, y=2), b=Box("a", 1.0), i={"name": "n", "qty": 1})
    assert out == Point(x=2, y=5)
    back = at.orchestrator_from_str("b", inputs={"b": Box}, output=Box)(b=Box("z", 2.0))
    assert back == Box("z", 2.0)
    items = at.orchestrator_from_str("[i, i]", inputs={"i": Item}, output=list[Item])
    assert items(i={"name": "n", "qty": 2}) == [{"name": "n", "qty": 2}] * 2


class NotData:
    pass


@pytest.mark.parametrize(
    ("tp", "shown"),
    [(NotData, "NotData"), (list[NotData], "NotData"), (complex, "complex"), (type, "type")],
)
def test_unsupported_types_are_rejected_when_the_template_is_made(tp: Any, shown: str) -> None:
    with pytest.raises(TypeError, match=rf"input 'v': unsupported type .*{shown}"):
        at.orchestrator_from_str("v", inputs={"v": tp})
    with pytest.raises(TypeError, match=rf"output 'o0': unsupported type .*{shown}"):
        at.orchestrator_from_str("1", inputs={}, output=tp)


# -- point 3: values -------------------------------------------------------------------

BAD_INPUTS: list[tuple[dict[str, Any], list[str]]] = [
    ({}, ["missing input 'x' of type int", "missing input 'names' of type list[str]"]),
    ({"x": 1, "names": [], "z": 3}, ["unknown input 'z' (declared: x, names)"]),
    ({"x": "1", "names": []}, ["input 'x': Input should be a valid integer (got '1') (expected int)"]),
    ({"x": 1.5, "names": []}, ["input 'x': Input should be a valid integer"]),
    ({"x": True, "names": []}, ["input 'x': Input should be a valid integer"]),
    ({"x": 1, "names": ["a", 2]}, ["input 'names'[1]: Input should be a valid string (got 2)"]),
    ({"x": 1, "names": "ab"}, ["input 'names': Input should be a valid list"]),
    ({"x": None, "names": None}, ["input 'x'", "input 'names'"]),
]


@pytest.mark.parametrize(("inputs", "expected"), BAD_INPUTS)
def test_bad_inputs_are_rejected_before_any_sandbox_work(inputs: dict[str, Any], expected: list[str]) -> None:
    calls: list[int] = []

    def spy(n: int) -> int:
        calls.append(n)
        return n

    t = at.orchestrator_from_str("spy(x)", inputs={"x": int, "names": list[str]}, output=int, tasks=[spy])
    with pytest.raises(at.InputValidationError) as info:
        t(**inputs)
    text = str(info.value)
    for piece in expected:
        assert piece in text
    assert len(info.value.problems) >= len(expected)
    assert calls == []


def test_too_many_positional_and_duplicates() -> None:
    t = at.orchestrator_from_str("x", inputs={"x": int}, output=int)
    with pytest.raises(at.InputValidationError, match="2 positional values given, but only 1"):
        t(1, 2)
    with pytest.raises(at.InputValidationError, match="'x' given both by position and by name"):
        t(1, x=2)


def test_output_is_validated_and_the_error_shows_the_value() -> None:
    t = at.orchestrator_from_str("{'x': 1, 'y': 'nope'}", inputs={}, output=Point)
    with pytest.raises(
        at.OutputValidationError, match=r"result\['y'\]: Input should be a valid integer.*'nope'"
    ):
        t()
    with pytest.raises(at.OutputValidationError, match=r"returned \[1, 2\], but the task declares no output"):
        at.orchestrator_from_str("[1, 2]", inputs={})()
    assert at.orchestrator_from_str("'3'", inputs={}, output=str)() == "3"


def test_max_inline_io_bytes_caps_inputs_and_output() -> None:
    t = at.orchestrator_from_str("s * k", inputs={"s": str, "k": int}, output=str, max_inline_io_bytes=1000)
    assert t(s="ab", k=10) == "ab" * 10
    with pytest.raises(at.InputValidationError, match="over max_inline_io_bytes=1000"):
        t(s="a" * 2000, k=1)
    with pytest.raises(
        at.OutputValidationError, match=r"inputs plus output take \d+ bytes, over max_inline_io_bytes=1000"
    ):
        t(s="a" * 100, k=20)


def test_run_record() -> None:
    t = at.orchestrator_from_str(
        """
        print("start", x)
        a = add(x, 1)
        try:
            add(x, "oops")
        except TypeError:
            pass
        print("done")
        add(a, a)
        """,
        inputs={"x": int},
        output=int,
        tasks=[add],
    )
    rec = at.run(t, x=1)
    assert isinstance(rec, at.RunRecord)
    assert rec.result == 4
    assert rec.stdout == "start 1\ndone\n"
    assert [(c.function, c.args, c.kwargs) for c in rec.calls] == [
        ("add", (1, 1), {}),
        ("add", (1, "oops"), {}),
        ("add", (2, 2), {}),
    ]
    assert [c.result for c in rec.calls] == [2, None, 4]
    assert rec.calls[0].ok and not rec.calls[1].ok
    assert isinstance(rec.calls[1].error, TypeError)
    assert all(c.duration >= 0 for c in rec.calls)
    assert rec.duration > 0 and rec.attempts == 1 and rec.cached is False


def test_failed_run_keeps_its_record() -> None:
    t = at.orchestrator_from_str("print('before')\nadd(1, 2)\n1 / 0", inputs={}, output=int, tasks=[add])
    with pytest.raises(at.SandboxRuntimeError) as info:
        t()
    rec = info.value.record
    assert rec is not None
    assert rec.stdout == "before\n" and [c.result for c in rec.calls] == [3]
    assert rec.errors == [info.value]
