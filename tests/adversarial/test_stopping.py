"""Stopping and exiting: Ctrl-C stops a run within about half a second, with status
130 and a healthy pool; a hung host function never keeps the process from exiting."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("agent-tools")

PRELUDE = """
import asyncio, sys, time
import agent_tools as at

def hang(i: int) -> int:
    time.sleep(3600)
    return i

def ok_after() -> None:
    t = at.orchestrator_from_str("x + 1", inputs={"x": int}, output=int)
    assert t(x=1) == 2
    print("pool healthy", flush=True)
"""


def _sigint_as_in_a_terminal() -> None:
    """In the child, before exec: Ctrl-C's default action. A parent started in the
    background (`cmd &` without job control, as some CI runners do) ignores SIGINT, and
    a Python started with SIGINT ignored never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(body: str, tmp_path: Path) -> subprocess.Popen[str]:
    script = tmp_path / "job.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    return subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        preexec_fn=_sigint_as_in_a_terminal,
    )


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", line + (proc.stderr.read() if proc.stderr else "")
    time.sleep(0.5)  # let the run get going


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, float, str]:
    started = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, time.perf_counter() - started, out + err


SYNC_LOOP = """
t = at.orchestrator_from_str("while True:\\n    pass", inputs={}, {options})
print("ready", flush=True)
try:
    t()
except KeyboardInterrupt:
    ok_after()
    sys.exit(130)
"""


@pytest.mark.parametrize("options", ["", "timeout=60", "timeout_ms=120_000"])
def test_ctrl_c_stops_a_cpu_loop_at_once(options: str, tmp_path: Path) -> None:
    proc = start(SYNC_LOOP.replace("{options}", options), tmp_path)
    wait_ready(proc)
    status, seconds, output = interrupt(proc)
    assert status == 130, output
    assert "pool healthy" in output
    assert seconds < 5, seconds  # about 0.1 s here; generous for a loaded machine


def test_ctrl_c_stops_a_run_waiting_in_a_host_function(tmp_path: Path) -> None:
    body = """
    t = at.orchestrator_from_str("hang(1)", inputs={}, tasks=[hang])
    print("ready", flush=True)
    try:
        t()
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    """
    proc = start(body, tmp_path)
    wait_ready(proc)
    status, seconds, output = interrupt(proc)
    assert status == 130, output
    assert "interrupted" in output
    assert seconds < 5, seconds


def test_ctrl_c_stops_an_async_run(tmp_path: Path) -> None:
    body = """
    t = at.orchestrator_from_str("while True:\\n    pass", inputs={})
    print("ready", flush=True)
    try:
        asyncio.run(t.aio())
    except KeyboardInterrupt:
        ok_after()
        sys.exit(130)
    """
    proc = start(body, tmp_path)
    wait_ready(proc)
    status, seconds, output = interrupt(proc)
    assert status == 130, output
    assert "pool healthy" in output
    assert seconds < 5, seconds


def test_ctrl_c_stops_the_cli(tmp_path: Path) -> None:
    code = tmp_path / "loop.py"
    code.write_text("while True:\n    pass\n")
    proc = subprocess.Popen(
        [str(CLI), "run", str(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_as_in_a_terminal,
    )
    time.sleep(3)  # start-up and the run under way
    status, seconds, output = interrupt(proc)
    assert status == 130, output
    assert seconds < 5, seconds


@pytest.mark.parametrize(
    "code", ["parallel_map(hang, range(4))", "hang(1)", "parallel_map(hang, range(40), concurrency=32)"]
)
def test_hung_host_function_does_not_keep_the_process_alive(code: str, tmp_path: Path) -> None:
    body = f"""
    t = at.orchestrator_from_str({code!r}, inputs={{}}, tasks=[hang], timeout=0.5)
    try:
        t()
    except at.TimeLimitError as exc:
        print("timed out:", str(exc).splitlines()[0], flush=True)
    ok_after()
    """
    proc = start(body, tmp_path)
    started = time.perf_counter()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert "timed out" in out and "wall clock" in out
    assert "pool healthy" in out
    assert time.perf_counter() - started < 30


def test_hung_async_caller_run_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    body = """
    t = at.orchestrator_from_str("hang(1)", inputs={}, tasks=[hang], timeout=0.5)
    async def main() -> None:
        try:
            await t.aio()
        except at.TimeLimitError:
            print("timed out", flush=True)
    asyncio.run(main())
    ok_after()
    """
    proc = start(body, tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert "timed out" in out and "pool healthy" in out


@pytest.mark.parametrize("seconds", [0.05, 0.3])
def test_exit_status_survives_a_host_function_returning_as_the_process_exits(
    seconds: float, tmp_path: Path
) -> None:
    # A run given up on at its wall-clock timeout leaves its host function running; if
    # it returns into Monty while the interpreter finalizes, the process must still
    # exit with its own status (it used to abort with SIGABRT, status 134).
    body = f"""
    def nap(i: int) -> int:
        time.sleep({seconds})
        return i
    t = at.orchestrator_from_str("nap(1)", inputs={{}}, tasks=[nap], timeout=0.02)
    for _ in range(3):
        try:
            t()
        except at.TimeLimitError:
            pass
    sys.exit(7)
    """
    for _ in range(4):
        proc = start(body, tmp_path)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 7, out + err
