"""`agent-tools mcp serve`: run_code served over MCP, driven by the official MCP client
SDK against the real command in a subprocess, over stdio and over streamable HTTP.

The functions are the demo shop's (its database built once, in a temporary data
directory), the tools of tests/mcp_test_server.py (an upstream MCP server), or
tests/mcp_server_tools.py, whose functions write what really ran to a journal file
the test reads."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.session import ClientRequestContext, ElicitationFnT
from mcp.client.streamable_http import streamable_http_client
from mcp.types import (
    CallToolResult,
    ElicitRequestParams,
    ElicitResult,
    ErrorData,
    LoggingMessageNotificationParams,
    TextContent,
)

from agent_tools import CodeRunner, demo
from agent_tools.demo import db

from .mcp_server_tools import journal

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parent.parent
SERVE = ["-m", "agent_tools.cli", "mcp", "serve"]
TOOLS = "tests.mcp_server_tools:FUNCTIONS"
UPSTREAM = shlex.join([sys.executable, str(REPO / "tests" / "mcp_test_server.py")])

REFUND_CODE = """\
out = []
for order_id, amount in [(7, 120.0), (8, 80.0)]:
    try:
        out.append(refund(order_id, amount))
    except PermissionError as e:
        out.append("refused: " + str(e))
out
"""


# ---------------------------------------------------------------------------
# The server and the client


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo database for the module, built once here instead of in every server."""
    path = tmp_path_factory.mktemp("agent-tools-data")
    db.build_database(path / db.FILE_NAME)
    return path


def _env(data_dir: Path, journal_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, AGENT_TOOLS_DATA_DIR=str(data_dir), MCP_SERVER_JOURNAL=str(journal_path))
    env.update(extra)
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.jsonl"


@dataclass
class Client:
    """A client session and what the server sent it besides responses."""

    session: ClientSession
    logs: list[LoggingMessageNotificationParams] = field(default_factory=lambda: [])
    asked: list[str] = field(default_factory=lambda: [])

    @property
    def log_texts(self) -> list[str]:
        return [str(entry.data) for entry in self.logs]

    async def run(self, code: str, **arguments: Any) -> tuple[CallToolResult, list[tuple[float, str | None]]]:
        """Call run_code; the result, and the progress notifications of the call in order."""
        seen: list[tuple[float, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, message))

        result = await self.session.call_tool(
            "run_code", {"code": code, **arguments}, read_timeout_seconds=30, progress_callback=on_progress
        )
        return result, seen


def text_of(result: CallToolResult) -> str:
    assert len(result.content) == 1
    content = result.content[0]
    assert isinstance(content, TextContent)
    return content.text


def value_of(result: CallToolResult) -> Any:
    """The `result` of a successful run_code call."""
    assert not result.is_error, text_of(result)
    return json.loads(text_of(result))["result"]


def elicitation(answer: ElicitResult, asked: list[str]) -> ElicitationFnT:
    async def callback(
        context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult | ErrorData:
        asked.append(params.message)
        return answer

    return callback


@contextlib.asynccontextmanager
async def stdio_server(
    env: dict[str, str], *args: str, answer: ElicitResult | None = None, errlog: Path
) -> AsyncGenerator[Client]:
    """`agent-tools mcp serve ARGS` as a subprocess, with a client session on its stdio.
    The server stops when the client leaves (the SDK's stdio client ends it)."""
    params = StdioServerParameters(command=sys.executable, args=[*SERVE, *args], env=env, cwd=str(REPO))
    logs: list[LoggingMessageNotificationParams] = []
    asked: list[str] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        logs.append(params)

    with errlog.open("a") as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(
                read,
                write,
                logging_callback=on_log,
                elicitation_callback=None if answer is None else elicitation(answer, asked),
            ) as session,
        ):
            await session.initialize()
            yield Client(session, logs, asked)


@contextlib.asynccontextmanager
async def http_client(url: str, answer: ElicitResult | None = None) -> AsyncGenerator[Client]:
    logs: list[LoggingMessageNotificationParams] = []
    asked: list[str] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(30.0, read=60.0)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(
            read,
            write,
            logging_callback=on_log,
            elicitation_callback=None if answer is None else elicitation(answer, asked),
        ) as session,
    ):
        await session.initialize()
        yield Client(session, logs, asked)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class HttpServer:
    url: str
    journal: Path
    stderr: Path
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def http_server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """`agent-tools mcp serve --http --stateful` on a free loopback port, with the demo
    shop and the journaling functions; stopped after the module."""
    tmp = tmp_path_factory.mktemp("mcp-http")
    port = free_port()
    stderr_path = tmp / "stderr.txt"
    args = [
        "--http",
        "--port",
        str(port),
        "--stateful",
        "--tools",
        TOOLS,
        "--tools",
        "agent_tools.demo:FUNCTIONS",
    ]
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, *SERVE, *args],
            env=_env(data_dir, tmp / "journal.jsonl"),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}: {stderr_path.read_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the server did not listen on port {port} within 30 s: {stderr_path.read_text()}"
                )
            time.sleep(0.1)
        yield HttpServer(f"http://127.0.0.1:{port}/mcp", tmp / "journal.jsonl", stderr_path, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


async def settled_ticks(path: Path, first: int) -> list[int]:
    """The ticks from `first` on that ran, once no new one has come for a second (a
    stopped run makes no more calls; a running one makes ten a second)."""
    deadline = time.monotonic() + 15
    ran = [entry[1] for entry in journal(path) if entry[0] == "tick" and entry[1] >= first]
    while True:
        await asyncio.sleep(1.0)
        now = [entry[1] for entry in journal(path) if entry[0] == "tick" and entry[1] >= first]
        if now == ran:
            return ran
        assert time.monotonic() < deadline, f"the calls did not stop: {now}"
        ran = now


def expected_name(data_dir: Path, monkeypatch: pytest.MonkeyPatch, customer_id: int) -> str:
    """The customer's name as the demo function gives it in this process."""
    monkeypatch.setenv("AGENT_TOOLS_DATA_DIR", str(data_dir))
    return demo.get_customer(customer_id)["name"]


def reply_text(data_dir: Path, monkeypatch: pytest.MonkeyPatch, code: str) -> str:
    """What the other adapters give the model for `code` over the demo shop."""
    monkeypatch.setenv("AGENT_TOOLS_DATA_DIR", str(data_dir))
    return CodeRunner(demo.FUNCTIONS).run(code).text


# ---------------------------------------------------------------------------
# Over stdio


async def test_stdio_lists_run_code_and_runs_code_with_progress_and_logs(
    data_dir: Path, journal_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(data_dir, journal_path)
    async with stdio_server(env, errlog=tmp_path / "stderr.txt") as client:
        listed = await client.session.list_tools()
        assert [tool.name for tool in listed.tools] == ["run_code"]
        tool = listed.tools[0]
        assert tool.description is not None
        assert "def get_customer(" in tool.description and "def query(" in tool.description
        assert tool.input_schema["required"] == ["code"]
        assert set(tool.input_schema["properties"]) == {"code"}  # stateless: no restart

        result, progress = await client.run('c = get_customer(1)\nprint("found", c["name"])\nc["name"]')
        name = expected_name(data_dir, monkeypatch, 1)
        assert json.loads(text_of(result)) == {"result": name, "printed": f"found {name}\n"}
        assert text_of(result) == reply_text(
            data_dir, monkeypatch, 'c = get_customer(1)\nprint("found", c["name"])\nc["name"]'
        )
        assert tool.description == CodeRunner(demo.FUNCTIONS).description()
        assert [value for value, _ in progress] == [1, 2]
        assert progress[0][1] == "call 1: get_customer(1)"
        assert progress[1][1] is not None and progress[1][1].startswith("call 1 done: get_customer -> {")
        assert name in progress[1][1]
        assert client.log_texts == ["call 1: get_customer(1)", progress[1][1], f"printed: found {name}"]
        assert {entry.logger for entry in client.logs} == {"agent-tools"}

        # Two calls: one progress notification per call started and per call finished, in order.
        client.logs.clear()
        result, progress = await client.run(
            "a = get_customer(1)\nb = get_customer(2)\n[a['name'], b['name']]"
        )
        assert value_of(result) == [name, expected_name(data_dir, monkeypatch, 2)]
        assert [value for value, _ in progress] == [1, 2, 3, 4]
        messages = [message or "" for _, message in progress]
        assert messages[0] == "call 1: get_customer(1)" and messages[1].startswith(
            "call 1 done: get_customer"
        )
        assert messages[2] == "call 2: get_customer(2)" and messages[3].startswith(
            "call 2 done: get_customer"
        )
        assert client.log_texts == messages


async def test_stdio_fixable_errors_come_back_as_tool_errors_with_the_failing_line(
    data_dir: Path, journal_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with stdio_server(_env(data_dir, journal_path), errlog=tmp_path / "stderr.txt") as client:
        result, progress = await client.run("x = 1\nget_customer(999999)")
        assert result.is_error
        text = text_of(result)
        assert text == reply_text(data_dir, monkeypatch, "x = 1\nget_customer(999999)")
        assert "> 2 | get_customer(999999)" in text
        assert "  1 | x = 1" in text
        assert "KeyError" in text and "no customer with customer_id 999999" in text
        assert "Calls already made" in text and "Fix the code and call run_code again." in text
        assert progress[0][1] == "call 1: get_customer(999999)"
        assert (progress[1][1] or "").startswith("call 1 failed: get_customer raised KeyError")
        assert client.logs[-1].level == "warning"

        result, _ = await client.run("total = 0\n1 / 0")
        assert result.is_error
        assert "ZeroDivisionError" in text_of(result) and "> 2 | 1 / 0" in text_of(result)

        result, _ = await client.run("get_customer(1)['name']")  # the session goes on
        assert isinstance(value_of(result), str)


async def test_stdio_upstream_mcp_server_tools_become_functions(
    data_dir: Path, journal_path: Path, tmp_path: Path
) -> None:
    async with stdio_server(
        _env(data_dir, journal_path), "--mcp", UPSTREAM, errlog=tmp_path / "stderr.txt"
    ) as client:
        listed = await client.session.list_tools()
        [tool] = listed.tools
        assert tool.description is not None
        assert "def add(" in tool.description and "def upper(" in tool.description
        assert "def get_customer(" not in tool.description  # --mcp alone: no demo functions
        result, progress = await client.run('{"sum": add(2, 3), "up": upper("ab"), "n": len(list_items())}')
        assert value_of(result) == {"sum": 5, "up": "AB", "n": 3}
        assert [message for _, message in progress][::2] == [
            "call 1: add(2, 3)",
            "call 2: upper('ab')",
            "call 3: list_items()",
        ]


async def test_stdio_unfixable_errors_and_limits_are_tool_errors_and_the_server_goes_on(
    data_dir: Path, journal_path: Path, tmp_path: Path
) -> None:
    args = ["--tools", TOOLS, "--max-memory", "5000000", "--timeout-ms", "1000"]
    async with stdio_server(_env(data_dir, journal_path), *args, errlog=tmp_path / "stderr.txt") as client:
        result, progress = await client.run("tick(1)\nbroken()")
        assert result.is_error
        assert text_of(result) == "FatalToolError: the billing backend is down"
        messages = [message or "" for _, message in progress]  # sent all the same, before the answer
        assert messages[:3] == ["call 1: tick(1)", "call 1 done: tick -> 1", "call 2: broken()"]
        assert messages[3].startswith("call 2 failed: broken raised FatalToolError")

        result, _ = await client.run("x = [0] * 10_000_000\nlen(x)")
        assert result.is_error
        assert "memory limit exceeded" in text_of(result) and "(max_memory=5000000)" in text_of(result)
        assert "> 1 | x = [0] * 10_000_000" in text_of(result)

        client.logs.clear()
        result, _ = await client.run("n = 0\nwhile True:\n    n += 1")
        assert result.is_error
        assert "time limit exceeded" in text_of(result) and "timeout_ms=1000" in text_of(result)
        [limit] = [entry for entry in client.logs if str(entry.data).startswith("limit hit: TimeLimitError")]
        assert limit.level == "warning"

        result, _ = await client.run("tick(2) + 40")
        assert value_of(result) == 42
    assert journal(journal_path) == [["tick", 1], ["broken"], ["tick", 2]]


async def test_stdio_secrets_are_readable_and_redacted(
    data_dir: Path, journal_path: Path, tmp_path: Path
) -> None:
    value = "s3cr3t-value-42"
    env = _env(data_dir, journal_path, MCP_TEST_TOKEN=value)
    code = (
        'import os\ntoken = os.getenv("MCP_TEST_TOKEN")\nprint(token)\n{"length": len(token), "token": token}'
    )
    async with stdio_server(env, "--secret", "MCP_TEST_TOKEN", errlog=tmp_path / "stderr.txt") as client:
        result, _ = await client.run(code)
        assert value_of(result) == {"length": len(value), "token": "[secret MCP_TEST_TOKEN]"}
        assert value not in text_of(result)
        assert all(value not in text for text in client.log_texts)
        assert "[secret MCP_TEST_TOKEN]" in text_of(result)

    # Declared but not set on the host: every run is refused (a SecretError), and the
    # server still answers.
    env.pop("MCP_TEST_TOKEN")
    async with stdio_server(env, "--secret", "MCP_TEST_TOKEN", errlog=tmp_path / "stderr.txt") as client:
        for _ in range(2):
            result, _ = await client.run("1 + 1")
            assert result.is_error
            assert text_of(result).startswith("SecretError: ")
            assert "secrets not set on the host: 'MCP_TEST_TOKEN'" in text_of(result)


async def test_stdio_cancelling_a_call_stops_the_run_and_the_next_call_works(
    data_dir: Path, journal_path: Path, tmp_path: Path
) -> None:
    async with stdio_server(
        _env(data_dir, journal_path), "--tools", TOOLS, errlog=tmp_path / "stderr.txt"
    ) as client:
        third_done = asyncio.Event()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            if (message or "").startswith("call 3 done"):
                third_done.set()

        code = "for i in range(100):\n    tick(i)\n'finished'"
        call = asyncio.create_task(
            client.session.call_tool("run_code", {"code": code}, progress_callback=on_progress)
        )
        await asyncio.wait_for(third_done.wait(), timeout=20)
        call.cancel()  # the SDK sends notifications/cancelled for the abandoned request
        with pytest.raises(asyncio.CancelledError):
            await call

        ran = await settled_ticks(journal_path, 0)  # a tick already running finishes; no new one starts
        assert 3 <= len(ran) < 50  # the loop would make 100 calls, 10 s of them

        result, _ = await client.run("tick(1000)")
        assert value_of(result) == 1000
        assert journal(journal_path)[-1] == ["tick", 1000]


async def test_stdio_stateful_session_keeps_variables_until_restart(
    data_dir: Path, journal_path: Path, tmp_path: Path
) -> None:
    async with stdio_server(
        _env(data_dir, journal_path), "--stateful", errlog=tmp_path / "stderr.txt"
    ) as client:
        listed = await client.session.list_tools()
        [tool] = listed.tools
        assert tool.input_schema["properties"]["restart"]["default"] is False
        assert tool.input_schema["required"] == ["code"]

        assert value_of((await client.run("x = 41"))[0]) is None
        assert value_of((await client.run("x + 1"))[0]) == 42
        assert value_of((await client.run("def double(n):\n    return 2 * n\ndouble(x)"))[0]) == 82

        result, _ = await client.run("x", restart=True)
        assert result.is_error
        assert "Name `x` used when not defined" in text_of(result) and "> 1 | x" in text_of(result)
        assert value_of((await client.run("x = 1\nx"))[0]) == 1


@pytest.mark.parametrize(
    ("answer", "refusal"),
    [
        pytest.param(ElicitResult(action="accept", content={"approve": True}), None, id="accepted"),
        pytest.param(
            ElicitResult(action="accept", content={"approve": False}),
            "the person did not approve it",
            id="not-approved",
        ),
        pytest.param(ElicitResult(action="decline"), "the person declined", id="declined"),
        pytest.param(ElicitResult(action="cancel"), "the person cancelled", id="cancelled"),
        pytest.param(None, "the MCP client cannot ask a person", id="no-elicitation"),
    ],
)
async def test_stdio_approvals_ask_the_person_through_the_client(
    data_dir: Path, journal_path: Path, tmp_path: Path, answer: ElicitResult | None, refusal: str | None
) -> None:
    calls = ["refund(order_id=7, amount=120.0)", "refund(order_id=8, amount=80.0)"]
    env = _env(data_dir, journal_path)
    async with stdio_server(env, "--tools", TOOLS, answer=answer, errlog=tmp_path / "stderr.txt") as client:
        result, _ = await client.run(REFUND_CODE)
        if refusal is None:
            assert value_of(result) == ["refunded 7: 120.0", "refunded 8: 80.0"]
            assert client.log_texts == [  # each call waits, then runs once approved
                f"waiting for a person to approve {calls[0]} (line 4)",
                "call 1: refund(7, 120.0)",
                "call 1 done: refund -> 'refunded 7: 120.0'",
                f"waiting for a person to approve {calls[1]} (line 4)",
                "call 2: refund(8, 80.0)",
                "call 2 done: refund -> 'refunded 8: 80.0'",
            ]
        else:  # the code got a PermissionError at each call, with the reason
            assert value_of(result) == [f"refused: {call} was not approved: {refusal}" for call in calls]
        # Asked once per call, before it ran; never when the client cannot ask.
        assert client.asked == ([] if answer is None else [f"approve {call}?" for call in calls])
        waiting = [text for text in client.log_texts if text.startswith("waiting")]
        assert waiting == [f"waiting for a person to approve {call} (line 4)" for call in calls]
        result, _ = await client.run("tick(5)")  # the session goes on
        assert value_of(result) == 5
    ran = [["refund", 7, 120.0], ["refund", 8, 80.0]] if refusal is None else []
    assert journal(journal_path) == [*ran, ["tick", 5]]


# ---------------------------------------------------------------------------
# Over streamable HTTP


async def test_http_runs_code_with_progress(
    http_server: HttpServer, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert f"{http_server.url} (streamable HTTP)" in http_server.stderr.read_text()
    async with http_client(http_server.url) as client:
        listed = await client.session.list_tools()
        [tool] = listed.tools
        assert tool.name == "run_code"
        assert tool.description is not None and "def get_customer(" in tool.description
        assert "def tick(" in tool.description
        result, progress = await client.run("get_customer(3)['name']")
        assert value_of(result) == expected_name(data_dir, monkeypatch, 3)
        assert progress[0][1] == "call 1: get_customer(3)"
        assert [value for value, _ in progress] == [1, 2]
        assert client.log_texts[0] == "call 1: get_customer(3)"

        result, _ = await client.run("y = 2\ny / 0")
        assert result.is_error and "> 2 | y / 0" in text_of(result)


async def test_http_state_is_per_session(http_server: HttpServer) -> None:
    async with http_client(http_server.url) as first, http_client(http_server.url) as second:
        assert value_of((await first.run("counter = 10"))[0]) is None
        result, _ = await second.run("counter")
        assert result.is_error and "Name `counter` used when not defined" in text_of(result)
        assert value_of((await second.run("counter = 1"))[0]) is None
        assert value_of((await first.run("counter + 1"))[0]) == 11
        assert value_of((await second.run("counter + 1"))[0]) == 2
        result, _ = await first.run("counter", restart=True)
        assert result.is_error
    async with http_client(http_server.url) as third:  # a new session starts empty
        result, _ = await third.run("counter")
        assert result.is_error and "Name `counter` used when not defined" in text_of(result)


async def test_http_approval_and_cancellation(http_server: HttpServer) -> None:
    answer = ElicitResult(action="accept", content={"approve": True})
    async with http_client(http_server.url, answer) as client:
        code = "try:\n    r = refund(41, 1.5)\nexcept PermissionError:\n    r = 'refused'\nr"
        result, _ = await client.run(code)
        assert value_of(result) == "refunded 41: 1.5"
        assert client.asked == ["approve refund(order_id=41, amount=1.5)?"]
        assert ["refund", 41, 1.5] in journal(http_server.journal)

        started = asyncio.Event()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            if (message or "").startswith("call 2 done"):
                started.set()

        call = asyncio.create_task(
            client.session.call_tool(
                "run_code", {"code": "for i in range(500, 600):\n    tick(i)"}, progress_callback=on_progress
            )
        )
        await asyncio.wait_for(started.wait(), timeout=20)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        ran = await settled_ticks(http_server.journal, 500)
        assert 2 <= len(ran) < 50

        result, _ = await client.run("tick(7) * 6")
        assert value_of(result) == 42


# ---------------------------------------------------------------------------
# Bad usage


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "9000"], "--port applies to --http"),
        (["--http", "--port", "70000"], "--port must be from 1 to 65535"),
        (["--timeout-ms", "0"], "--timeout-ms must be positive"),
        (["--max-memory", "-5"], "--max-memory must be a positive number of bytes"),
        (["--secret", "not-a-name"], "--secret 'not-a-name': expected an environment variable name"),
        (["--tools", "no_such_module_here:FUNCTIONS"], "cannot import no_such_module_here"),
        (["--tools", "tests.mcp_server_tools"], "expected module:attribute"),
    ],
)
def test_bad_usage_exits_2_naming_the_problem(
    args: list[str], message: str, data_dir: Path, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, *SERVE, *args],
        env=_env(data_dir, tmp_path / "journal.jsonl", COLUMNS="200"),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert proc.stdout == ""


def test_http_port_in_use_exits_2(data_dir: Path, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, *SERVE, "--http", "--port", str(port)],
            env=_env(data_dir, tmp_path / "journal.jsonl", COLUMNS="200"),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 2, proc.stderr
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in proc.stderr
