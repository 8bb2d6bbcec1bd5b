from __future__ import annotations

from typing import Any

import pydantic_core
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agent_tools as at
from agent_tools.boundary.interface import to_plain  # pyright: ignore[reportPrivateUsage]
from agent_tools.boundary.measure import _walk_size, io_size


@pytest.mark.parametrize(
    "value",
    [None, True, 3, -(10**14), 2.5, {"a": 1, "bb": None, "c": 1.5e300}, {}, "x" * 10, [1, {"a": b"\xff"}]],
)
def test_io_size_never_underestimates(value: Any) -> None:
    assert io_size(value) >= len(pydantic_core.to_json(value, bytes_mode="base64"))


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(_JSON_VALUES)
def test_the_slow_measure_never_underestimates_either(value: Any) -> None:
    assert _walk_size(value) >= len(pydantic_core.to_json(value, bytes_mode="base64"))


def test_values_the_encoder_refuses_are_still_measured() -> None:
    deep: list[Any] = []
    for _ in range(300):
        deep = [deep]
    assert io_size(deep) >= 600
    assert io_size({frozenset({1}): "v"}) >= len('{"frozenset({1})":"v"}') - 10
    with pytest.raises(ValueError, match="lone surrogate at position 2"):
        io_size(["ab\ud800"])
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert io_size(cyclic) > 0


def test_to_plain_refuses_objects_and_cycles() -> None:
    with pytest.raises(TypeError, match="value of type object cannot cross"):
        to_plain({"a": [object()]})
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(TypeError, match="cyclic or nested too deeply"):
        to_plain(cyclic)


def test_interface_rejects_bad_shapes() -> None:
    with pytest.raises(TypeError, match="inputs must be a dict"):
        at.orchestrator_from_str("1", inputs=[("x", int)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a Python identifier"):
        at.orchestrator_from_str("1", inputs={"not valid": int})
