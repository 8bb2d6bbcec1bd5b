"""A run as one self-contained HTML page, for the person who reviews what the model's code did.

The page is a file opened in a browser, maybe long after the run and on another
machine, so everything is inline: CSS in a `<style>` element, no scripts, fonts,
images or links to fetch, and a Content-Security-Policy that forbids them should
anything ever slip through the escaping.

Every piece of text taken from the run or the caller passes through `redact` and
then `html.escape`, in that order: redacting after escaping would miss a secret
that contains `&`, `<`, `>` or a quote. Values are shown as a `repr` cut at
`MAX_VALUE_CHARS`, after strings inside plain containers were redacted one by one,
because `repr` escapes quotes, backslashes and newlines and would otherwise hide a
secret from a `redact` that looks for its literal text.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from agent_tools.base.errors import SandboxError
from agent_tools.base.record import HostCall, RunRecord
from agent_tools.boundary.measure import preview

__all__ = ["MAX_STDOUT_CHARS", "MAX_VALUE_CHARS", "default_report_dir", "render_report", "write_report"]

MAX_VALUE_CHARS = 2_000
"""A value's repr is cut here; the page says how many characters were left out."""

MAX_STDOUT_CHARS = 100_000
"""Printed output is cut here, so one chatty run cannot make a page too big to open."""

_SCRUB_DEPTH = 20
"""How deep `_scrub` walks nested containers; deeper parts are redacted as repr text."""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1d1d1f; background: #fff; }
h1 { font-size: 1.3em; margin-bottom: 0.3em; }
h2 { font-size: 1.05em; margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; margin: 0; }
dl.meta dt { color: #666; }
dl.meta dd { margin: 0; }
.status-ok { color: #1a7f37; font-weight: 600; }
.status-failed { color: #cf222e; font-weight: 600; }
.status-cached { color: #0969da; font-weight: 600; }
table { border-collapse: collapse; }
table.data td, table.data th { border: 1px solid #ddd; padding: 0.25em 0.5em; vertical-align: top; }
table.data th { text-align: left; }
table.data th { background: #f6f8fa; }
table.code { font-family: ui-monospace, monospace; font-size: 0.9em; width: 100%; }
table.code td { padding: 0 0.5em; }
td.ln { color: #888; text-align: right; user-select: none; border-right: 1px solid #ddd; width: 1%; }
td.src { white-space: pre; }
tr.failing { background: #ffebe9; }
tr.failing td.ln { color: #cf222e; font-weight: 700; }
pre, .value { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre, .value { white-space: pre-wrap; word-break: break-word; }
pre { background: #f6f8fa; padding: 0.6em; margin: 0.3em 0; }
pre.error, .call-error { color: #cf222e; }
.error-message { color: #cf222e; margin: 0.5em 0; }
.cut, .none { color: #888; font-style: italic; }
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'"


def _keep(text: str) -> str:
    """The default `redact`: nothing to hide."""
    return text


def default_report_dir() -> Path:
    """Where reports go when no directory is given.

    `$AGENT_TOOLS_REPORT_DIR` if set; else `$XDG_CACHE_HOME/agent-tools/reports`;
    else `~/.cache/agent-tools/reports`. Empty variables count as unset and a
    relative `XDG_CACHE_HOME` is ignored, as the XDG base-directory spec says.
    """
    if explicit := os.environ.get("AGENT_TOOLS_REPORT_DIR"):
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    cache = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return cache / "agent-tools" / "reports"


@dataclass(frozen=True)
class _Text:
    """Turns run-derived text into page text; the one place `redact` and escaping happen."""

    redact: Callable[[str], str]

    def __call__(self, text: str) -> str:
        return html.escape(self.redact(text))

    def long(self, text: str, limit: int) -> str:
        """Redacted, cut at `limit` (after redacting, so no part of a secret survives
        the cut), escaped, with a note of how much was cut."""
        shown = self.redact(text)
        if len(shown) <= limit:
            return html.escape(shown)
        note = self(f"... ({len(shown) - limit} more chars cut)")
        return f'{html.escape(shown[:limit])}<span class="cut">{note}</span>'

    def value(self, value: object) -> str:
        """A value's shortened repr, strings inside it redacted before `repr` escapes them."""
        # `preview` first: bounded whatever the value (a shared structure is never
        # expanded), and it redacts any string it has to cut before cutting it.
        bounded = preview(value, 64 * 1024, self.redact)
        return self.long(_safe_repr(_scrub(bounded, self.redact, _SCRUB_DEPTH)), MAX_VALUE_CHARS)


def _scrub(value: object, redact: Callable[[str], str], depth: int) -> object:
    """`value` with every str inside plain builtin containers passed through `redact`.

    Only exact builtin types are rebuilt (subclasses such as named tuples may not
    take an iterable); anything else keeps its repr, which the caller redacts as text.
    """
    if depth <= 0:
        return value
    kind = type(value)
    if kind is str:
        return redact(cast(str, value))
    if kind is list:
        return [_scrub(v, redact, depth - 1) for v in cast("list[Any]", value)]
    if kind is tuple:
        return tuple(_scrub(v, redact, depth - 1) for v in cast("tuple[Any, ...]", value))
    if kind is set or kind is frozenset:
        items = {_scrub(v, redact, depth - 1) for v in cast("set[Any]", value)}
        return items if kind is set else frozenset(items)
    if kind is dict:
        return {
            _scrub(k, redact, depth - 1): _scrub(v, redact, depth - 1)
            for k, v in cast("dict[Any, Any]", value).items()
        }
    return value


def _safe_repr(value: object) -> str:
    """`repr`, or a note when the object's `__repr__` raises: a report must not fail."""
    try:
        return repr(value)
    except Exception as exc:
        return f"<{type(value).__name__} object; repr failed: {type(exc).__name__}: {exc}>"


def _ms(seconds: float) -> str:
    """Milliseconds; three decimals below one, so microsecond host calls do not all read `0.0`."""
    ms = seconds * 1000
    return f"{ms:.3f} ms" if ms < 1 else f"{ms:.1f} ms"


def _status(record: RunRecord, error: BaseException | None) -> tuple[str, str]:
    """The status line and its CSS class."""
    if error is not None:
        return f"failed: {type(error).__name__}", "status-failed"
    if record.cached:
        return "served from cache", "status-cached"
    return "succeeded", "status-ok"


def _header(name: str, record: RunRecord, error: BaseException | None, stamp: str, t: _Text) -> str:
    status, css = _status(record, error)
    rows = [
        ("status", f'<span class="{css}">{t(status)}</span>'),
        ("duration", t(_ms(record.duration))),
        ("host time", t(_ms(record.host_time))),
        ("attempts", t(str(record.attempts))),
        ("host calls", t(str(len(record.calls)))),
        ("rendered", t(stamp)),
    ]
    meta = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    return f'<h1>Run of {t(name)}</h1>\n<dl class="meta">{meta}</dl>'


def _code(source: str, error: BaseException | None, t: _Text) -> str:
    """The code with numbered lines, the failing one marked with class `failing`.

    The whole source is redacted before it is split, so a secret that spans lines
    is caught too.
    """
    lines = t.redact(source).splitlines() or [""]
    failing = error.line if isinstance(error, SandboxError) else None
    rows: list[str] = []
    for n, line in enumerate(lines, start=1):
        css = ' class="failing"' if n == failing else ""
        rows.append(f'<tr{css}><td class="ln">{t(str(n))}</td><td class="src">{t(line)}</td></tr>')
    out = f'<h2>Code</h2>\n<table class="code">{"".join(rows)}</table>'
    if isinstance(error, SandboxError) and failing is not None:
        out += f'\n<p class="error-message">{t(error.headline())}</p>'
        if error.hint:
            out += f'\n<p class="error-message">{t("hint: " + error.hint)}</p>'
    return out


def _inputs(inputs: Mapping[str, Any], t: _Text) -> str:
    if not inputs:
        return '<h2>Inputs</h2>\n<p class="none">(no inputs)</p>'
    rows = "".join(
        f'<tr><td>{t(str(key))}</td><td class="value">{t.value(v)}</td></tr>' for key, v in inputs.items()
    )
    return f'<h2>Inputs</h2>\n<table class="data"><tr><th>name</th><th>value</th></tr>{rows}</table>'


def _call_row(index: int, call: HostCall, t: _Text) -> str:
    args = [t.value(a) for a in call.args]
    args += [f"{t(str(k))}={t.value(v)}" for k, v in call.kwargs.items()]
    if call.error is not None:
        outcome = f'<span class="call-error">{t(f"{type(call.error).__name__}: {call.error}")}</span>'
    else:
        outcome = t.value(call.result)
    return (
        f"<tr><td>{t(str(index))}</td><td>{t(call.function)}</td>"
        f'<td class="value">{", ".join(args)}</td><td class="value">{outcome}</td>'
        f"<td>{t(_ms(call.duration))}</td></tr>"
    )


def _calls(calls: list[HostCall], t: _Text) -> str:
    if not calls:
        return '<h2>Host calls</h2>\n<p class="none">(no host calls)</p>'
    head = "<tr><th>#</th><th>function</th><th>arguments</th><th>result or error</th><th>duration</th></tr>"
    rows = "".join(_call_row(i, call, t) for i, call in enumerate(calls, start=1))
    return f'<h2>Host calls</h2>\n<table class="data">{head}{rows}</table>'


def _stdout(stdout: str, t: _Text) -> str:
    if not stdout:
        return '<h2>Printed output</h2>\n<p class="none">(nothing printed)</p>'
    return f"<h2>Printed output</h2>\n<pre>{t.long(stdout, MAX_STDOUT_CHARS)}</pre>"


def _error_text(error: BaseException, t: _Text) -> str:
    """`str(error)`, redacted and escaped.

    A `SandboxError`'s text embeds a numbered excerpt of its source, and the line
    numbers it puts between lines would split a secret that spans lines beyond the
    reach of text redaction; so when redaction changes the source, the text is
    rendered from a shallow copy holding the redacted source (the caller's error is
    left alone).
    """
    if isinstance(error, SandboxError) and error.source is not None:
        redacted = t.redact(error.source)
        if redacted != error.source:
            # `copy.copy` would call the class with `args` alone, which subclasses
            # with required keyword arguments refuse.
            clone = type(error).__new__(type(error))
            clone.__dict__.update(vars(error))
            clone.args = error.args
            clone.source = redacted
            return t(str(clone))
    return t(str(error))


def _outcome(record: RunRecord, error: BaseException | None, t: _Text) -> str:
    if error is not None:
        return f'<h2>Error</h2>\n<pre class="error">{_error_text(error, t)}</pre>'
    return f'<h2>Result</h2>\n<pre class="value">{t.value(record.result)}</pre>'


def _earlier_errors(record: RunRecord, error: BaseException | None, t: _Text) -> str:
    """The failed attempts before the final outcome (all of them after a retried success)."""
    earlier = [(n, e) for n, e in enumerate(record.errors, start=1) if e is not error]
    if not earlier:
        return ""
    items = "".join(
        f'<h3>attempt {t(str(n))}: {t(type(e).__name__)}</h3>\n<pre class="error">{_error_text(e, t)}</pre>'
        for n, e in earlier
    )
    return f"<h2>Earlier failed attempts</h2>\n{items}"


def render_report(
    *,
    name: str,
    source: str,
    inputs: Mapping[str, Any],
    record: RunRecord,
    error: BaseException | None,
    redact: Callable[[str], str] = _keep,
) -> str:
    """A self-contained HTML page (inline CSS, no scripts or external resources) for one run.

    `redact` sees every piece of text from the run before it is escaped: the name,
    the code, input and call values (strings inside lists, tuples, sets and dicts
    one by one, then the repr as a whole), printed output and error messages. Text
    that other code built from a repr, such as a `HostFunctionError` message quoting
    the call's arguments, is redacted only as that text.
    """
    t = _Text(redact)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    status, _ = _status(record, error)
    sections = [
        _header(name, record, error, stamp, t),
        _code(source, error, t),
        _inputs(inputs, t),
        _calls(record.calls, t),
        _stdout(record.stdout, t),
        _outcome(record, error, t),
        _earlier_errors(record, error, t),
    ]
    body = "\n".join(s for s in sections if s)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        f"<title>{t(f'{name}: {status}')}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _safe_name(name: str) -> str:
    """A file-name part made of `[A-Za-z0-9_-]`: no separators, no `..`, never hidden, never empty."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:60] or "report"


def write_report(
    *,
    name: str,
    source: str,
    inputs: Mapping[str, Any],
    record: RunRecord,
    error: BaseException | None,
    redact: Callable[[str], str] = _keep,
    directory: str | os.PathLike[str] | None = None,
) -> Path:
    """Render the run's page and write it to `directory` (`default_report_dir()` when
    None; created if missing); return the file's path.

    The name is `<safe-name>-<UTC timestamp with microseconds>-<random>.html`, so two
    runs in the same microsecond still get two files. The page is written to a temp
    file in the same directory and moved into place with `os.replace`, so a reader
    never sees half a page. The file is readable by its owner only (the mode
    `mkstemp` gives), since a page shows inputs and results.
    """
    page = render_report(name=name, source=source, inputs=inputs, record=record, error=error, redact=redact)
    folder = default_report_dir() if directory is None else Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"{_safe_name(redact(name))}-{stamp}-{secrets.token_hex(4)}.html"
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".report-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(page)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path
