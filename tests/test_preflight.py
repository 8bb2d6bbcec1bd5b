"""The pre-flight check (`agent_tools.sandbox.preflight`): its facts about Monty hold for
the installed Monty; it refuses every wrong program of the corpus before any host call,
with the right rule and line; it refuses no correct program (the corpus's and the eval
datasets' reference programs); its errors point into the code as written; and in a kept
session it knows what earlier successful runs defined, and only that."""

from __future__ import annotations

import builtins
import importlib
import keyword
import sys
from typing import Any

import pydantic_monty
import pytest

import agent_tools as at
from agent_tools.sandbox.builtin_names import SHADOWING_BUILTINS
from agent_tools.sandbox.functions import register
from agent_tools.sandbox.preflight import MONTY_BUILTINS, MONTY_MODULE_NAMES, MONTY_MODULES, check_code
from agent_tools.sandbox.source import prepare_source, wrap_map_iterables
from agent_tools.tool.capabilities import _missing, _raising  # pyright: ignore[reportPrivateUsage]
from evals.domains import functions_for
from evals.schema import Task, load_datasets

from .preflight_corpus import SUBTLE, VALID, WRONG, Host, Subtle, Valid, Wrong

FUNCTIONS = register(Host().functions())


def template(
    code: str, host: Host, *, preflight: bool = True, inputs: dict[str, Any] | None = None
) -> at.CodeTaskTemplate:
    return at.orchestrator_from_str(
        code,
        inputs=inputs or {},
        output=Any,
        tasks=host.functions(),
        plugin_config=at.SandboxedConfig(preflight=preflight),
    )


def refused(code: str, host: Host | None = None) -> at.TypeCheckError:
    """The error the fast check refuses `code` with; asserts that nothing ran."""
    host = host or Host()
    with pytest.raises(at.TypeCheckError) as info:
        template(code, host)()
    assert host.calls == [], f"host calls were made before the refusal: {host.calls}"
    return info.value


def first_rule(error: at.TypeCheckError) -> str:
    first = error.diagnostics.splitlines()[0]
    return first.split("error[", 1)[1].split("]", 1)[0]


def column_of(code: str, line: int, text: str) -> int:
    """1-based character column of `text` on 1-based `line` of `code`."""
    return code.split("\n")[line - 1].index(text) + 1


# -- facts about the installed Monty -------------------------------------------------------


def _undefined(session: pydantic_monty.MontySession, names: list[str]) -> list[str]:
    """Of `names`, those that are not defined in the sandbox (NameError), in one run."""
    body = "".join(f"try:\n    {n}\nexcept NameError:\n    out.append({n!r})\n" for n in names)
    return session.feed_run("out = []\n" + body + "out")


def _not_importable(session: pydantic_monty.MontySession, modules: list[str]) -> list[str]:
    """Of `modules`, those whose import fails (ImportError), in one run."""
    body = "".join(f"try:\n    import {m}\nexcept ImportError:\n    out.append({m!r})\n" for m in modules)
    return session.feed_run("out = []\n" + body + "out")


@pytest.fixture(scope="module")
def monty() -> Any:
    with pydantic_monty.Monty() as pool:
        yield pool


def test_every_name_in_monty_builtins_is_defined_in_the_sandbox(monty: Any) -> None:
    with monty.checkout() as session:
        assert _undefined(session, sorted(MONTY_BUILTINS)) == []


def test_every_other_public_builtin_of_python_is_undefined_in_the_sandbox(monty: Any) -> None:
    others = sorted(n for n in dir(builtins) if not n.startswith("_") and n not in MONTY_BUILTINS)
    assert len(others) > 20 and "callable" in others and "ConnectionError" in others
    with monty.checkout() as session:
        assert _undefined(session, others) == others


def _reached(session: pydantic_monty.MontySession, names: list[str]) -> list[str]:
    """Of `names`, those whose call `name("7")` reaches a host function registered under
    that name (rather than a builtin of the sandbox), in one run."""
    reached: list[str] = []

    def host(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> None:
            reached.append(name)

        return call

    body = "".join(f"try:\n    {n}('7')\nexcept BaseException:\n    pass\n" for n in names)
    session.feed_run(
        body + "None",
        external_lookup={n: host(n) for n in names},
        print_callback=lambda *args: None,
        skip_type_check=True,
    )
    return reached


def test_a_host_function_named_like_a_monty_builtin_is_never_reached(monty: Any) -> None:
    """Why `register` refuses these names and schema-named tools get `_` after them:
    the code's call reaches Monty's builtin, never the registered function."""
    names = sorted(SHADOWING_BUILTINS)
    assert {"round", "sum", "len", "max", "print", "format", "id", "type"} <= set(names)
    with monty.checkout() as session:
        assert _reached(session, names) == []


def test_a_host_function_named_like_a_python_builtin_monty_lacks_is_reached(monty: Any) -> None:
    """The refusal is no broader than Monty's builtins: other builtin names of Python
    are free for registered functions."""
    others = sorted(
        n
        for n in dir(builtins)
        if n.isidentifier() and not keyword.iskeyword(n) and not n.startswith("_") and n not in MONTY_BUILTINS
    )
    assert {"callable", "input", "vars", "ConnectionError"} <= set(others)
    with monty.checkout() as session:
        assert _reached(session, others) == others
    assert not SHADOWING_BUILTINS & set(others)


def test_every_module_in_monty_modules_imports(monty: Any) -> None:
    with monty.checkout() as session:
        assert _not_importable(session, sorted(MONTY_MODULES)) == []


def test_every_other_stdlib_module_fails_to_import(monty: Any) -> None:
    others = sorted(m for m in sys.stdlib_module_names if m not in MONTY_MODULES)
    assert "heapq" in others and "statistics" in others
    with monty.checkout() as session:
        assert _not_importable(session, others) == others


def test_monty_module_names_are_what_each_module_has(monty: Any) -> None:
    """Both ways: every listed name imports, and every other public name of CPython's
    module does not, so the pre-flight check refuses only what really fails."""
    assert set(MONTY_MODULE_NAMES) == MONTY_MODULES - {"os"}
    for module, listed in MONTY_MODULE_NAMES.items():
        python = sorted(n for n in dir(importlib.import_module(module)) if not n.startswith("_"))
        others = [n for n in python if n not in listed]
        with monty.checkout() as session:  # the snippets the capability sheet's claims use
            assert session.feed_run(_missing(module, sorted(listed))) == [], module
        with monty.checkout() as session:
            assert session.feed_run(_missing(module, others)) == others, module
        with monty.checkout() as session:  # nor is any of them an attribute of the module
            attributes = [f"{module}.{n}" for n in others]
            assert session.feed_run(_raising(attributes, "AttributeError", f"import {module}")) == attributes


@pytest.mark.parametrize(
    ("code", "member", "rule"),
    [
        ("from typing import TypedDict, cast", "TypedDict", "unresolved-import"),
        ("from collections import OrderedDict", "OrderedDict", "unresolved-import"),
        ("from functools import cmp_to_key", "cmp_to_key", "unresolved-import"),
        ("from dataclasses import dataclass, asdict", "asdict", "unresolved-import"),
        ("from json import JSONDecoder", "JSONDecoder", "unresolved-import"),
        (
            "import asyncio\nasync def f():\n    return 1\nasyncio.create_task(f())",
            "create_task",
            "unresolved-attribute",
        ),
        ("import collections\nseen = collections.OrderedDict()", "OrderedDict", "unresolved-attribute"),
        (
            "import functools as ft\nkey = ft.cmp_to_key(lambda a, b: a - b)",
            "cmp_to_key",
            "unresolved-attribute",
        ),
    ],
)
def test_a_name_the_sandbox_module_lacks_is_refused_before_any_call(
    code: str, member: str, rule: str
) -> None:
    host = Host()
    error = refused(f"log('start')\n{code}", host)
    assert host.calls == []
    assert f"error[{rule}] Module" in error.diagnostics
    assert f"has no member `{member}` in the sandbox" in error.message
    assert error.hint is not None and error.hint.startswith("nothing ran") and "it has:" in error.hint


@pytest.mark.parametrize(
    "code",
    [
        "import collections as c\nc.Counter('ab')['a']",
        # rebound: from here on `datetime` is the class
        "import datetime\nfrom datetime import datetime\ndatetime.fromisoformat('2024-01-01').year",
        "import json\ntry:\n    json.JSONDecoder\nexcept AttributeError:\n    pass\n1",  # ready for it
        "import math\nmath.tau > 6",
        "def f(json):\n    return json.JSONDecoder\nimport json\n1",  # a parameter shadows the module
    ],
)
def test_members_the_sandbox_has_or_that_are_not_the_module_pass(code: str) -> None:
    assert check_code(code, {}) == []


@pytest.mark.parametrize(
    "code",
    [
        "from typing import Any, Dict, List, Optional, Union",
        "from collections import Counter, defaultdict, deque, namedtuple",
        "from functools import lru_cache, partial, reduce",
        "from os.path import join",
        "from datetime import date, datetime, timedelta, timezone",
    ],
)
def test_names_the_sandbox_modules_have_pass(code: str) -> None:
    assert check_code(f"{code}\n1", {}) == []


# -- the corpus -------------------------------------------------------------------------------


def test_the_corpus_is_big_and_covers_every_rule() -> None:
    assert len(WRONG) >= 45 and len(VALID) >= 25
    assert len({w.label for w in WRONG}) == len(WRONG)
    assert len({v.label for v in VALID}) == len(VALID)
    assert {w.rule for w in WRONG} == {
        "unresolved-reference",
        "unresolved-import",
        "too-many-positional-arguments",
        "unknown-argument",
        "missing-argument",
        "parameter-already-assigned",
        "invalid-argument-type",
        "registered-call-in-callback",
        "unregistered-map-function",
        "unresolved-attribute",
    }


@pytest.mark.parametrize("item", WRONG, ids=[w.label for w in WRONG])
def test_fast_check_refuses_each_wrong_program_before_any_host_call(item: Wrong) -> None:
    error = refused(item.code)
    assert first_rule(error) == item.rule, error.diagnostics
    assert error.line == item.line
    assert error.diagnostics.startswith(f"code.py:{item.line}:{error.column}: error[{item.rule}] ")
    text = item.code.split("\n")[item.line - 1]
    assert error.column is not None and 1 <= error.column <= len(text)
    assert error.hint is not None and error.hint.startswith("nothing ran")
    assert f"> {item.line} | {text}" in str(error)


@pytest.mark.parametrize("item", WRONG, ids=[w.label for w in WRONG])
def test_each_wrong_program_fails_at_run_time_without_the_check(item: Wrong) -> None:
    """The corpus is really wrong: unchecked, each program fails on its wrong line, after
    its first call took effect (what the check spares)."""
    host = Host()
    with pytest.raises(at.SandboxError) as info:
        template(item.code, host, preflight=False)()
    assert not isinstance(info.value, at.TypeCheckError)
    assert host.calls[:1] == [("log", "start")]
    assert info.value.line is not None and info.value.line >= item.line


@pytest.mark.parametrize("item", SUBTLE, ids=[s.label for s in SUBTLE])
def test_subtle_wrong_programs_pass_the_fast_check_and_fail_at_run_time(item: Subtle) -> None:
    assert check_code(item.code, FUNCTIONS) == []
    host = Host()
    with pytest.raises(at.SandboxError):
        template(item.code, host)()
    assert host.calls[:1] == [("log", "start")]


def _valid_params() -> list[Any]:
    return [
        pytest.param(
            v,
            id=v.label,
            marks=[pytest.mark.xfail(strict=True, reason=v.fast_issue)] if v.fast_issue else [],
        )
        for v in VALID
    ]


@pytest.mark.parametrize("item", _valid_params())
def test_fast_check_passes_each_valid_program_and_it_runs(item: Valid) -> None:
    assert check_code(item.code, FUNCTIONS) == []
    assert template(item.code, Host())() == item.expected


@pytest.mark.parametrize("item", VALID, ids=[v.label for v in VALID])
def test_each_valid_program_gives_its_value_without_the_check(item: Valid) -> None:
    assert template(item.code, Host(), preflight=False)() == item.expected


TASKS: list[Task] = load_datasets()


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_fast_check_passes_every_eval_reference_program(task: Task) -> None:
    functions = register(functions_for(task.domain, task.functions))
    assert check_code(task.reference_program, functions) == []


def test_inputs_are_known_names() -> None:
    host = Host()
    t = template("log('start')\nget_customer(customer_id)['name']", host, inputs={"customer_id": int})
    assert t(customer_id=2) == "Alan Turing"
    assert refused("log('start')\nget_customer(customerid)['name']").line == 2


# -- the error's shape ---------------------------------------------------------------------------

POSITIONS = [
    # (code, rule, the text the error points at: its first occurrence on the last line)
    ("log('start')\nc = get_customer('3')", "invalid-argument-type", "'3'"),
    ("log('start')\nw = get_weather(location='Paris')", "unknown-argument", "location='Paris'"),
    ("log('start')\nsend_email('a@b.c', 'Hello')", "missing-argument", "send_email('a@b.c', 'Hello')"),
    ("log('start')\nc = get_customer(3, True)", "too-many-positional-arguments", "True"),
    ("log('start')\nw = get_weather('Oslo', city='Oslo')", "parameter-already-assigned", "city='Oslo'"),
    ("log('start')\nx = 1\nc = get_costumer(3)", "unresolved-reference", "get_costumer"),
    ("log('start')\nif True:\n    import numpy as np", "unresolved-import", "import numpy as np"),
    # Text that is more than one byte a character before the error, on its line.
    ("log('café ☕ — naïve 🚀'); c = get_customer('3')", "invalid-argument-type", "'3'"),
]

REWRITTEN = [
    # The prepared code differs from the written code: `await` blanked, `asyncio.gather`
    # renamed, iterables of parallel_map wrapped in `list(...)`.
    ("log('start')\nrate = await fetch_rate(['USD'])", "invalid-argument-type", "['USD']"),
    ("log('start')\nawait get_customer('3')", "invalid-argument-type", "'3'"),
    (
        "import asyncio\nlog('start')\nr = await asyncio.gather(get_customer(1), get_customer('2'))",
        "invalid-argument-type",
        "'2'",
    ),
    (
        "ids = {'a': 1}\nrows = parallel_map(get_customer, ids.values()); c = get_customer('3')",
        "invalid-argument-type",
        "'3'",
    ),
    (
        "rows = parallel_map(get_customer, (get_customer('x') for _ in range(2)))",
        "invalid-argument-type",
        "'x'",
    ),
    (
        "ids = {'a': 1}\nrows = parallel_map(get_customer, ids.values(), ids.keys()); get_weather(units='k')",
        "missing-argument",
        "get_weather(units='k')",
    ),
    (
        "x = '🚀'; rows = parallel_map(get_customer, x.split()); get_customer('3')",
        "invalid-argument-type",
        "'3'",
    ),
]


@pytest.mark.parametrize(("code", "rule", "target"), POSITIONS + REWRITTEN)
def test_error_points_into_the_code_as_written(code: str, rule: str, target: str) -> None:
    line = code.count("\n") + 1
    error = refused(code)
    assert first_rule(error) == rule
    column = column_of(code, line, target)
    assert (error.line, error.column) == (line, column)
    assert error.end_column == column + len(target)
    assert error.source == code
    assert error.hint is not None and error.hint.startswith("nothing ran")
    assert f"error[{rule}]" in str(error)
    caret = str(error).split(f"> {line} | ", 1)[1].split("\n")[1]
    assert caret.index("^") - caret.index("|") - 2 == column - 1  # the caret under the target


def test_the_rewrites_are_really_exercised() -> None:
    """The prepared code of the rewritten cases differs from what was written."""
    for code, _, _ in REWRITTEN:
        prepared, _ = wrap_map_iterables(prepare_source(code, FUNCTIONS))
        assert prepared != code


def test_diagnostics_position_matches_the_error_position_after_a_parallel_map() -> None:
    code = "ids = {'a': 1}\nrows = parallel_map(get_customer, ids.values()); c = get_customer('3')"
    error = refused(code)
    assert error.diagnostics.startswith(f"code.py:2:{error.column}: ")


@pytest.mark.parametrize(
    "code",
    [
        "log('start')\ncid = '3'; c = await get_customer(cid)",
        "ids = {'a': 1}\nrows = parallel_map(get_customer, ids.values()); cid = '3'; get_customer(cid)",
    ],
    ids=["await", "parallel_map"],
)
def test_full_check_error_points_into_the_code_as_written(code: str) -> None:
    host = Host()
    t = at.orchestrator_from_str(
        code,
        inputs={},
        output=Any,
        tasks=host.functions(),
        plugin_config=at.SandboxedConfig(type_check=True),
    )
    with pytest.raises(at.TypeCheckError) as info:
        t()
    assert host.calls == []
    assert "invalid-argument-type" in info.value.diagnostics
    assert (info.value.line, info.value.column) == (2, column_of(code, 2, "cid)"))


def test_a_line_separator_inside_a_string_does_not_shift_columns() -> None:
    code = "note = 'a\u2028b'\nlog('é'); get_customer('3')"
    error = refused(code)
    assert (error.line, error.column) == (2, column_of(code, 2, "'3'"))


@pytest.mark.parametrize(
    ("code", "suggestion"),
    [
        ("log('start')\nc = get_costumer(3)", "did you mean `get_customer`?"),
        ("log('start')\nsend_emial('a@b.c', 'Hi', 'Hello')", "did you mean `send_email`?"),
        ("log('start')\nrows = list_orders(3, stauts='pending')", "did you mean `status`?"),
        ("log('start')\nc = get_customer(customerId=3)", "did you mean `customer_id`?"),
        ("log('start')\nconvert_currency(10, from_curency='USD')", "did you mean `from_currency`?"),
    ],
)
def test_did_you_mean_for_a_misspelt_function_or_keyword(code: str, suggestion: str) -> None:
    error = refused(code)
    assert suggestion in error.diagnostics
    assert suggestion in str(error)


def test_an_unknown_keyword_names_the_signature() -> None:
    error = refused("log('start')\nw = get_weather(location='Paris')")
    assert "`get_weather()` has no parameter `location`" in error.message
    assert "get_weather(city: str, units: Literal['metric', 'imperial'] = 'metric')" in error.message


def test_all_problems_are_listed_in_source_order() -> None:
    error = refused("log('start')\nc = get_customer('3')\nimport numpy\nw = get_wether('Oslo')")
    rules = [first_rule(error)] + [
        d.split("error[")[1].split("]")[0] for d in error.diagnostics.splitlines()[1:]
    ]
    assert rules == ["invalid-argument-type", "unresolved-import", "unresolved-reference"]
    assert [d.split(":")[1] for d in error.diagnostics.splitlines()] == ["2", "3", "4"]


def test_a_syntax_error_is_a_syntax_error_and_nothing_runs() -> None:
    host = Host()
    with pytest.raises(at.SandboxSyntaxError) as info:
        template("log('start')\nc = get_customer(3", host)()
    assert not isinstance(info.value, at.TypeCheckError)
    assert host.calls == []


def test_an_undefined_variable_gets_the_define_it_hint() -> None:
    error = refused("log('start')\norders = list_orders(customer['id'])")
    assert error.hint is not None and error.hint.startswith("nothing ran")
    assert "define 'customer' before using it" in error.hint
    assert "get_customer" in error.hint  # the registered functions are listed


# -- kept sessions --------------------------------------------------------------------------------


def test_a_name_an_earlier_run_defined_is_known_to_the_next_run() -> None:
    host = Host()
    state = at.SessionState()
    first = state.run(template("rate = convert_currency(10, 'USD')\nrate", host))
    assert first.result == 8.0
    assert state.run(template("log('again')\nround(rate * 2, 1)", host)).result == 16.0
    assert host.names() == ["convert_currency", "log"]
    # Without the session the same code is refused, before its log() ran.
    error = refused("log('again')\nround(rate * 2, 1)")
    assert "Name `rate` used when not defined" in error.message


def test_a_function_an_earlier_run_defined_shadows_the_registered_one() -> None:
    host = Host()
    state = at.SessionState()
    state.run(template("def get_customer(a, b):\n    return a + b", host))
    assert state.run(template("get_customer(1, 2)", host)).result == 3
    assert host.calls == []
    assert first_rule(refused("get_customer(1, 2)")) == "too-many-positional-arguments"


def test_after_restart_the_names_are_unknown_again() -> None:
    host = Host()
    state = at.SessionState()
    state.run(template("import json\nseen = {'n': 1}", host))
    assert state.run(template("json.dumps(seen)", host)).result == '{"n": 1}'
    state.restart()
    with pytest.raises(at.TypeCheckError) as info:
        state.run(template("log('after restart')\njson.dumps(seen)", host))
    assert "Name `json` used when not defined" in info.value.diagnostics
    assert "Name `seen` used when not defined" in info.value.diagnostics
    assert host.calls == []


def test_a_name_defined_only_by_a_failed_run_is_not_known() -> None:
    host = Host()
    state = at.SessionState()
    state.run(template("kept = 1", host))
    with pytest.raises(at.HostFunctionError):
        state.run(template("lost = get_customer(1)\nget_customer(99)", host))
    with pytest.raises(at.TypeCheckError):  # refused: nothing ran, nothing defined
        state.run(template("also_lost = 2\nget_customer('3')", host))
    assert host.names() == ["get_customer", "get_customer"]
    for name in ("lost", "also_lost"):
        with pytest.raises(at.TypeCheckError) as info:
            state.run(template(f"log('x')\nkept + {name}", host))
        assert f"Name `{name}` used when not defined" in info.value.diagnostics
    assert state.run(template("kept + 1", host)).result == 2
    assert host.names() == ["get_customer", "get_customer"]
