"""Issue 3: cache, retries, timeout, secrets, report, debuggable, hooks, override."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import agent_tools as at
from agent_tools.task import cache as result_cache

from .conftest import add


class Counter:
    """A registered function that counts its calls and fails the first `fail` of them."""

    def __init__(self, fail: int = 0) -> None:
        self.calls = 0
        self.fail = fail
        self.__name__ = "work"

    def __call__(self, n: int) -> int:
        self.calls += 1
        if self.calls <= self.fail:
            raise ConnectionError(f"flaky {self.calls}")
        return n * 10


# -- cache -----------------------------------------------------------------------------


def test_cache_auto_serves_a_hit_without_running() -> None:
    work = Counter()
    t = at.orchestrator_from_str("work(n) + 1", inputs={"n": int}, output=int, tasks=[work], cache="auto")
    first = at.run(t, n=1)
    assert (first.result, first.cached, work.calls) == (11, False, 1)
    second = at.run(t, n=1)
    assert (second.result, second.cached, second.calls, work.calls) == (11, True, [], 1)
    assert at.run(t, n=2).cached is False and work.calls == 2
    assert t(n=2) == 21 and work.calls == 2


def test_cache_key_covers_source_output_functions_version_and_salt() -> None:
    work = Counter()

    def make(code: str = "work(n)", **kw: Any) -> at.CodeTaskTemplate:
        opts: dict[str, Any] = {"output": int, "tasks": [work], "cache": "auto", **kw}
        return at.orchestrator_from_str(code, inputs={"n": int}, **opts)

    make()(n=1)
    make()(n=1)
    assert work.calls == 1
    make("work(n) ")(n=1)  # the source is stripped: same code, same key
    assert work.calls == 1
    make("work(n) * 1")(n=1)
    make(output=float)(n=1)
    make(cache=at.Cache(version="2"))(n=1)
    make(cache=at.Cache(salt="s"))(n=1)

    def other(n: int, m: int = 0) -> int:
        return n

    make(tasks=[work, other])(n=1)
    assert work.calls == 6


def test_cache_ignored_inputs_and_override() -> None:
    work = Counter()
    cache = at.Cache(ignored_inputs="trace_id")
    t = at.orchestrator_from_str(
        "work(n)", inputs={"n": int, "trace_id": str}, output=int, tasks=[work], cache=cache
    )
    t(n=1, trace_id="a")
    assert at.run(t, n=1, trace_id="b").cached is True
    over = t.override(cache="override")
    assert at.run(over, n=1, trace_id="c").cached is False
    assert work.calls == 2
    assert at.run(t, n=1, trace_id="d").cached is True


def test_failed_runs_are_never_cached() -> None:
    work = Counter(fail=1)
    t = at.orchestrator_from_str("work(n)", inputs={"n": int}, output=int, tasks=[work], cache="auto")
    with pytest.raises(at.HostFunctionError):
        t(n=1)
    assert len(result_cache.get_store()) == 0
    assert at.run(t, n=1).cached is False


def test_disable_never_reads_or_writes() -> None:
    work = Counter()
    t = at.orchestrator_from_str("work(n)", inputs={"n": int}, output=int, tasks=[work])
    t(n=1)
    t(n=1)
    assert work.calls == 2 and len(result_cache.get_store()) == 0


def test_a_second_process_sees_the_first_processes_entry(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        import agent_tools as at
        calls = []
        def work(n: int) -> int:
            calls.append(n)
            return n * 10
        t = at.orchestrator_from_str("work(n)", inputs={"n": int}, output=int, tasks=[work], cache="auto")
        rec = at.run(t, n=4)
        print(rec.result, rec.cached, len(calls))
        """
    )
    env = {"AGENT_TOOLS_CACHE_PATH": str(tmp_path / "shared.sqlite3"), "PATH": "/usr/bin:/bin"}
    outs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
        for _ in range(2)
    ]
    assert [o.stdout.split() for o in outs] == [["40", "False", "1"], ["40", "True", "0"]], outs


def test_bad_cache_values() -> None:
    with pytest.raises(ValueError, match="sometimes"):
        at.orchestrator_from_str("1", inputs={}, cache="sometimes")
    with pytest.raises(TypeError, match="cache"):
        at.orchestrator_from_str("1", inputs={}, cache=3)


# -- retries ---------------------------------------------------------------------------


def test_retries_rerun_a_failing_host_function_and_keep_each_error() -> None:
    work = Counter(fail=2)
    t = at.orchestrator_from_str(
        "print('try')\nwork(n)", inputs={"n": int}, output=int, tasks=[work], retries=2
    )
    rec = at.run(t, n=3)
    assert rec.result == 30 and rec.attempts == 3 and work.calls == 3
    assert [type(e).__name__ for e in rec.errors] == ["HostFunctionError", "HostFunctionError"]
    assert [c.attempt for c in rec.calls] == [1, 2, 3]
    assert rec.stdout == "try\n"  # the last attempt's output


def test_retries_give_up_after_count() -> None:
    work = Counter(fail=5)
    t = at.orchestrator_from_str(
        "work(n)", inputs={"n": int}, tasks=[work], retries=at.RetryStrategy(count=1)
    )
    with pytest.raises(at.HostFunctionError, match="flaky 2") as info:
        t(n=1)
    rec = info.value.record
    assert rec is not None and rec.attempts == 2 and len(rec.errors) == 2 and work.calls == 2


def test_retries_wait_with_backoff() -> None:
    work = Counter(fail=2)
    backoff = at.Backoff(base=timedelta(milliseconds=100), factor=2.0, cap=timedelta(seconds=1))
    t = at.orchestrator_from_str(
        "work(n)",
        inputs={"n": int},
        output=int,
        tasks=[work],
        retries=at.RetryStrategy(count=2, backoff=backoff),
    )
    started = time.perf_counter()
    assert t(n=1) == 10
    assert time.perf_counter() - started >= 0.3  # 0.1 s, then 0.2 s


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("work(n) +", at.SandboxSyntaxError),
        ("work(n)\n1 / 0", at.SandboxRuntimeError),
        ("work(n)\n'not an int'", at.OutputValidationError),
    ],
)
def test_errors_in_the_code_are_never_retried(code: str, error: type[Exception]) -> None:
    work = Counter()
    t = at.orchestrator_from_str(code, inputs={"n": int}, output=int, tasks=[work], retries=3)
    with pytest.raises(error) as info:
        t(n=1)
    assert info.value.record is not None and info.value.record.attempts == 1  # type: ignore[attr-defined]


def test_input_errors_are_never_retried() -> None:
    t = at.orchestrator_from_str("n", inputs={"n": int}, output=int, retries=3)
    with pytest.raises(at.InputValidationError) as info:
        t(n="x")
    assert info.value.record is not None and info.value.record.attempts == 0


# -- timeout ---------------------------------------------------------------------------


def test_timeout_bounds_host_function_time() -> None:
    release = threading.Event()

    def slow(n: int) -> int:
        release.wait(5)
        return n

    t = at.orchestrator_from_str("slow(1)\nslow(2)", inputs={}, tasks=[slow], timeout=0.3)
    started = time.perf_counter()
    with pytest.raises(at.TimeLimitError, match=r"timeout=0.3s") as info:
        t()
    assert time.perf_counter() - started < 2
    release.set()
    rec = info.value.record
    assert rec is not None and [c.function for c in rec.calls] == ["slow"]
    assert add(1, 1) == 2 and at.orchestrator_from_str("add(1, 2)", inputs={}, output=int, tasks=[add])() == 3


async def test_timeout_cancels_pending_async_host_calls() -> None:
    cancelled = asyncio.Event()

    async def wait_forever() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    t = at.orchestrator_from_str(
        "wait_forever()", inputs={}, tasks=[wait_forever], timeout=timedelta(seconds=0.3)
    )
    with pytest.raises(at.TimeLimitError):
        await t.aio()
    await asyncio.wait_for(cancelled.wait(), 5)


def test_timeout_forms() -> None:
    assert at.orchestrator_from_str("1", inputs={}, timeout=2).timeout == at.Timeout(max_runtime=2)
    t = at.orchestrator_from_str("1", inputs={}, timeout=at.Timeout(max_runtime=timedelta(minutes=1)))
    assert t.timeout is not None and t.timeout.seconds == 60
    with pytest.raises(TypeError, match="timeout must be seconds"):
        at.orchestrator_from_str("1", inputs={}, timeout="1m")


# -- env vars and secrets ----------------------------------------------------------------

SECRET = "s3cr3t-VALUE-42"


def test_secrets_are_visible_to_the_code_and_absent_from_everything_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_TOKEN", SECRET)

    def call_api(token: str) -> str:
        if token != SECRET:
            raise PermissionError("bad token")
        return f"echo {token}"

    t = at.orchestrator_from_str(
        """
        import os
        token = os.getenv("API_TOKEN")
        print("token is", token)
        reply = call_api(token)
        raise ValueError("failed with " + token + " / " + reply)
        """,
        inputs={},
        tasks=[call_api],
        secrets=at.Secret(key="api-token"),
        cache="auto",
        report=True,
        debuggable=True,
    )
    with pytest.raises(at.SandboxRuntimeError) as info:
        t()
    err = info.value
    rec = err.record
    assert rec is not None and rec.calls[0].result == "echo [secret API_TOKEN]"
    texts = [str(err), repr(err.args), err.traceback or "", repr(err.frames), rec.stdout, repr(rec.calls)]
    texts += [repr(e) for e in rec.errors] + [rec.traceback or "", repr(rec.frames)]
    assert rec.report_path is not None
    texts.append(rec.report_path.read_text())
    for text in texts:
        assert SECRET not in text
    assert "[secret API_TOKEN]" in rec.stdout


def test_secret_values_stay_out_of_cache_keys_and_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN", SECRET)
    t = at.orchestrator_from_str(
        "import os\nos.getenv('TOKEN')", inputs={}, output=str, secrets="token", cache="auto"
    )
    assert t() == "[secret TOKEN]"
    db = Path(result_cache.get_store().path).read_bytes()
    assert SECRET.encode() not in db


def test_missing_secret_is_a_clear_error() -> None:
    t = at.orchestrator_from_str("1", inputs={}, output=int, secrets=["nope-missing"])
    with pytest.raises(at.SecretError, match="host environment variable NOPE_MISSING"):
        t()


def test_secrets_and_env_vars_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("G_KEY", "v1")
    t = at.orchestrator_from_str(
        "import os\n(os.getenv('MODE'), os.getenv('G_KEY') is not None, os.getenv('HOME'))",
        inputs={},
        output=tuple,
        env_vars={"MODE": "prod"},
        secrets=[at.Secret(key="key", group="g")],
    )
    assert t() == ("prod", True, None)


# -- report and debuggable -----------------------------------------------------------------


def test_report_writes_an_html_page_of_the_run() -> None:
    t = at.orchestrator_from_str(
        "print('hello')\nadd(x, 2)", inputs={"x": int}, output=int, tasks=[add], report=True
    )
    rec = at.run(t, x=40)
    assert rec.report_path is not None and rec.report_path.suffix == ".html"
    page = rec.report_path.read_text()
    for piece in ("add(x, 2)", "hello", "42", "add"):
        assert piece in page
    assert at.run(t.override(report=False), x=1).report_path is None


def test_debuggable_keeps_the_traceback() -> None:
    code = "def inner(v):\n    return 1 / v\ndef outer(v):\n    return inner(v)\nouter(x)"
    plain = at.orchestrator_from_str(code, inputs={"x": int}, output=float)
    with pytest.raises(at.SandboxRuntimeError) as info:
        plain(x=0)
    assert info.value.record is not None and info.value.record.traceback is None
    debug = plain.override(debuggable=True)
    with pytest.raises(at.SandboxRuntimeError) as info:
        debug(x=0)
    rec = info.value.record
    assert rec is not None and rec.traceback is not None
    assert "return 1 / v" in rec.traceback and "ZeroDivisionError" in rec.traceback
    assert [f["function_name"] for f in rec.frames] == ["<module>", "outer", "inner"]
    assert [f["line"] for f in rec.frames] == [5, 4, 2]


# -- hooks -------------------------------------------------------------------------------


class Hooked(at.CodeTaskTemplate):
    log: list[str]

    def pre(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.log.append(f"pre {kwargs}")
        return {}

    def post(self, return_vals: Any) -> Any:
        self.log.append(f"post {return_vals}")
        return return_vals * 100


def test_pre_and_post_run_in_order_and_post_transforms() -> None:
    t = Hooked(
        name="hooked",
        interface=at.NativeInterface.from_types({"x": int}, int),
        _user_source="log_call(x)\nx + 1",
        _user_functions={"log_call": lambda x: t.log.append(f"call {x}")},
    )
    t.log = []
    assert t(x=1) == 200
    assert t.log == ["pre {'x': 1}", "call 1", "post 2"]


class AsyncHooked(at.CodeTaskTemplate):
    async def post(self, return_vals: Any) -> Any:  # type: ignore[override]
        await asyncio.sleep(0)
        return f"<{return_vals}>"


def test_hooks_may_be_coroutines() -> None:
    t = AsyncHooked(name="a", interface=at.NativeInterface.from_types({}, str), _user_source="'v'")
    assert t() == "<v>"


# -- override ------------------------------------------------------------------------------


def test_override_returns_a_new_template_and_leaves_the_original() -> None:
    t = at.orchestrator_from_str("s * 2", inputs={"s": str}, output=str, max_inline_io_bytes=100, retries=1)
    big = t.override(max_inline_io_bytes=10_000, retries=3, short_name="big", queue="q")
    assert (big.max_inline_io_bytes, big.retries.count, big.short_name, big.queue) == (10_000, 3, "big", "q")
    assert (t.max_inline_io_bytes, t.retries.count, t.short_name, t.queue) == (100, 1, "sandboxed-code", None)
    with pytest.raises(at.OutputValidationError):
        t(s="a" * 60)
    assert big(s="a" * 60) == "a" * 120
    for fixed in ("name", "image", "docs", "interface"):
        with pytest.raises(ValueError, match=f"{fixed} cannot be overridden"):
            t.override(**{fixed: None})
    with pytest.raises(TypeError, match="unknown parameters: colour"):
        t.override(colour="red")


class FakeReusePolicy:
    """Stands in for flyte.ReusePolicy (the check is by the class's module)."""


FakeReusePolicy.__module__ = "flyte._reusable_environment"


def test_override_reusable_rules() -> None:
    t = at.orchestrator_from_str("1", inputs={}, output=int, reusable=FakeReusePolicy())
    for key, value in (("resources", {"cpu": 2}), ("env_vars", {"A": "1"}), ("secrets", "s")):
        with pytest.raises(ValueError, match=f"cannot override {key} when reusable is set"):
            t.override(**{key: value})
    off = t.override(reusable="off", resources={"cpu": 2})
    assert off.reusable is None and off.resources == {"cpu": 2}


# -- what a Flyte backend asks ----------------------------------------------------------------


def test_backend_methods() -> None:
    t = at.orchestrator_from_str(
        "add(x, 1)",
        inputs={"x": int},
        output=int,
        tasks=[add],
        plugin_config=at.SandboxedConfig(timeout_ms=5000),
    )
    assert t.config() == {
        "timeout_ms": "5000",
        "max_memory": "52428800",
        "max_stack_depth": "256",
        "type_check": "false",
    }
    custom = t.custom_config(at.SerializationContext())
    assert (
        custom["source"] == "add(x, 1)" and custom["functions"] == ["add"] and custom["input_names"] == ["x"]
    )
    assert custom["sandbox"]["timeout_ms"] == 5000
    meta = t.override(queue="q", resources={"cpu": 1}, links=("dash",)).custom_config()["metadata"]
    assert (meta["queue"], meta["resources"], meta["links"]) == ("q", {"cpu": 1}, ["dash"])
    args = t.container_args(
        at.SerializationContext(input_path="s3://in", output_path="s3://out", version="v1")
    )
    assert args[:7] == ["a0", "--inputs", "s3://in", "--outputs-path", "s3://out", "--version", "v1"]
    assert t.container_args()[2] == "{{.input}}"
    assert t.sql() is None and t.data_loading_config() is None


def test_a_crashed_worker_is_retried() -> None:
    from .conftest import monty_workers

    started = threading.Event()
    attempts: list[int] = []

    def begin() -> int:
        attempts.append(len(attempts) + 1)
        started.set()
        return len(attempts)

    t = at.orchestrator_from_str(
        "n = begin()\nif n == 1:\n    while True:\n        pass\n'done on attempt ' + str(n)",
        inputs={},
        output=str,
        tasks=[begin],
        retries=1,
        plugin_config=at.SandboxedConfig(timeout_ms=20_000),
    )

    def kill_first_attempt() -> None:
        assert started.wait(10)
        time.sleep(0.1)
        for pid in monty_workers():
            os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_first_attempt)
    killer.start()
    rec = at.run(t)
    killer.join()
    assert rec.result == "done on attempt 2" and rec.attempts == 2
    assert [type(e).__name__ for e in rec.errors] == ["WorkerCrashedError"]


def test_plain_runs_keep_the_same_record_as_the_general_path() -> None:
    """A template with no hooks, cache, retries, secrets or timeout takes the short
    path: its record counts attempts, errors, output and time as the general path does."""
    plain = at.orchestrator_from_str(
        "print(n)\nn * 2 if n > 0 else 'negative'", inputs={"n": int}, output=int
    )
    for template in (plain, plain.override(retries=1)):
        record = at.run(template, n=4)
        assert (record.result, record.attempts, record.errors, record.stdout) == (8, 1, [], "4\n")
        assert record.duration > 0
        with pytest.raises(at.InputValidationError) as bad_input:
            template(n="x")
        assert bad_input.value.record is not None
        assert (bad_input.value.record.attempts, bad_input.value.record.errors) == (0, [bad_input.value])
        with pytest.raises(at.OutputValidationError) as bad_output:
            template(n=-1)
        failed = bad_output.value.record
        assert failed is not None
        assert (failed.attempts, failed.errors, failed.stdout) == (1, [bad_output.value], "-1\n")
        assert failed.duration > 0
