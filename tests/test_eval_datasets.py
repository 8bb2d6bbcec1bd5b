"""The eval datasets are right: each task's reference program, run in the sandbox over its
domain's functions, gives the expected answer; its reference plan's calls run (and fail
where the plan says they fail); and the datasets as a whole meet the harness's requirements."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

import agent_tools as at
from evals.domains import domain_function_names, functions_for
from evals.harness import offered_functions
from evals.schema import TAGS, Task, load_datasets

TASKS: list[Task] = load_datasets()
DOMAINS = sorted({t.domain for t in TASKS})
GRADER_KINDS = ("exact", "numeric", "set", "list", "json_subset", "contains")
MANY_CALLS = 10


def _canonical(value: Any) -> Any:
    """JSON-like equality: tuples are lists, and 1 == 1.0 already holds."""
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    return value


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _subset(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_subset(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, float) or isinstance(actual, float):
        return isinstance(actual, (int, float)) and abs(actual - expected) <= 1e-6
    return bool(expected == actual)


def matches(task: Task, value: Any) -> bool:
    """Whether a reference program's `value` is the task's expected answer, by its grader's kind."""
    expected, kind = task.expected, task.grader.kind
    value = _canonical(value)
    if kind == "exact":
        return bool(value == expected)
    if kind == "numeric":
        return isinstance(value, (int, float)) and abs(value - expected) <= task.grader.tolerance
    if kind == "set":
        return isinstance(value, list) and sorted(map(repr, value)) == sorted(map(repr, expected))
    if kind == "list":
        return bool(value == expected)
    if kind == "json_subset":
        return _subset(expected, value)
    needles = [expected] if isinstance(expected, str) else list(expected)
    return all(str(n).lower() in str(value).lower() for n in needles)


def _run_reference(task: Task) -> at.RunRecord:
    fns = functions_for(task.domain, task.functions)
    template = at.orchestrator_from_str(task.reference_program, inputs={}, output=Any, tasks=fns)
    return at.run(template)


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_reference_program_gives_expected(task: Task) -> None:
    record = _run_reference(task)
    assert matches(task, record.result), f"{task.id}: got {record.result!r}, expected {task.expected!r}"
    if task.plan_calls >= MANY_CALLS:
        assert len(record.calls) >= MANY_CALLS, f"{task.id}: only {len(record.calls)} host calls"


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_reference_program_via_template_call(task: Task) -> None:
    """The plain `template()` call returns the same value as the recorded run."""
    fns = functions_for(task.domain, task.functions)
    template = at.orchestrator_from_str(task.reference_program, inputs={}, output=Any, tasks=fns)
    assert matches(task, template())


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_reference_plan_executes(task: Task) -> None:
    fns = dict(zip(task.functions, functions_for(task.domain, task.functions), strict=True))
    for turn_index, turn in enumerate(task.reference_plan):
        for call in turn:
            where = f"{task.id} turn {turn_index}: {call.tool}({call.args})"
            if call.expect_error:
                with pytest.raises(Exception):  # noqa: B017 - any failure the plan expects
                    fns[call.tool](**call.args)
            else:
                try:
                    fns[call.tool](**call.args)
                except Exception as exc:
                    pytest.fail(f"{where} raised {exc!r}")


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_task_is_well_formed(task: Task) -> None:
    assert task.id.startswith(f"{task.domain}-")
    assert task.tags and set(task.tags) <= TAGS
    assert task.reference_plan and all(task.reference_plan), "every turn makes at least one call"
    assert len(set(task.functions)) == len(task.functions)
    if "error-recovery" in task.tags:
        assert any(c.expect_error for turn in task.reference_plan for c in turn)
    if "single-call" in task.tags:
        assert task.plan_calls == 1
    if task.grader.kind in ("set", "list"):
        assert isinstance(task.expected, list)
    if task.grader.kind == "json_subset":
        assert isinstance(task.expected, (dict, list))


def test_enough_tasks_and_domains() -> None:
    assert len(TASKS) >= 40
    assert len(DOMAINS) >= 6


def test_every_grader_kind_used_twice() -> None:
    for kind in GRADER_KINDS:
        assert sum(t.grader.kind == kind for t in TASKS) >= 2, kind


def test_every_tag_used_three_times() -> None:
    for tag in TAGS:
        assert sum(tag in t.tags for t in TASKS) >= 3, tag


def test_a_quarter_of_tasks_need_many_calls() -> None:
    many = [t.id for t in TASKS if t.plan_calls >= MANY_CALLS]
    assert 4 * len(many) >= len(TASKS), many


def test_every_named_function_exists_in_its_domain() -> None:
    for task in TASKS:
        available = importlib.import_module(f"evals.domains.{task.domain}").make_functions()
        missing = set(task.functions) - set(available)
        assert not missing, f"{task.id}: {sorted(missing)}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_domain_functions_are_documented_and_typed(domain: str) -> None:
    fns = importlib.import_module(f"evals.domains.{domain}").make_functions()
    for name, fn in fns.items():
        assert fn.__name__ == name
        assert fn.__doc__ and fn.__doc__.strip(), name
        assert "return" in fn.__annotations__, name


def test_flaky_supplier_state_is_per_run() -> None:
    from evals.domains.inventory import FLAKY_SKUS

    sku = sorted(FLAKY_SKUS)[0]
    for _ in range(2):
        (quote,) = functions_for("inventory", ["supplier_quote"])
        with pytest.raises(TimeoutError):
            quote(sku)
        assert quote(sku)["sku"] == sku


def test_calendar_bookings_are_per_run() -> None:
    book, meetings = functions_for("calendar", ["book_meeting", "get_meetings"])
    before = len(meetings("judy", "2024-09-09"))
    book("Focus", ["judy"], "2024-09-09", "09:00", "09:30")
    assert len(meetings("judy", "2024-09-09")) == before + 1
    (fresh,) = functions_for("calendar", ["get_meetings"])
    assert len(fresh("judy", "2024-09-09")) == before


LARGE_CATALOG = 100


def test_a_domain_has_a_catalog_of_over_100_functions() -> None:
    """The large-catalog domain: 100+ typed, documented functions, every parameter annotated."""
    names = domain_function_names("enterprise")
    assert len(names) >= LARGE_CATALOG and len(set(names)) == len(names)
    for fn in functions_for("enterprise", names):
        signature = inspect.signature(fn)
        assert all(p.annotation is not p.empty for p in signature.parameters.values()), fn.__name__
        assert signature.return_annotation is not signature.empty, fn.__name__
        assert fn.__doc__ and fn.__doc__.splitlines()[0].strip(), fn.__name__


def test_large_catalog_tasks_offer_the_whole_domain() -> None:
    large = [t for t in TASKS if t.catalog == "domain"]
    assert len(large) >= 5 and {t.domain for t in large} == {"enterprise"}
    for task in large:
        offered = offered_functions(task)
        assert len(offered) >= LARGE_CATALOG and set(task.functions) <= set(offered)
    small = next(t for t in TASKS if t.catalog == "task")
    assert offered_functions(small) == small.functions


@pytest.mark.parametrize(
    "task", [t for t in TASKS if t.catalog == "domain"], ids=[t.id for t in TASKS if t.catalog == "domain"]
)
def test_reference_program_over_the_whole_catalog(task: Task) -> None:
    """What the agent gets is the whole catalog: the reference program gives the answer there too."""
    fns = functions_for(task.domain, offered_functions(task))
    template = at.orchestrator_from_str(task.reference_program, inputs={}, output=Any, tasks=fns)
    record = at.run(template)
    assert matches(task, record.result), f"{task.id}: got {record.result!r}, expected {task.expected!r}"
    assert {c.function for c in record.calls} <= set(task.functions)


def test_enterprise_data_is_deterministic() -> None:
    import evals.domains.enterprise as enterprise

    before = enterprise.DATA
    again = importlib.reload(enterprise).DATA
    assert again == before and len(again["employees"]) == 200
