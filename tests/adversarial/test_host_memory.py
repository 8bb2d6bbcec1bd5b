"""Host memory is bounded by the run's limits: shared structures are never expanded,
text shaped like a repr is never parsed on the host, and the run record keeps
bounded copies of what crossed in host calls."""

from __future__ import annotations

import resource
import time
from typing import Any

import pytest

import agent_tools as at
from agent_tools.boundary.measure import io_size, measure, preview

from ..conftest import add


def ident(x: Any) -> Any:
    return x


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def shared(levels: int, shape: str) -> str:
    """Code whose value is `levels` levels of shared containers: 2**levels leaves."""
    step = {"list": "a = [a, a]", "tuple": "a = (a, a)", "dict": "a = {'l': a, 'r': a}"}[shape]
    return f"a = [1]\nfor _ in range({levels}):\n    {step}\na"


@pytest.mark.parametrize("shape", ["list", "tuple", "dict"])
@pytest.mark.parametrize("levels", [34, 60])
def test_shared_result_is_refused_without_expanding_it(shape: str, levels: int) -> None:
    before = peak_rss_mib()
    t = at.orchestrator_from_str(shared(levels, shape), inputs={}, output=Any)
    started = time.perf_counter()
    with pytest.raises(at.OutputValidationError) as info:
        t()
    assert "max_inline_io_bytes" in str(info.value)
    assert time.perf_counter() - started < 5
    assert peak_rss_mib() - before < 200  # expanded, it would need gigabytes


@pytest.mark.parametrize("levels", [3, 10])
def test_small_shared_result_is_returned_whole(levels: int) -> None:
    t = at.orchestrator_from_str(shared(levels, "list"), inputs={}, output=Any)
    value = t()
    expected: Any = [1]
    for _ in range(levels):
        expected = [expected, expected]
    assert value == expected


def test_shared_result_through_code_runner_is_an_error_the_model_reads() -> None:
    reply = at.CodeRunner([add]).run(shared(40, "list"))
    assert not reply.ok
    assert "max_inline_io_bytes" in reply.text


def test_measure_of_a_shared_value_counts_its_expansion_without_building_it() -> None:
    leaf: Any = ["abc"]
    for _ in range(40):
        leaf = [leaf, leaf]
    size, _ = measure(leaf)
    assert size > 2**40  # what crossing it as data would cost
    small: Any = [1, 2]
    small = [small, small]
    assert io_size(small) >= len("[[1,2],[1,2]]")


@pytest.mark.parametrize("items", [1_000, 200_000])
def test_repr_shaped_string_is_not_parsed_on_the_host(items: int) -> None:
    code = 's = "dict_keys([" + ", ".join(["1"] * n) + "])"\nparallel_map(ident, s)'
    t = at.orchestrator_from_str(code, inputs={"n": int}, output=Any, tasks=[ident])
    before = peak_rss_mib()
    # a str is made a list of characters in the sandbox: over the call budget, or (for
    # the long one) over the sandbox's own memory limit first; never parsed on the host
    with pytest.raises((at.CallLimitError, at.MemoryLimitError)):
        t(n=items)
    assert peak_rss_mib() - before < 100


def test_repr_shaped_string_within_the_budget_is_iterated_as_text() -> None:
    t = at.orchestrator_from_str(
        's = "range(" + "0, 3)"\nparallel_map(ident, s)', inputs={}, output=list[str], tasks=[ident]
    )
    assert t() == list("range(0, 3)")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("d = {'a': 1, 'b': 2}\nparallel_map(ident, d.keys())", ["a", "b"]),
        ("d = {'a': 1, 'b': 2}\nparallel_map(ident, d.values())", [1, 2]),
        ("d = {'a': 1}\nparallel_map(ident, d.items())", [["a", 1]]),
        ("parallel_map(ident, (x * 2 for x in [1, 2, 3]))", [2, 4, 6]),
        ("parallel_map(add, {1: 0}.keys(), range(1))", [1]),
        ("parallel_map(ident, range(3))", [0, 1, 2]),
        ("flyte_map(ident, 'ab')", ["a", "b"]),
        ("parallel_map(ident, [1, 2])", [1, 2]),
    ],
)
def test_iterables_given_to_parallel_map_arrive_as_values(code: str, expected: list[Any]) -> None:
    t = at.orchestrator_from_str(code, inputs={}, output=Any, tasks=[ident, add])
    result = t()
    assert [list(r) if isinstance(r, tuple) else r for r in result] == expected


def test_parallel_map_under_another_name_refuses_view_text() -> None:
    t = at.orchestrator_from_str(
        "pm = parallel_map\nd = {'a': 1}\npm(ident, d.keys())", inputs={}, output=Any, tasks=[ident]
    )
    with pytest.raises(at.SandboxError) as info:
        t()
    assert "list(" in str(info.value)


def test_error_columns_point_into_the_code_as_written() -> None:
    def boom(x: Any) -> Any:
        raise ValueError("no")

    code = "d = {'a': 1}\nr = parallel_map(boom, d.keys())"
    t = at.orchestrator_from_str(code, inputs={}, tasks=[boom])
    with pytest.raises(at.HostFunctionError) as info:
        t()
    err = info.value
    assert err.line == 2
    assert err.column == code.splitlines()[1].index("parallel_map") + 1
    assert "list(" not in str(err)  # the excerpt shows the code as written


def test_record_keeps_bounded_copies_of_large_call_values() -> None:
    big = "x" * 5_000_000

    def size(s: str) -> int:
        return len(s)

    t = at.orchestrator_from_str(
        "s = 'x' * 5000000\nfor _ in range(60):\n    size(s)\nsize(s)", inputs={}, output=int, tasks=[size]
    )
    before = peak_rss_mib()
    record = at.run(t)
    assert record.result == len(big)
    assert len(record.calls) == 61
    for call in record.calls:
        (arg,) = call.args
        assert len(arg) < 5_000
        assert "more chars" in arg
    assert peak_rss_mib() - before < 150  # 61 full copies would be over 290 MB


def test_record_keeps_full_values_for_a_caller_who_asks() -> None:
    t = at.orchestrator_from_str(
        "ident('y' * 100000)",
        inputs={},
        output=str,
        tasks=[ident],
        plugin_config=at.SandboxedConfig(max_recorded_value_bytes=None),
    )
    record = at.run(t)
    assert record.calls[0].args == ("y" * 100_000,)
    assert record.calls[0].result == "y" * 100_000


def test_small_call_values_are_kept_as_they_are() -> None:
    t = at.orchestrator_from_str("ident({'a': [1, 2, 3], 'b': 'text'})", inputs={}, output=Any, tasks=[ident])
    record = at.run(t)
    assert record.calls[0].args == ({"a": [1, 2, 3], "b": "text"},)
    assert record.calls[0].result == {"a": [1, 2, 3], "b": "text"}


@pytest.mark.parametrize(
    "value",
    [
        "s" * 100_000,
        b"b" * 100_000,
        list(range(100_000)),
        {f"k{i}": "v" * 50 for i in range(10_000)},
        tuple("t" * 20 for _ in range(10_000)),
        [[["deep" * 1000]] * 50] * 50,
    ],
)
def test_preview_is_bounded_whatever_the_value(value: Any) -> None:
    cut = preview(value, 4096)
    assert type(cut) is type(value)
    assert len(repr(cut)) < 4096 * 3
    assert "more" in repr(cut)


def test_preview_redacts_before_it_cuts() -> None:
    secret = "S3CRET-" + "q" * 100
    text = "a" * 4000 + secret + "b" * 10_000
    cut = preview(text, 4096, lambda s: s.replace(secret, "[secret T]"))
    assert "S3CRET" not in cut
    assert "[secret T]" in cut  # the secret sits before the cut point: it is kept, redacted


def test_memory_limit_errors_leave_the_host_and_pool_healthy() -> None:
    t = at.orchestrator_from_str(
        "x = []\nwhile True:\n    x.append('z' * 100000)",
        inputs={},
        plugin_config=at.SandboxedConfig(max_memory=5_000_000),
    )
    for _ in range(3):
        with pytest.raises(at.MemoryLimitError):
            t()
    ok = at.orchestrator_from_str("add(1, 2)", inputs={}, output=int, tasks=[add])
    assert ok() == 3


@pytest.mark.parametrize("keep", [4096, None])
def test_report_of_a_shared_argument_is_bounded(keep: int | None) -> None:
    t = at.orchestrator_from_str(
        "a = ['s']\nfor _ in range(34):\n    a = [a, a]\nident(1) if ident(a) is None else 0",
        inputs={},
        output=int,
        tasks=[ident],
        report=True,
        plugin_config=at.SandboxedConfig(max_recorded_value_bytes=keep),
    )
    started = time.perf_counter()
    record = at.run(t)
    assert time.perf_counter() - started < 10
    assert record.report_path is not None
    assert record.report_path.stat().st_size < 1_000_000
