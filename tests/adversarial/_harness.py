"""The machinery shared by the adversarial corpus.

A `Case` is a code snippet, the registered functions it needs, the limits it runs
under and the error kind it must produce (an `agent_tools` error class, or "ok"
where the sandbox legitimately allows the code and nothing escapes).
`check_case` runs one and asserts, for every case:

- the expected error kind (the exact class; `exc_type` for a `SandboxRuntimeError`);
- the host process alive and untouched: the test process goes on, `os.environ`
  and the working directory are unchanged, a host file the code may try to
  overwrite still holds its content, no thread died of an unhandled exception,
  and the pool has no more workers than it may;
- nothing written outside the sandbox: every snippet first tries to create a
  unique marker file under `tmp_path` (and escape cases aim at it directly), and
  the marker must not exist afterwards, nor any other file in `tmp_path`, nor
  the few fixed paths some escape cases aim at (`FIXED_TARGETS`).

The fourth check, the next ordinary run on the same pool succeeding, is the
`healthy` fixture of tests/conftest.py, applied by each module's `pytestmark`.

In a snippet, `MARKER` and `HOST_FILE` stand for those two paths.

A case that reveals a bug carries `bug="..."`: it is marked `xfail(strict=True)`,
so it fails the suite once the bug is fixed and the mark can go.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import agent_tools as at
from agent_tools.base.errors import short_repr
from agent_tools.sandbox.pool import get_runtime

from ..conftest import monty_workers

__all__ = [
    "PREAMBLE_LINES",
    "Case",
    "Context",
    "Outcome",
    "check_case",
    "params",
    "run_script",
    "run_standard",
    "wait_for_threads",
]

PREAMBLE = "try:\n    open('MARKER', 'w').write('escaped')\nexcept Exception:\n    pass\n"
"""Runs before every snippet: the first attempt to write outside the sandbox."""
PREAMBLE_LINES = PREAMBLE.count("\n")

FIXED_TARGETS = (Path("escaped.txt"), Path("/escaped.txt"), Path("/tmp/agent_tools_adversarial.txt"))
"""Paths outside tmp_path that some snippets aim at (relative ones from the host's cwd)."""

DEFAULT_LIMITS: Mapping[str, int] = {"timeout_ms": 500, "max_memory": 20_000_000}
HOST_FILE_TEXT = "host data, must not change\n"

Expect = str | type[BaseException] | tuple[str | type[BaseException], ...]


class _Nothing:
    def __repr__(self) -> str:
        return "<no expected result>"


NOTHING: Any = _Nothing()


@dataclass
class Outcome:
    """What a case's run produced: its result or the error it raised (any
    exception at all, so that a crash is reported, not propagated)."""

    result: Any = None
    error: BaseException | None = None
    record: at.RunRecord | None = None
    extra: dict[str, Any] = field(default_factory=lambda: {})

    def describe(self) -> str:
        if self.error is None:
            return f"ok, result {short_repr(self.result)}"
        return f"{type(self.error).__name__}: {short_repr(str(self.error), 400)}"


@dataclass
class Context:
    tmp_path: Path
    marker: Path
    host_file: Path
    thread_errors: list[BaseException] = field(default_factory=lambda: [])

    def code(self, case: Case) -> str:
        code = case.code if case.bare else PREAMBLE + case.code
        return code.replace("MARKER", str(self.marker)).replace("HOST_FILE", str(self.host_file))


@dataclass(frozen=True)
class Case:
    id: str
    code: str = ""
    expect: Expect = "ok"
    exc_type: str | None = None
    """For a `SandboxRuntimeError`: the sandbox exception's type name."""
    tasks: tuple[Callable[..., Any], ...] = ()
    limits: Mapping[str, int] = field(default_factory=lambda: {})
    """`SandboxedConfig` fields, over `DEFAULT_LIMITS`."""
    options: Mapping[str, Any] = field(default_factory=lambda: {})
    """Other `orchestrator_from_str` arguments (output=, timeout=, env_vars=, ...)."""
    inputs: Mapping[str, tuple[Any, Any]] = field(default_factory=lambda: {})
    """name -> (type, value)."""
    result: Any = NOTHING
    """For an "ok" case: the result it must return."""
    line: int | None = None
    """The line of the snippet (preamble not counted) the error must point at."""
    host_env: Mapping[str, str] = field(default_factory=lambda: {})
    """Host environment variables set for the case (and checked unchanged)."""
    check: Callable[[Outcome, Context], None] | None = None
    """Extra assertions on the outcome."""
    scenario: Callable[[Case, Context], Outcome] | None = None
    """A runner other than one synchronous run on the test's thread."""
    bare: bool = False
    """Run the code without the marker preamble (for cases about the source itself)."""
    bug: str | None = None
    """Why this case is expected to fail until agent_tools (or Monty) is fixed."""

    def template(self, ctx: Context) -> at.CodeTaskTemplate:
        options: dict[str, Any] = {"output": Any, **self.options}
        config = at.SandboxedConfig(**{**DEFAULT_LIMITS, **self.limits})  # pyright: ignore[reportArgumentType]
        return at.orchestrator_from_str(
            ctx.code(self),
            inputs={name: tp for name, (tp, _) in self.inputs.items()},
            tasks=list(self.tasks),
            plugin_config=config,
            **options,
        )

    @property
    def values(self) -> dict[str, Any]:
        return {name: value for name, (_, value) in self.inputs.items()}


def params(cases: list[Case]) -> list[Any]:
    """The cases as pytest params, the known bugs marked strict xfail."""
    ids = [c.id for c in cases]
    assert len(set(ids)) == len(ids), "duplicate case ids"
    out: list[Any] = []
    for case in cases:
        marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=case.bug)] if case.bug else []
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def run_standard(case: Case, ctx: Context) -> Outcome:
    """Make the template and run it once, synchronously, on this thread."""
    try:
        record = at.run(case.template(ctx), **case.values)
    except BaseException as exc:  # a crash is an outcome to assert on, not a test error
        return Outcome(error=exc, record=getattr(exc, "record", None))
    return Outcome(result=record.result, record=record)


def _kinds(expect: Expect) -> tuple[str | type[BaseException], ...]:
    return expect if isinstance(expect, tuple) else (expect,)


def _name(kind: str | type[BaseException]) -> str:
    return kind if isinstance(kind, str) else kind.__name__


@contextlib.contextmanager
def _thread_errors(sink: list[BaseException]) -> Generator[None, None, None]:
    """Collect exceptions that kill host threads while the case runs (pytest's own
    hook, if any, still sees them)."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            sink.append(args.exc_value)
        previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous


def check_case(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    """Run `case` and assert everything the module docstring lists."""
    for key, value in case.host_env.items():
        monkeypatch.setenv(key, value)
    ctx = Context(
        tmp_path, tmp_path / f"escaped-{os.getpid()}-{time.monotonic_ns()}.txt", tmp_path / "host.txt"
    )
    ctx.host_file.write_text(HOST_FILE_TEXT)
    env_before, cwd_before = dict(os.environ), os.getcwd()
    targets_before = {p: _fingerprint(p) for p in FIXED_TARGETS}

    with _thread_errors(ctx.thread_errors):
        outcome = (case.scenario or run_standard)(case, ctx)

        # 1. the expected error kind
        kinds = _kinds(case.expect)
        if outcome.error is None:
            assert "ok" in kinds, (
                f"expected {'/'.join(map(_name, kinds))}, the run succeeded: {outcome.describe()}"
            )
            if case.result is not NOTHING:
                assert outcome.result == case.result, outcome.describe()
        else:
            error = outcome.error
            assert type(error) in kinds, f"expected {'/'.join(map(_name, kinds))}, got {outcome.describe()}"
            if case.exc_type is not None:
                assert isinstance(error, at.SandboxRuntimeError), outcome.describe()
                assert error.exc_type == case.exc_type, outcome.describe()
            if case.line is not None:
                assert isinstance(error, at.SandboxError), outcome.describe()
                offset = 0 if case.bare else PREAMBLE_LINES
                assert error.line == case.line + offset, f"line {error.line}: {error}"
        if case.check is not None:
            case.check(outcome, ctx)

    # 2. the host: alive (we are here), environment, files and threads untouched
    assert dict(os.environ) == env_before, "the host environment changed"
    assert os.getcwd() == cwd_before
    assert ctx.host_file.read_text() == HOST_FILE_TEXT, "a host file was overwritten"
    assert not ctx.thread_errors, f"a host thread died: {ctx.thread_errors!r}"
    assert len(monty_workers()) <= get_runtime().worker_cap()
    # 3. nothing written outside the sandbox
    assert not ctx.marker.exists(), "the code wrote a file on the host"
    unexpected = {p.name for p in tmp_path.iterdir()} - {ctx.host_file.name, "cache.sqlite3", "reports"}
    assert not unexpected, f"files appeared on the host: {unexpected}"
    # a file left there by an earlier run must not hide a write: compare what is there
    assert {p: _fingerprint(p) for p in FIXED_TARGETS} == targets_before, "the code wrote a file on the host"
    return outcome


def _fingerprint(path: Path) -> tuple[int, int, int] | None:
    """What would change if anything wrote `path`: inode, size, modification time."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def wait_for_threads(timeout: float = 5.0) -> None:
    """Wait for the runs a wall-clock timeout gave up on (their host functions may
    still be busy) to leave Monty."""
    from agent_tools.sandbox import execution as bridge

    deadline = time.monotonic() + timeout
    while bridge._live and time.monotonic() < deadline:  # pyright: ignore[reportPrivateUsage]
        time.sleep(0.01)


@dataclass
class ScriptResult:
    returncode: int | None
    """None: the script did not finish in time and was killed."""
    stdout: str
    stderr: str


def run_script(script: str, timeout: float) -> ScriptResult:
    """Run `script` in a fresh Python process (for faults that must not touch this
    one: a hang, an event loop killed by KeyboardInterrupt). On timeout its whole
    process group (the script and its Monty workers) is killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        return ScriptResult(proc.returncode, out, err)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        return ScriptResult(None, out, err)
