"""The HTML run report: what the page shows, that it escapes and redacts, and where it is written."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest

import agent_tools as at
from agent_tools.base.record import HostCall, RunRecord
from agent_tools.task.report import MAX_VALUE_CHARS, default_report_dir, render_report, write_report

from .conftest import add


def _sandbox_error(message: str, source: str, line: int) -> at.SandboxRuntimeError:
    return at.SandboxRuntimeError(
        message, source=source, line=line, column=1, exc_type="ValueError", exc_message=message, hint="fix it"
    )


def _no_active_content(page: str) -> None:
    """Nothing that runs or fetches: no scripts, links, external styles or handlers."""
    lowered = page.lower()
    for marker in ("<script", "http://", "https://", "href=", "src=", "url(", "@import", "<iframe", "<img"):
        assert marker not in lowered, marker
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+=", lowered), "inline event handler"


def _text(page: str) -> str:
    """The page with tags removed and entities decoded: what a reader sees."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_hand_built_record_shows_every_part() -> None:
    source = "total = add(x, 2)\nprint('sum', total)\nlookup(key='a', n=3)"
    record = RunRecord(
        result={"answer": 42},
        calls=[
            HostCall("add", (1, 2), {}, result=3, duration=0.0000125),
            HostCall("lookup", (), {"key": "a", "n": 3}, result=["found"], duration=0.5),
        ],
        stdout="sum 3\n",
        duration=1.25,
        host_time=0.5025,
        attempts=1,
    )
    inputs = {"x": 1, "label": "hi"}
    page = render_report(name="my-template", source=source, inputs=inputs, record=record, error=None)
    _no_active_content(page)
    assert page.startswith("<!DOCTYPE html>")
    assert "<h1>Run of my-template</h1>" in page
    assert '<dd><span class="status-ok">succeeded</span></dd>' in page
    assert "1250.0 ms" in page and "502.5 ms" in page
    for n, line in enumerate(source.splitlines(), start=1):
        assert f'<td class="ln">{n}</td><td class="src">{html.escape(line)}</td>' in page
    assert 'class="failing"' not in page
    assert "<td>x</td>" in page and "<td>label</td>" in page and "&#x27;hi&#x27;" in page
    text = _text(page)
    assert "1addd1, 2" not in text  # cells stay separate
    assert "<td>1</td><td>add</td>" in page and "<td>2</td><td>lookup</td>" in page
    assert page.index("<td>add</td>") < page.index("<td>lookup</td>")
    assert "1, 2" in text and "key='a', n=3" in text and "['found']" in text
    assert "<td>0.013 ms</td>" in page and "<td>500.0 ms</td>" in page
    assert "<pre>sum 3\n</pre>" in page
    assert "{'answer': 42}" in text
    assert "Earlier failed attempts" not in page


def test_real_run_report() -> None:
    source = "print('hi')\nadd(x, 1)"
    t = at.orchestrator_from_str(source, inputs={"x": int}, output=int, tasks=[add])
    rec = at.run(t, x=1)
    page = render_report(name=t.name, source=source, inputs={"x": 1}, record=rec, error=None)
    _no_active_content(page)
    assert '<td class="ln">1</td><td class="src">print(&#x27;hi&#x27;)</td>' in page
    assert '<td class="ln">2</td><td class="src">add(x, 1)</td>' in page
    assert "<td>1</td><td>add</td>" in page and "1, 1" in page
    assert "<pre>hi\n</pre>" in page
    assert '<h2>Result</h2>\n<pre class="value">2</pre>' in page
    assert "attempts</dt><dd>1</dd>" in page


def test_real_failing_run_marks_the_line_and_shows_the_error() -> None:
    source = "print('<b>start</b>')\ny = add(x, 1)\nz = 1 // 0\ny"
    t = at.orchestrator_from_str(source, inputs={"x": int}, output=int, tasks=[add])
    with pytest.raises(at.SandboxError) as info:
        at.run(t, x=1)
    e = info.value
    assert e.record is not None and e.line == 3
    page = render_report(name=t.name, source=source, inputs={"x": 1}, record=e.record, error=e)
    _no_active_content(page)
    assert '<span class="status-failed">failed: SandboxRuntimeError</span>' in page
    assert '<tr class="failing"><td class="ln">3</td><td class="src">z = 1 // 0</td></tr>' in page
    assert page.count('class="failing"') == 1
    headline = "error in the code at line 3: ZeroDivisionError: division by zero"
    assert f'<p class="error-message">{headline}</p>' in page
    assert html.escape(str(e)) in page  # the numbered excerpt with its pointer
    assert "&gt; 3 | z = 1 // 0" in page
    assert "<td>1</td><td>add</td>" in page
    assert "&lt;b&gt;start&lt;/b&gt;" in page and "<b>start" not in page
    assert "<h2>Result</h2>" not in page


def test_host_function_error_in_a_call_row() -> None:
    def boom(s: str) -> str:
        raise ValueError("nope " + s)

    source = "y = add(x, 1)\nboom('q')"
    t = at.orchestrator_from_str(source, inputs={"x": int}, output=int, tasks=[add, boom])
    with pytest.raises(at.HostFunctionError) as info:
        at.run(t, x=1)
    e = info.value
    assert e.record is not None
    page = render_report(name=t.name, source=source, inputs={"x": 1}, record=e.record, error=e)
    assert '<span class="call-error">ValueError: nope q</span>' in page
    assert '<tr class="failing"><td class="ln">2</td>' in page
    assert "failed: HostFunctionError" in page


def test_html_special_characters_are_escaped_everywhere() -> None:
    evil = "<script>alert('x')</script>&"
    source = f"s = {evil!r}\nif a < b and c > d: pass"
    record = RunRecord(
        result=evil,
        calls=[HostCall("f<i>", (evil,), {"k": evil}, result=evil)],
        stdout=evil + "\n",
        attempts=1,
    )
    inputs = {f"in{evil}": evil}
    page = render_report(name=f"t{evil}", source=source, inputs=inputs, record=record, error=None)
    _no_active_content(page)
    assert "<script" not in page and "<i>" not in page and "</script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;" in page
    assert "<pre>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;\n</pre>" in page
    assert "a &lt; b and c &gt; d" in page
    assert "f&lt;i&gt;" in page
    # Decoding the page gives the original text back, so nothing was double-escaped.
    assert evil in _text(page)


def test_long_values_are_cut_with_a_note() -> None:
    big = "x" * 5_000
    record = RunRecord(result=big, calls=[HostCall("f", (big,), {}, result=None)], attempts=1)
    page = render_report(name="t", source="f(s)", inputs={"s": big}, record=record, error=None)
    more = len(repr(big)) - MAX_VALUE_CHARS
    assert page.count(f"... ({more} more chars cut)") == 3
    assert "x" * 5_000 not in page
    assert "x" * (MAX_VALUE_CHARS - 1) in page


def test_failing_line_is_highlighted_for_a_hand_made_error() -> None:
    source = "a = 1\nb = a + 'x'\nc = 3"
    err = _sandbox_error("TypeError: bad operand", source, 2)
    record = RunRecord(attempts=1, errors=[err])
    page = render_report(name="t", source=source, inputs={}, record=record, error=err)
    assert '<tr class="failing"><td class="ln">2</td><td class="src">b = a + &#x27;x&#x27;</td></tr>' in page
    assert '<tr><td class="ln">1</td>' in page and '<tr><td class="ln">3</td>' in page
    assert "hint: fix it" in page
    assert "(no inputs)" in page and "(no host calls)" in page and "(nothing printed)" in page
    assert "Earlier failed attempts" not in page


def test_error_without_a_line_highlights_nothing() -> None:
    err = at.InputValidationError("x is missing", problems=["x: required"])
    page = render_report(name="t", source="x", inputs={}, record=RunRecord(errors=[err]), error=err)
    assert 'class="failing"' not in page
    assert "failed: InputValidationError" in page and "x: required" in page


def test_earlier_attempts_are_listed() -> None:
    first = _sandbox_error("first failure", "x", 1)
    second = _sandbox_error("second failure", "x", 1)
    record = RunRecord(attempts=2, errors=[first, second])
    page = render_report(name="t", source="x", inputs={}, record=record, error=second)
    assert "<h2>Earlier failed attempts</h2>" in page
    earlier = page[page.index("Earlier failed attempts") :]
    assert "attempt 1: SandboxRuntimeError" in earlier and "first failure" in earlier
    assert "second failure" not in earlier

    ok = RunRecord(result=1, attempts=3, errors=[first, second])
    page = render_report(name="t", source="x", inputs={}, record=ok, error=None)
    assert "succeeded" in page and "attempt 1:" in page and "attempt 2:" in page


def test_cached_status() -> None:
    page = render_report(name="t", source="1", inputs={}, record=RunRecord(result=1, cached=True), error=None)
    assert "served from cache" in page


@pytest.mark.parametrize("secret", ["hunter2-SECRET", "p\\a'ss\"w<o>r&d\nline2"])
def test_redact_removes_the_secret_from_every_part(secret: str) -> None:
    source = f"token = read_token()\nprint(token)\n# {secret}"
    err = _sandbox_error(f"failed with {secret}", source, 2)
    err.hint = f"do not use {secret}"
    record = RunRecord(
        result=None,
        calls=[
            HostCall(
                "login", (secret, [secret, {"nested": (secret,)}]), {"password": secret}, result={"t": secret}
            ),
            HostCall("fetch", (), {}, error=RuntimeError(f"denied for {secret}")),
        ],
        stdout=f"{secret}\n" + "pad " * 1_000 + secret,
        attempts=2,
        errors=[_sandbox_error(f"earlier {secret}", source, 1), err],
    )
    page = render_report(
        name=f"tmpl-{secret}",
        source=source,
        inputs={"user": "bob", "secret": secret, f"key-{secret}": {secret: [secret]}},
        record=record,
        error=err,
        redact=lambda s: s.replace(secret, "[REDACTED]"),
    )
    decoded = html.unescape(page)
    for form in (secret, repr(secret), repr(secret)[1:-1], html.escape(secret)):
        assert form not in page and form not in decoded, form
    for part in secret.split("\n"):  # a secret that spans lines is redacted as a whole
        assert part not in page and part not in decoded
    assert page.count("[REDACTED]") >= 12
    assert err.source == source and secret in str(err)  # the caller's error is left as it was
    assert "bob" in page


def test_redact_runs_before_escaping() -> None:
    secret = "a<b&c"
    record = RunRecord(stdout=f"x {secret} y", attempts=1)
    page = render_report(
        name="t", source="1", inputs={}, record=record, error=None, redact=lambda s: s.replace(secret, "***")
    )
    assert "<pre>x *** y</pre>" in page


def test_write_report(tmp_path: Path) -> None:
    record = RunRecord(result=7, stdout="out\n", attempts=1)
    kwargs: dict[str, Any] = {
        "name": "my template/../x",
        "source": "7",
        "inputs": {},
        "record": record,
        "error": None,
    }
    target = tmp_path / "new" / "dir"
    first = write_report(directory=target, **kwargs)
    second = write_report(directory=str(target), **kwargs)
    assert first != second
    for path in (first, second):
        assert path.parent == target and path.suffix == ".html"
        assert re.fullmatch(r"my-template-x-\d{8}T\d{12}Z-[0-9a-f]{8}\.html", path.name), path.name
        assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        assert "<pre>out\n</pre>" in path.read_text(encoding="utf-8")
    assert sorted(p.name for p in target.iterdir()) == sorted([first.name, second.name])  # no temp files left


def test_write_report_redacts_the_file_name(tmp_path: Path) -> None:
    path = write_report(
        directory=tmp_path,
        name="run-s3cr3t",
        source="1",
        inputs={},
        record=RunRecord(result=1),
        error=None,
        redact=lambda s: s.replace("s3cr3t", "x"),
    )
    assert "s3cr3t" not in path.name and path.name.startswith("run-x-")
    assert "s3cr3t" not in path.read_text(encoding="utf-8")


def test_write_report_uses_the_default_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_TOOLS_REPORT_DIR", str(tmp_path / "reports"))
    path = write_report(name="t", source="1", inputs={}, record=RunRecord(result=1), error=None)
    assert path.parent == tmp_path / "reports" and path.is_file()


def test_default_report_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AGENT_TOOLS_REPORT_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_report_dir() == tmp_path / "home" / ".cache" / "agent-tools" / "reports"

    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec says to ignore it
    assert default_report_dir() == tmp_path / "home" / ".cache" / "agent-tools" / "reports"

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_report_dir() == tmp_path / "xdg" / "agent-tools" / "reports"

    monkeypatch.setenv("AGENT_TOOLS_REPORT_DIR", str(tmp_path / "explicit"))
    assert default_report_dir() == tmp_path / "explicit"

    monkeypatch.setenv("AGENT_TOOLS_REPORT_DIR", "")  # empty counts as unset
    assert default_report_dir() == tmp_path / "xdg" / "agent-tools" / "reports"
