from __future__ import annotations

import pytest

from agent_tools.sandbox.source import GATHER_BUILTIN, dedent_source, prepare_source


def test_dedent_and_strip() -> None:
    assert dedent_source("\n    x = 1\n    x + 1\n   \n") == "x = 1\nx + 1"


def test_source_must_be_str() -> None:
    with pytest.raises(TypeError, match="source must be a str"):
        dedent_source(b"1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("x = await f(1)", "x =       f(1)"),
        ("await f(1)", "0 or  f(1)"),
        ("if c:\n    await f(1)", "if c:\n    0 or  f(1)"),
        ("y = (await(f(2)))", "y = (     (f(2)))"),
        ("await g(1)", "await g(1)"),  # not registered: left alone
        ("r = await asyncio.gather(f(1), f(2))", f"r =       {GATHER_BUILTIN}(f(1), f(2))"),
        ("r = await asyncio.gather(f(1), h(2))", "r = await asyncio.gather(f(1), h(2))"),
        ("x = 1 +", "x = 1 +"),  # syntax errors are Monty's to report
    ],
)
def test_await_rewrite_keeps_positions(code: str, expected: str) -> None:
    out = prepare_source(code, {"f"})
    assert out == expected
    assert [len(line) for line in out.splitlines()] == [len(line) for line in code.splitlines()]


def test_await_rewrite_handles_non_ascii() -> None:
    code = "s = 'é'; x = await f(s)"
    assert prepare_source(code, {"f"}) == "s = 'é'; x =       f(s)"
