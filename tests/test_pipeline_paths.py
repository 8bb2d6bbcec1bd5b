"""What the full pipeline (hooks, secrets, cache, retries, the wall-clock timeout,
reports) passes on to each attempt, as its caller sees it: the caller's event loop,
the session state, the redaction of secrets before any cut, the attempt count, the
cache key's parts; how a cancelled `aio()` call stops its run (and the runs nested
in it); and Ctrl-C during a run with a wall-clock timeout (mutation-tested, see
benchmarks/mutation.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import agent_tools as at
from agent_tools.sandbox.pool import get_runtime

SECRET = "tok-Q7w8E9r0T1y2U3i4O5p6"
ENV = "PIPE_TOKEN"

# One variant per way a template leaves the shortest path: the wall-clock timeout
# (the run is fed on a helper thread), retries (tenacity's loop), both.
FULL_PATHS = {
    "timeout": {"timeout": 30},
    "retries": {"retries": 1},
    "timeout+retries": {"timeout": 30, "retries": 1},
}


# -- the caller's event loop serves the async functions --------------------------------------

_loops: list[asyncio.AbstractEventLoop] = []


async def where() -> int:
    """Note the loop this coroutine runs on."""
    _loops.append(asyncio.get_running_loop())
    await asyncio.sleep(0)
    return len(_loops)


@pytest.mark.parametrize("options", list(FULL_PATHS.values()), ids=list(FULL_PATHS))
async def test_async_functions_run_on_the_awaiting_callers_loop(options: dict[str, Any]) -> None:
    _loops.clear()
    t = at.orchestrator_from_str("where()\nwhere()", inputs={}, output=int, tasks=[where], **options)
    assert await t.aio() == 2
    record = await at.arun(t)
    assert record.attempts == 1
    assert _loops == [asyncio.get_running_loop()] * 4


# -- the attempt count ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"timeout": 30}, {"cache": "override"}, {"debuggable": True}, {"retries": 2}],
    ids=["plain", "timeout", "cache", "debuggable", "retries-unused"],
)
def test_a_run_that_succeeds_at_once_made_one_attempt(options: dict[str, Any]) -> None:
    t = at.orchestrator_from_str("x * 2", inputs={"x": int}, output=int, **options)
    record = at.run(t, x=21)
    assert (record.result, record.attempts, record.errors) == (42, 1, [])


def test_a_failed_run_without_retries_made_one_attempt() -> None:
    t = at.orchestrator_from_str("1 / 0", inputs={}, output=int, timeout=30)
    with pytest.raises(at.SandboxRuntimeError) as info:
        t()
    assert info.value.record is not None and info.value.record.attempts == 1


# -- session state through every path ---------------------------------------------------------

_failures: list[int] = []


def fail_once(x: int) -> int:
    """Raises on its first call only."""
    if not _failures:
        _failures.append(x)
        raise ConnectionError("flaky")
    return x


@pytest.mark.parametrize("options", [{}, *FULL_PATHS.values()], ids=["plain", *FULL_PATHS])
def test_session_state_carries_variables_through_every_path(options: dict[str, Any]) -> None:
    state = at.SessionState()
    first = at.orchestrator_from_str("total = 40\ntotal", inputs={}, output=int, **options)
    assert state.run(first).result == 40
    then = at.orchestrator_from_str("total = total + 2\ntotal", inputs={}, output=int, **options)
    assert state.run(then).result == 42
    assert state.run(then).result == 44


def test_a_retried_stateful_run_starts_each_attempt_from_the_state_before_it() -> None:
    _failures.clear()
    state = at.SessionState()
    state.run(at.orchestrator_from_str("n = 1", inputs={}, output=type(None)))
    t = at.orchestrator_from_str(
        "n = n + 10\nfail_once(n)\nn", inputs={}, output=int, tasks=[fail_once], retries=1
    )
    record = state.run(t)
    assert (record.result, record.attempts) == (11, 2)
    assert [c.args for c in record.calls] == [(11,), (11,)]
    assert state.run(at.orchestrator_from_str("n", inputs={}, output=int)).result == 11


# -- secrets are redacted before any cut, on every path ----------------------------------------


def reject(token: str) -> str:
    """Refuse the token, quoting it."""
    raise PermissionError("refused")


def keep(token: str) -> int:
    """Accept the token."""
    return len(token)


def _leaks(text: str) -> list[str]:
    """The prefixes of the secret (6 characters or more) found in `text`."""
    return [SECRET[:n] for n in range(6, len(SECRET) + 1) if SECRET[:n] in text]


def _pad(cut: int) -> str:
    """Padding that puts the secret across a cut at `cut` characters of a repr."""
    return "p" * (cut - 8)


@pytest.mark.parametrize("options", [{}, *FULL_PATHS.values()], ids=["secrets-only", *FULL_PATHS])
def test_a_call_quoted_in_an_error_is_redacted_before_it_is_cut(
    options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, SECRET)
    # format_call cuts each argument's repr at 80 characters: the secret straddles the cut
    code = f"import os\nreject({_pad(80)!r} + os.getenv({ENV!r}))"
    t = at.orchestrator_from_str(code, inputs={}, output=str, tasks=[reject], secrets=[ENV], **options)
    with pytest.raises(at.HostFunctionError) as info:
        t()
    err = info.value
    assert "reject('pppp" in err.message
    texts = [str(err), err.message, repr(err.args), repr(err.call_args)]
    assert err.record is not None
    texts += [str(e) for e in err.record.errors]
    for text in texts:
        assert _leaks(text) == [], text


@pytest.mark.parametrize("options", [{}, *FULL_PATHS.values()], ids=["secrets-only", *FULL_PATHS])
def test_recorded_call_arguments_are_redacted_before_they_are_cut(
    options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, SECRET)
    config = at.SandboxedConfig(max_recorded_value_bytes=64)
    # a recorded string is cut to fit the budget: at 64 bytes it keeps its first 59 characters
    code = f"import os\nkeep({_pad(59)!r} + os.getenv({ENV!r}))"
    t = at.orchestrator_from_str(
        code, inputs={}, output=int, tasks=[keep], secrets=[ENV], plugin_config=config, **options
    )
    record = at.run(t)
    assert record.result == 51 + len(SECRET)
    (call,) = record.calls
    assert str(call.args[0]).startswith("pppp")
    assert _leaks(repr(call.args)) == []


def test_a_report_shows_the_inputs_with_their_secrets_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, SECRET)
    t = at.orchestrator_from_str("len(note)", inputs={"note": str}, output=int, secrets=[ENV], report=True)
    record = at.run(t, note=f"visible-part {SECRET} end")
    assert record.report_path is not None
    page = record.report_path.read_text(encoding="utf-8")
    assert "visible-part" in page and f"[secret {ENV}]" in page
    assert _leaks(page) == []


# -- the cache key holds each registered function's signature ---------------------------------


def test_a_changed_function_signature_is_a_cache_miss() -> None:
    made: list[str] = []

    def tag(x: int) -> str:
        made.append("one")
        return f"one:{x}"

    def tag_two(x: int, sep: str = ":") -> str:
        made.append("two")
        return f"two{sep}{x}"

    code = "tag(x)"
    first = at.orchestrator_from_str(code, inputs={"x": int}, output=str, tasks={"tag": tag}, cache="auto")
    assert first(x=1) == "one:1"
    assert at.run(first, x=1).cached
    second = at.orchestrator_from_str(
        code, inputs={"x": int}, output=str, tasks={"tag": tag_two}, cache="auto"
    )
    record = at.run(second, x=1)
    assert (record.cached, record.result) == (False, "two:1")
    assert made == ["one", "two"]


# -- a cancelled aio() call stops its run and the runs nested in it ----------------------------


async def test_cancelling_an_awaited_run_says_so_and_stops_runs_nested_in_it() -> None:
    release = threading.Event()
    nested_calls: list[str] = []
    nested_errors: list[at.SandboxError] = []
    started = threading.Event()

    def side_effect() -> str:
        nested_calls.append("ran")
        return "ran"

    inner = at.orchestrator_from_str("side_effect()", inputs={}, output=str, tasks=[side_effect])

    def stall_then_nest() -> str:
        started.set()
        release.wait(20)
        try:  # the outer run was cancelled meanwhile: this nested run must not start
            return inner()
        except at.SandboxError as err:
            nested_errors.append(err)
            raise

    events: list[at.RunEvent] = []
    t = at.orchestrator_from_str("stall_then_nest()", inputs={}, output=str, tasks=[stall_then_nest])
    task = asyncio.ensure_future(at.arun(t, on_event=events.append))
    assert await asyncio.to_thread(started.wait, 20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    for _ in range(400):
        if any(isinstance(e, at.RunFinished) for e in events):
            break
        await asyncio.sleep(0.05)
    finished = [e for e in events if isinstance(e, at.RunFinished)]
    assert len(finished) == 1
    assert finished[0].error == "SandboxError: the run was cancelled by its caller"
    assert nested_calls == []
    assert [(type(e), e.message) for e in nested_errors] == [
        (at.SandboxError, "the run was cancelled by its caller")
    ]
    ok = at.orchestrator_from_str("side_effect()", inputs={}, output=str, tasks=[side_effect])
    assert await ok.aio() == "ran"


# -- Ctrl-C during a run with a wall-clock timeout ---------------------------------------------


@pytest.mark.parametrize("presses", [1, 2], ids=["once", "twice"])
def test_ctrl_c_during_a_timed_run_raises_keyboardinterrupt_within_the_grace(presses: int) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.fail("this test sends SIGINT to the process: it must run on the main thread")
    release = threading.Event()

    def stall() -> int:
        time.sleep(0.1)  # the main thread is waiting on the run by now
        for _ in range(presses):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.3)  # a second press falls in the wind-down wait
        release.wait(30)  # a host function that does not return: the run cannot end by itself
        return 1

    t = at.orchestrator_from_str("stall()", inputs={}, output=int, tasks=[stall], timeout=60)
    # Python's own Ctrl-C handler, whatever the process running the tests installed
    # (a mutation-testing worker ignores SIGINT)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            t()
        took = time.monotonic() - started
    finally:
        release.set()
        signal.signal(signal.SIGINT, previous)
    # the wind-down wait is 2 s; a wait for the run itself would last the host's 30 s
    assert took < 15
    assert at.orchestrator_from_str("1 + 1", inputs={}, output=int, timeout=30)() == 2


# -- what a person is shown of a paused run, and what a report shows ---------------------------


@at.requires_approval
def send(token: str, to: str = "nobody") -> str:
    """Send a token somewhere (needs a person's approval)."""
    return f"sent to {to}"


@pytest.mark.parametrize("options", [{}, {"timeout": 30}], ids=["secrets-only", "timeout"])
def test_a_paused_call_is_shown_with_its_secrets_redacted(
    options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, SECRET)
    placeholder = f"[secret {ENV}]"
    # the secret reaches the call as a value and, written in the code, on its line too
    code = f"import os\nprint('start')\nsend(os.getenv({ENV!r}), to={SECRET!r} + '@x')"
    t = at.orchestrator_from_str(code, inputs={}, output=str, tasks=[send], secrets=[ENV], **options)
    record = at.run(t)
    assert record.status == "waiting for approval"
    pending = record.pending
    assert pending is not None and pending.function == "send"
    assert pending.args == (placeholder,)
    assert pending.kwargs == {"to": f"{placeholder}@x"}
    assert pending.arguments == {"token": placeholder, "to": f"{placeholder}@x"}
    assert pending.code_line == f"send(os.getenv({ENV!r}), to={placeholder!r} + '@x')"
    assert _leaks(repr(pending)) == []
    with pytest.raises(at.SandboxRuntimeError) as info:
        at.resume(pending.token, approve=False)
    assert f"send(token={placeholder!r}, to='{placeholder}@x') was not approved" in info.value.message
    assert _leaks(str(info.value)) == []


def test_a_report_of_a_failed_run_shows_its_error_and_code_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, SECRET)
    code = f"import os\nkey = {SECRET!r}  # pasted by mistake\nraise ValueError('boom at the end')"
    t = at.orchestrator_from_str(code, inputs={}, output=int, secrets=[ENV], report=True)
    with pytest.raises(at.SandboxRuntimeError) as info:
        t()
    record = info.value.record
    assert record is not None and record.report_path is not None
    page = record.report_path.read_text(encoding="utf-8")
    assert "boom at the end" in page and "ValueError" in page
    assert "failed: SandboxRuntimeError" in page and "<h2>Error</h2>" in page
    assert "pasted by mistake" in page and f"[secret {ENV}]" in page
    assert _leaks(page) == []


@pytest.mark.parametrize("depth", [256, 300])
def test_a_result_cut_short_by_the_sandbox_is_refused_in_full_words(depth: int) -> None:
    code = f"x = []\nfor _ in range({depth}):\n    x = [x]\nx"
    t = at.orchestrator_from_str(code, inputs={}, output=Any)
    with pytest.raises(at.OutputValidationError) as info:
        t()
    assert str(info.value) == (
        "invalid output: the result is nested max_stack_depth=256 or more levels deep, and the "
        "sandbox hands back only that many (it put '<deeply nested>' in place of the rest): "
        "return a flatter value, or raise max_stack_depth"
    )


def test_a_result_just_under_the_cut_and_none_come_back_whole() -> None:
    code = "x = []\nfor _ in range(200):\n    x = [x]\nx"
    got = at.orchestrator_from_str(code, inputs={}, output=Any)()
    for _ in range(200):
        assert isinstance(got, list) and len(got) == 1  # pyright: ignore[reportUnknownArgumentType]
        got = got[0]  # pyright: ignore[reportUnknownVariableType]
    assert got == []
    assert at.orchestrator_from_str("None", inputs={}, output=Any)() is None


def test_a_sync_call_outside_any_loop_runs_async_functions_on_the_calling_thread() -> None:
    seen: list[str] = []

    async def fetch(x: int) -> int:
        seen.append(threading.current_thread().name)
        return x

    t = at.orchestrator_from_str("fetch(1) + fetch(2)", inputs={}, output=int, tasks=[fetch])
    caller: list[str] = []

    def call() -> None:
        caller.append(threading.current_thread().name)
        assert t() == 3

    worker = threading.Thread(target=call, name="the-caller")
    worker.start()
    worker.join()
    assert caller == ["the-caller"]
    assert seen == ["the-caller", "the-caller"]


async def test_a_sync_call_inside_a_loop_starts_the_host_loop_only_for_async_functions() -> None:
    at.shutdown()  # a fresh runtime, with no host loop yet
    runtime = get_runtime()

    def double(x: int) -> int:
        return 2 * x

    assert at.orchestrator_from_str("double(4)", inputs={}, output=int, tasks=[double])() == 8
    assert runtime._loop is None  # pyright: ignore[reportPrivateUsage]

    async def adouble(x: int) -> int:
        return 2 * x

    assert at.orchestrator_from_str("adouble(4)", inputs={}, output=int, tasks=[adouble])() == 8
    assert runtime._loop is not None  # pyright: ignore[reportPrivateUsage]


def test_a_resumed_run_counts_only_its_active_time() -> None:
    def refund(order: int) -> str:
        return f"refunded {order}"

    t = at.orchestrator_from_str("refund(7)", inputs={}, output=str, tasks=[at.requires_approval(refund)])
    started = time.perf_counter()
    first = at.run(t)
    assert first.status == "waiting for approval" and first.pending is not None
    done = at.resume(first.pending.token, approve=True)
    wall = time.perf_counter() - started
    assert done.result == "refunded 7"
    assert 0 < done.duration <= wall


OPTIONS: list[dict[str, Any]] = [{}, {"timeout": 5.0}, {"retries": 1}]
"""A run on the plain path, and on the general one with a wall-clock timeout or retries."""


@pytest.mark.parametrize("options", OPTIONS, ids=["plain", "timeout", "retries"])
def test_an_input_or_output_error_is_the_one_error_its_record_holds(options: dict[str, Any]) -> None:
    t = at.orchestrator_from_str("x + 1", inputs={"x": int}, output=str, **options)
    with pytest.raises(at.InputValidationError) as bad_in:
        t(x="no")
    assert bad_in.value.record is not None
    assert bad_in.value.record.errors == [bad_in.value] and bad_in.value.record.attempts == 0
    with pytest.raises(at.OutputValidationError) as bad_out:
        t(x=1)
    assert bad_out.value.record is not None
    assert bad_out.value.record.errors == [bad_out.value] and bad_out.value.record.attempts == 1


@pytest.mark.parametrize("options", OPTIONS, ids=["plain", "timeout", "retries"])
def test_a_run_pauses_in_the_store_its_runner_names(options: dict[str, Any], tmp_path: Path) -> None:
    def refund(order: int) -> str:
        return f"refunded {order}"

    store = at.SQLiteApprovalStore(tmp_path / "runner.db")
    runner = at.CodeRunner([at.requires_approval(refund)], approval_store=store, **options)
    reply = runner.run("refund(7)")
    assert reply.pending is not None
    assert len(store) == 1
    assert runner.resume(reply.pending.token, approve=True).ok


@pytest.mark.parametrize("options", OPTIONS, ids=["plain", "timeout", "retries"])
def test_a_pause_that_cannot_be_kept_is_the_one_error_its_record_holds(
    options: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PP_API_KEY", "sk-live-pipeline-0123456789")

    def charge(amount: int) -> str:
        return "charged"

    t = at.orchestrator_from_str(
        "import os\nkey = os.getenv('PP_API_KEY')\ncharge(5)\nlen(key)",
        inputs={},
        output=int,
        tasks=[at.requires_approval(charge)],
        secrets=[at.Secret(key="PP_API_KEY")],
        **options,
    )
    at.set_approval_store(at.SQLiteApprovalStore(tmp_path / "p.db"))
    try:
        with pytest.raises(at.SecretError) as info:
            t()
    finally:
        at.set_approval_store(None)
    assert info.value.record is not None
    assert info.value.record.errors == [info.value]
    assert info.value.record.pending is None


def test_a_run_on_the_main_thread_leaves_the_signal_setup_as_it_found_it() -> None:
    """While it feeds, a run on the main thread watches for Ctrl-C through the signal
    wakeup fd; after it, the wakeup fd is unset again (an event loop started later
    can take it) and the run's stop is no longer called on Ctrl-C."""
    assert threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    before = signal.set_wakeup_fd(-1)
    try:
        t = at.orchestrator_from_str("x * 2", inputs={"x": int}, output=int)
        assert t(x=21) == 42
        assert signal.set_wakeup_fd(-1) == -1
        with pytest.raises(at.InputValidationError):
            t(x="no")
        assert t(x=1) == 2
        assert signal.set_wakeup_fd(-1) == -1
    finally:
        signal.set_wakeup_fd(before)
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_wall_clock_timeout_alone_bounds_the_run(asynchronous: bool) -> None:
    """A template whose only option is `timeout=` still has its run bounded (it does not
    take the shortest path, which has no clock)."""
    release = threading.Event()

    def stall() -> int:
        release.wait(10)
        return 1

    t = at.orchestrator_from_str("stall()", inputs={}, output=int, tasks=[stall], timeout=0.3)
    try:
        with pytest.raises(at.TimeLimitError, match=r"timeout=0\.3s"):
            if asynchronous:
                asyncio.run(t.aio())
            else:
                t()
    finally:
        release.set()


def test_a_report_of_inputs_that_fail_validation_shows_the_inputs_given() -> None:
    t = at.orchestrator_from_str("len(note)", inputs={"note": str}, output=int, report=True)
    with pytest.raises(at.InputValidationError) as info:
        t(note=987654321)
    record = info.value.record
    assert record is not None and record.report_path is not None
    page = record.report_path.read_text(encoding="utf-8")
    assert "InputValidationError" in page
    assert "<td>note</td>" in page and "(no inputs)" not in page  # the inputs table, as given


async def test_an_awaited_plain_run_calls_async_functions_on_the_callers_loop() -> None:
    loop = asyncio.get_running_loop()
    loops: list[asyncio.AbstractEventLoop] = []

    async def fetch(x: int) -> int:
        loops.append(asyncio.get_running_loop())
        return x

    t = at.orchestrator_from_str("fetch(1) + fetch(2)", inputs={}, output=int, tasks=[fetch])
    assert await t.aio() == 3
    assert (await at.arun(t)).result == 3
    assert loops == [loop] * 4


@pytest.mark.parametrize("options", [{}, *FULL_PATHS.values()], ids=["secrets-only", *FULL_PATHS])
def test_the_events_of_a_run_with_secrets_never_show_them(
    options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, SECRET)

    def echo(text: str) -> str:
        return text

    code = f"import os\nkey = os.getenv('{ENV}')\nprint('key is', key)\necho('sent ' + key)"
    t = at.orchestrator_from_str(code, inputs={}, output=str, tasks=[echo], secrets=[ENV], **options)
    events: list[Any] = []
    record = at.run(t, on_event=events.append)
    assert record.result == f"sent [secret {ENV}]"  # the record is redacted too
    shown = "\n".join(repr(event) for event in events)
    assert "CallStarted" in shown and "Printed" in shown
    assert f"[secret {ENV}]" in shown
    assert _leaks(shown) == []


class _Positional(at.CodeTaskTemplate):
    seen: list[Any]

    def pre(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.seen.append((args, kwargs))
        return {}


def test_positional_inputs_reach_the_pre_hook_and_the_run() -> None:
    t = _Positional(
        name="positional",
        interface=at.NativeInterface.from_types({"x": int, "y": int}, int),
        _user_source="x * 10 + y",
    )
    t.seen = []
    assert t(4, y=2) == 42
    assert t.seen == [((4,), {"y": 2})]


@pytest.mark.parametrize("options", list(FULL_PATHS.values()), ids=list(FULL_PATHS))
def test_positional_inputs_are_bound_on_the_general_path(options: dict[str, Any]) -> None:
    t = at.orchestrator_from_str("x * 10 + y", inputs={"x": int, "y": int}, output=int, **options)
    assert t(4, 2) == 42
    assert at.run(t, 4, y=3).result == 43


@pytest.mark.parametrize("options", [{}, *FULL_PATHS.values()], ids=["secrets-only", *FULL_PATHS])
def test_the_last_event_of_a_run_failing_with_a_secret_never_shows_it(
    options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, SECRET)
    code = f"import os\nkey = os.getenv('{ENV}')\nraise ValueError('bad key ' + key)"
    t = at.orchestrator_from_str(code, inputs={}, output=str, secrets=[ENV], **options)
    events: list[Any] = []
    with pytest.raises(at.SandboxError):
        at.run(t, on_event=events.append)
    assert type(events[-1]).__name__ == "RunFinished"
    shown = "\n".join(repr(event) for event in events)
    assert f"bad key [secret {ENV}]" in shown
    assert _leaks(shown) == []


@pytest.mark.parametrize("options", list(FULL_PATHS.values()), ids=list(FULL_PATHS))
def test_a_run_with_the_cache_disabled_writes_nothing_to_it(options: dict[str, Any]) -> None:
    from agent_tools.task.cache import get_store

    t = at.orchestrator_from_str("x + 1", inputs={"x": int}, output=int, **options)
    assert t.cache.behavior == "disable"
    assert t(x=1) == 2
    assert len(get_store()) == 0
    cached = at.orchestrator_from_str("x + 1", inputs={"x": int}, output=int, cache="auto", **options)
    assert (at.run(cached, x=1).cached, at.run(cached, x=1).cached) == (False, True)
    assert len(get_store()) == 1


@pytest.mark.parametrize("options", [{}, *FULL_PATHS.values()], ids=["cache-only", *FULL_PATHS])
def test_a_run_that_overrides_the_cache_never_reads_it(options: dict[str, Any]) -> None:
    calls: list[int] = []

    def work(x: int) -> int:
        calls.append(x)
        return x + len(calls)

    t = at.orchestrator_from_str(
        "work(x)", inputs={"x": int}, output=int, tasks=[work], cache="override", **options
    )
    first, second = at.run(t, x=1), at.run(t, x=1)
    assert (first.cached, second.cached) == (False, False)
    assert (first.result, second.result) == (2, 3)
    assert calls == [1, 1]
    reader = at.orchestrator_from_str(
        "work(x)", inputs={"x": int}, output=int, tasks=[work], cache="auto", **options
    )
    assert at.run(reader, x=1).result == 3  # what the last override stored
    assert calls == [1, 1]


def test_ctrl_c_during_an_untimed_run_stops_code_that_never_returns() -> None:
    """The sandbox loops forever (the main thread is inside the run, not in Python
    code): Ctrl-C stops the run at once, long before its 20 s CPU limit."""
    if threading.current_thread() is not threading.main_thread():
        pytest.fail("this test sends SIGINT to the process: it must run on the main thread")
    t = at.orchestrator_from_str(
        "n = 0\nwhile True:\n    n += 1", inputs={}, plugin_config=at.SandboxedConfig(timeout_ms=20_000)
    )
    press = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    try:
        press.start()
        with pytest.raises(KeyboardInterrupt):
            t()
        took = time.monotonic() - started
    finally:
        press.cancel()
        signal.signal(signal.SIGINT, previous)
    assert took < 10
    assert at.orchestrator_from_str("1 + 1", inputs={}, output=int)() == 2
