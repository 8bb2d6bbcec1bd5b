"""Every grader kind passes the right answer and fails a wrong one."""

from __future__ import annotations

from typing import Any

import pytest

from evals.graders import grade, parse_answer
from evals.schema import Grader

CASES: list[tuple[str, Any, str, str, str]] = [
    # kind, expected, a right answer, a wrong answer, a piece of the failure reason
    ("exact", "Ada Lovelace", '"Ada Lovelace"', "Grace Hopper", "expected"),
    ("exact", "Ada Lovelace", "Ada Lovelace", "Ada", "expected"),
    ("exact", 42, "42", "43", "expected 42"),
    ("numeric", 3.14159, "The answer is 3.1416", "3.2", "expected 3.14159"),
    ("numeric", 1200, "1,200", "no idea", "no number"),
    ("set", ["a", "b", "c"], '["c", "a", "b"]', '["a", "b"]', "expected"),
    ("set", ["a", "b"], '```json\n["b", "a"]\n```', "a, b", "expected a JSON list"),
    ("list", ["x", "y"], '["x", "y"]', '["y", "x"]', "expected"),
    (
        "json_subset",
        {"name": "Ada", "total": 12.5},
        '{"name": "Ada", "total": 12.5, "n": 3}',
        '{"name": "Ada"}',
        "$.total: missing",
    ),
    (
        "json_subset",
        {"items": [{"id": 1}]},
        '{"items": [{"id": 1, "q": 2}]}',
        '{"items": [{"id": 2}]}',
        "$.items[0].id",
    ),
    ("contains", ["Paris", "sunny"], "In paris it is Sunny today.", "Paris is rainy", "['sunny']"),
    ("contains", "42", "It is 42.", "It is 41.", "does not contain"),
]


@pytest.mark.parametrize(("kind", "expected", "right", "wrong", "reason"), CASES)
def test_grader_passes_right_and_fails_wrong(
    kind: str, expected: Any, right: str, wrong: str, reason: str
) -> None:
    grader = Grader(kind=kind, tolerance=0.001 if kind == "numeric" else 1e-6)  # type: ignore[arg-type]
    assert grade(grader, expected, right) == (True, "ok")
    passed, why = grade(grader, expected, wrong)
    assert passed is False
    assert reason in why


def test_every_grader_kind_is_covered() -> None:
    assert {c[0] for c in CASES} == {"exact", "numeric", "set", "list", "json_subset", "contains"}


def test_parse_answer() -> None:
    assert parse_answer(' {"a": 1} ') == {"a": 1}
    assert parse_answer("```json\n[1, 2]\n```") == [1, 2]
    assert parse_answer("plain text") == "plain text"
