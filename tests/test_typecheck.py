"""Pre-flight type check (point 9): wrong calls fail before any host function runs."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

import agent_tools as at
from agent_tools.sandbox.functions import build_stubs, register


class Query(pydantic.BaseModel):
    text: str


def search(query: Query, limit: int = 5) -> list[dict[str, Any]]:
    """Search documents."""
    return [{"text": query.text, "rank": i} for i in range(limit)]


def send_email(to: str, body: str) -> bool:
    return True


def checked(code: str, calls: list[str]) -> at.CodeTaskTemplate:
    def log(name: str) -> None:
        calls.append(name)

    return at.orchestrator_from_str(
        code,
        inputs={},
        output=Any,
        tasks=[search, send_email, log],
        plugin_config=at.SandboxedConfig(type_check=True),
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("log('start')\nsend_email('a@b.c', 42)", "invalid-argument-type"),
        ("log('start')\nsend_email(to='a@b.c', text='hi')", "unknown-argument"),
        ("log('start')\nsend_mail('a@b.c', 'hi')", "unresolved-reference"),
        ("log('start')\nsearch({'text': 'x'}, limit='3')", "invalid-argument-type"),
    ],
)
def test_wrong_calls_fail_before_any_host_call(code: str, expected: str) -> None:
    calls: list[str] = []
    with pytest.raises(at.TypeCheckError) as info:
        checked(code, calls)()
    assert calls == []  # nothing ran, not even the first line
    assert expected in info.value.diagnostics
    assert info.value.line == 2
    assert "> 2 |" in str(info.value)


def test_valid_code_passes_the_check() -> None:
    calls: list[str] = []
    t = checked("log('a')\nr = search({'text': 'q'}, limit=2)\n[x['rank'] for x in r]", calls)
    assert t() == [0, 1]
    assert calls == ["a"]


def test_stubs_describe_the_registered_functions() -> None:
    stubs = build_stubs(register([search, send_email]))
    assert "class Query(TypedDict):\n    text: str\n" in stubs
    assert stubs.index("class Query(") < stubs.index("def search(")
    assert "def search(query: Query, limit: int = 5) -> list[dict[str, Any]]:" in stubs
    assert '"""Search documents."""' in stubs
    assert "def send_email(to: str, body: str) -> bool: ..." in stubs
    assert "def parallel_map(" in stubs


def test_a_syntax_error_under_the_type_check_is_a_syntax_error() -> None:
    with pytest.raises(at.SandboxSyntaxError) as info:
        checked("x = 1 +", [])()
    assert info.value.line == 1 and "type" not in str(info.value).lower()


@pytest.mark.parametrize(
    ("code", "hint_piece"),
    [
        ("import heapq", "`heapq` is not available"),
        ("import string", "that module is not available"),
        ("send_mail('a', 'b')", "call one of the registered functions"),
        ("send_email('a', 2)", "fix the call to match the function's signature"),
    ],
)
def test_type_check_hints_match_the_complaint(code: str, hint_piece: str) -> None:
    with pytest.raises(at.TypeCheckError) as info:
        checked(code, [])()
    assert info.value.hint is not None and hint_piece in info.value.hint


def test_checker_complaints_that_valid_code_survives_do_not_block() -> None:
    # ty flags `best["rank"]` (best may be None); the code is correct, so it runs.
    code = """
    best = None
    for row in search({'text': 'q'}, limit=3):
        if best is None or row['rank'] > best['rank']:
            best = row
    best['rank']
    """
    assert checked(code, [])() == 2


@pytest.mark.parametrize(
    ("code", "inputs", "values", "expected"),
    [
        ("x + 1", {"x": int}, {"x": 1}, 2),
        ("len(xs) + n", {"xs": list[int], "n": int}, {"xs": [1, 2], "n": 1}, 3),
        ("d['a'] * 2", {"d": dict[str, int]}, {"d": {"a": 5}}, 10),
        ("s.upper()", {"s": str}, {"s": "ab"}, "AB"),
    ],
)
def test_the_type_check_knows_the_inputs(
    code: str, inputs: dict[str, Any], values: dict[str, Any], expected: Any
) -> None:
    config = at.SandboxedConfig(type_check=True)
    template = at.orchestrator_from_str(code, inputs=inputs, output=Any, plugin_config=config)
    assert template(**values) == expected
    assert all(f"{name}:" in template.type_check_stubs for name in inputs)
