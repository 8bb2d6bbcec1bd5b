from __future__ import annotations

from typing import Any

import pydantic_core
import pytest

import agent_tools as at
from agent_tools.interface import io_size, to_plain


@pytest.mark.parametrize(
    "value",
    [None, True, 3, -(10**14), 2.5, {"a": 1, "bb": None, "c": 1.5e300}, {}, "x" * 10, [1, {"a": b"\xff"}]],
)
def test_io_size_never_underestimates(value: Any) -> None:
    assert io_size(value) >= len(pydantic_core.to_json(value, bytes_mode="base64"))


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
