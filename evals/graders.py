"""Grading an agent's final answer against a task's expected value.

The agent answers in text. Each grader kind reads that text the way its kind
needs (JSON where it can, a number for `numeric`) and says why it failed; the
`AnswerGrader` evaluator wraps it for pydantic-evals.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext

from .schema import Grader

__all__ = ["AnswerGrader", "grade", "parse_answer"]

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?|-?\.\d+")
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_answer(text: str) -> Any:
    """The answer as a Python value: JSON when it parses (a fenced block too), else
    the stripped text."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return json.loads(stripped)
    except ValueError:
        return stripped


def _first_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _NUMBER.search(str(value))
    if match is None:
        return None
    return float(match.group(0).replace(",", ""))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _subset(expected: Any, actual: Any, path: str = "$") -> str | None:
    """None when `expected` is contained in `actual`, else where it differs."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {_canonical(actual)[:80]}"
        for key, value in expected.items():
            if key not in actual:
                return f"{path}.{key}: missing"
            if (why := _subset(value, actual[key], f"{path}.{key}")) is not None:
                return why
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{path}: expected a list of {len(expected)}, got {_canonical(actual)[:80]}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            if (why := _subset(e, a, f"{path}[{i}]")) is not None:
                return why
        return None
    if isinstance(expected, float) or isinstance(actual, float):
        number = _first_number(actual)
        if number is not None and not isinstance(expected, bool) and isinstance(expected, (int, float)):
            return (
                None
                if math.isclose(number, expected, rel_tol=1e-9, abs_tol=1e-6)
                else f"{path}: {actual} != {expected}"
            )
    return None if expected == actual else f"{path}: {_canonical(actual)[:80]} != {_canonical(expected)[:80]}"


def grade(grader: Grader, expected: Any, answer: str) -> tuple[bool, str]:
    """(passed, reason): the reason says what was wrong, or "ok"."""
    value = parse_answer(answer)
    kind = grader.kind
    if kind == "exact":
        if value == expected or (isinstance(expected, str) and str(value).strip() == expected.strip()):
            return True, "ok"
        return False, f"expected {_canonical(expected)[:120]}, got {_canonical(value)[:120]}"
    if kind == "numeric":
        number = _first_number(value)
        target = _first_number(expected)
        if number is None or target is None:
            return False, f"no number in the answer {answer[:120]!r}"
        if abs(number - target) <= grader.tolerance:
            return True, "ok"
        return False, f"expected {target} (tolerance {grader.tolerance}), got {number}"
    if kind in ("set", "list"):
        if not isinstance(value, list):
            return False, f"expected a JSON list, got {answer[:120]!r}"
        if kind == "set":
            got, want = sorted(map(_canonical, value)), sorted(map(_canonical, expected))
            same = got == want
        else:
            same = [_canonical(v) for v in value] == [_canonical(v) for v in expected]
        return (
            (True, "ok")
            if same
            else (False, f"expected {_canonical(expected)[:120]}, got {_canonical(value)[:120]}")
        )
    if kind == "json_subset":
        why = _subset(expected, value)
        return (True, "ok") if why is None else (False, why)
    needles = [expected] if isinstance(expected, str) else [str(e) for e in expected]
    text = answer.lower()
    missing = [n for n in needles if n.lower() not in text]
    return (True, "ok") if not missing else (False, f"the answer does not contain {missing}")


@dataclass
class AnswerGrader(Evaluator[Any, Any, Any]):
    """pydantic-evals evaluator: the case's metadata carries the task's `Grader`."""

    def evaluate(self, ctx: EvaluatorContext[Any, Any, Any]) -> EvaluationReason:
        grader = Grader.model_validate(ctx.metadata["grader"]) if ctx.metadata else Grader(kind="exact")
        answer = ctx.output if isinstance(ctx.output, str) else json.dumps(ctx.output)
        passed, reason = grade(grader, ctx.expected_output, answer)
        return EvaluationReason(value=passed, reason=reason)
