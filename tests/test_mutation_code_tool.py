"""The text the model reads, exactly: results, errors, truncation, host-call lines,
and which errors are raised to the caller instead (mutation-tested, see
benchmarks/mutation.py)."""

from __future__ import annotations

import pytest

import agent_tools as at
from agent_tools.base.errors import (
    FatalToolError,
    HostFunctionError,
    SandboxError,
    SandboxRuntimeError,
    SecretError,
)
from agent_tools.base.record import HostCall, RunRecord
from agent_tools.tool import code_runner as code_tool
from agent_tools.tool.code_runner import CodeRunner, format_error, format_result

_call_line = code_tool._call_line  # pyright: ignore[reportPrivateUsage]
_fatal = code_tool._fatal  # pyright: ignore[reportPrivateUsage]
_truncate = code_tool._truncate  # pyright: ignore[reportPrivateUsage]

TAIL = "return less, such as a summary, a count or the first items]"


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_truncate_keeps_text_up_to_the_limit_and_says_how_much_it_cut() -> None:
    assert _truncate("abcde", 5) == "abcde"
    assert _truncate("abcdef", 5) == f"abcde... [truncated: 1 of 6 characters cut; {TAIL}"
    assert _truncate("", 0) == ""


def test_result_is_compact_json_with_printed_output_only_when_there_is_some() -> None:
    assert format_result(RunRecord(result={"a": [1, 2]}), 100) == '{"result":{"a":[1,2]}}'
    record = RunRecord(result=None, stdout="hi\n")
    assert format_result(record, 100) == '{"result":null,"printed":"hi\\n"}'


def test_result_shows_bytes_as_base64_and_unknown_objects_by_repr() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "Thing()"

    assert format_result(RunRecord(result=b"\x00\xff"), 100) == '{"result":"AP8="}'
    assert format_result(RunRecord(result=Thing()), 100) == '{"result":"Thing()"}'


def test_result_is_cut_at_max_chars() -> None:
    text = format_result(RunRecord(result="x" * 50), 20)
    assert text == f'{{"result":"xxxxxxxxx... [truncated: 43 of 63 characters cut; {TAIL}'


def test_call_line_shows_the_call_and_its_result_or_its_error() -> None:
    ok = HostCall("add", (1,), {"b": "x"}, result=[3])
    assert _call_line(ok) == "- add(1, b='x') -> [3]"
    failed = HostCall("add", (1, 2), {}, error=ValueError("bad value"))
    assert _call_line(failed) == "- add(1, 2) raised ValueError: bad value"


def test_error_without_a_line_numbers_every_line_of_the_code_it_got() -> None:
    code = "\n".join(f"x{n} = {n}" for n in range(1, 11))
    text = format_error(SandboxError("it broke"), code)
    assert text == (
        "The code failed: sandbox error: it broke\n\n```\n"
        + "\n".join(f"  {n:>2} | x{n} = {n}" for n in range(1, 11))
        + "\n```\n\n\nFix the code and call run_code again.\n"
    )


def test_error_of_empty_code_shows_one_empty_line() -> None:
    text = format_error(SandboxError("empty"), "")
    assert "```\n  1 | \n```" in text


def test_error_prefers_the_source_it_carries_and_marks_the_failing_line_with_all_context() -> None:
    source = "\n".join(f"y{n} = {n}" for n in range(1, 13))
    error = SandboxError("bad", source=source, line=12, column=1, end_column=3, hint="do better")
    text = format_error(error, "ignored = 1")
    assert "ignored" not in text
    assert "```\n   1 | y1 = 1\n" in text  # the whole code, not an excerpt around line 12
    assert "> 12 | y12 = 12\n     | ^^\n" in text
    assert text.endswith("```\n\nhint: do better\n\nFix the code and call run_code again.\n")
    assert text.startswith("The code failed: sandbox error at line 12: bad\n")


def _error_with_calls(count: int, stdout: str = "") -> SandboxError:
    error = SandboxError("failed")
    error.record = RunRecord(
        calls=[HostCall("add", (n, 1), {}, result=n + 1) for n in range(count)], stdout=stdout
    )
    return error


def test_error_lists_at_most_20_calls_and_counts_the_rest() -> None:
    text = format_error(_error_with_calls(23), "add(1, 2)")
    assert "Calls already made (they may have had effects):\n- add(0, 1) -> 1\n" in text
    assert "- add(19, 1) -> 20\n- ... and 3 more\n" in text
    assert "add(20, 1)" not in text


def test_error_with_21_calls_counts_the_one_left_out() -> None:
    text = format_error(_error_with_calls(21), "add(1, 2)")
    assert "- add(19, 1) -> 20\n- ... and 1 more\n" in text


def test_error_with_exactly_20_calls_lists_them_all_with_no_count() -> None:
    text = format_error(_error_with_calls(20), "add(1, 2)")
    assert "- add(19, 1) -> 20\n" in text
    assert "more" not in text


def test_error_with_a_record_and_no_calls_says_nothing_about_calls() -> None:
    text = format_error(_error_with_calls(0), "x = 1")
    assert "Calls" not in text
    assert text.endswith("```\n\n\nFix the code and call run_code again.\n")


def test_error_shows_what_was_printed_cut_at_2000_characters() -> None:
    text = format_error(_error_with_calls(1, stdout="p" * 2001), "x = 1")
    assert "- add(0, 1) -> 1\nPrinted before the error:\n" + "p" * 2000 + "... [truncated: 1 of 2001" in text
    short = format_error(_error_with_calls(0, stdout="hello"), "x = 1")
    assert "```\n\nPrinted before the error:\nhello\n\nFix the code" in short


def test_only_a_missing_secret_or_a_fatal_tool_error_is_raised_to_the_caller() -> None:
    secret = SecretError("no secret")
    assert _fatal(secret) is secret
    fatal = FatalToolError("outage")
    host = HostFunctionError("failed", function="add", args=(), kwargs={})
    host.__cause__ = fatal
    assert _fatal(host) is fatal
    plain = HostFunctionError("failed", function="add", args=(), kwargs={})
    plain.__cause__ = ValueError("fixable")
    assert _fatal(plain) is None
    runtime = SandboxRuntimeError("boom", exc_type="ValueError", exc_message="boom")
    runtime.__cause__ = fatal
    assert _fatal(runtime) is None


def test_reply_is_the_result_text_or_the_error_text_or_raises() -> None:
    runner = CodeRunner([add], max_result_chars=15)
    record = RunRecord(result="y" * 20)
    ok = runner.reply("add(1, 2)", record, None)
    assert (ok.text, ok.ok, ok.record, ok.error) == (format_result(record, 15), True, record, None)
    assert ok.text.startswith('{"result":"yyyy... [truncated')

    error = _error_with_calls(1)
    failed = runner.reply("add(1, 2)", None, error)
    assert (failed.text, failed.ok, failed.record, failed.error) == (
        format_error(error, "add(1, 2)"),
        False,
        error.record,
        error,
    )
    with pytest.raises(SecretError):
        runner.reply("add(1, 2)", None, SecretError("no secret"))


def test_a_paused_reply_is_not_ok_and_carries_its_record() -> None:
    def refund(order: int) -> str:
        return f"refunded {order}"

    runner = at.CodeRunner([at.requires_approval(refund)])
    reply = runner.run("refund(7)")
    assert reply.pending is not None
    assert reply.ok is False
    assert reply.record is not None and reply.record.pending is reply.pending
    assert reply.error is None
