"""`agent-tools chat`, driven in a real terminal (pexpect) against a scripted
OpenAI-compatible server that the test runs on loopback.

The server plays a model: asked a question, it calls `run_code` with code that
counts the demo shop's customers; given the tool's result, it answers with the
number it read there. So the answer on the screen can only be right if the code
really ran against the demo database and its result went back to the model.
It streams (Server-Sent Events) when asked to, as the OpenAI API does, and a
question containing "slow" makes it hold the reply until the test ends, for
cancelling a turn with Ctrl-C.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.util import find_spec
from pathlib import Path
from typing import Any, cast

import pytest

pexpect = pytest.importorskip("pexpect")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX terminal")

CODE = 'rows = query("SELECT count(*) AS n FROM customers")\nrows[0]["n"]'
TIMEOUT = 30.0


def _command() -> list[str]:
    if find_spec("agent_tools.cli.__main__") is not None:
        return [sys.executable, "-m", "agent_tools.cli", "chat"]
    return [str(Path(sys.executable).parent / "agent-tools"), "chat"]


# --------------------------------------------------------------------------
# The scripted model


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _reply(messages: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """(text, code): a run_code call for a new question, an answer after a tool result."""
    last = messages[-1]
    if last["role"] == "tool":
        content = last["content"] if isinstance(last["content"], str) else json.dumps(last["content"])
        match = re.search(r'"result":\s*(\d+)', content)
        n = match.group(1) if match else "an unknown number of"
        return f"The shop has {n} customers in total.", None
    return None, CODE


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = cast(ScriptedModel, self.server)
        server.requests.append(body)
        messages = body["messages"]
        question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if "slow" in str(question) and messages[-1]["role"] == "user":
            server.slow_request.set()
            server.release.wait(TIMEOUT)  # until the test ends: the client cancels first
            return
        text, code = _reply(messages)
        usage = {"prompt_tokens": 321, "completion_tokens": 12, "total_tokens": 333}
        if body.get("stream"):
            self._stream(text, code, usage, bool(body.get("stream_options", {}).get("include_usage")))
        else:
            self._json(text, code, usage)

    def _json(self, text: str | None, code: str | None, usage: dict[str, int]) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = "stop" if code is None else "tool_calls"
        if code is not None:
            arguments = json.dumps({"code": code})
            message["tool_calls"] = [
                {"id": "call_1", "type": "function", "function": {"name": "run_code", "arguments": arguments}}
            ]
        data = json.dumps(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": "scripted",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, text: str | None, code: str | None, usage: dict[str, int], include_usage: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        chunks: list[dict[str, Any]] = []
        if code is not None:
            arguments = json.dumps({"code": code})
            half = len(arguments) // 2
            call = {"index": 0, "id": "call_1", "type": "function"}
            chunks.append(
                _chunk(
                    {
                        "role": "assistant",
                        "tool_calls": [{**call, "function": {"name": "run_code", "arguments": ""}}],
                    }
                )
            )
            for piece in (arguments[:half], arguments[half:]):
                chunks.append(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
            chunks.append(_chunk({}, "tool_calls"))
        else:
            assert text is not None
            chunks.append(_chunk({"role": "assistant", "content": ""}))
            chunks += [_chunk({"content": word}) for word in re.findall(r"\S+\s*", text)]
            chunks.append(_chunk({}, "stop"))
        if include_usage:
            chunks.append({**_chunk({}), "choices": [], "usage": usage})
        for chunk in chunks:
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


class ScriptedModel(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.slow_request = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def model_server() -> Iterator[ScriptedModel]:
    server = ScriptedModel()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


# --------------------------------------------------------------------------
# The terminal

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erasing
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: window title, hyperlinks
    r"|\x1b[()][0-9A-Za-z]|\x1b[=>78]"  # character sets, keypad modes, cursor save/restore
    r"|\r"
)
_PARTIAL_ESCAPE = re.compile(r"\x1b[^@-~]*$")


class Terminal:
    """The child's screen output as plain text (escape sequences removed), read
    until an expected text shows up. Waiting on the text itself, never on time."""

    def __init__(self, child: Any) -> None:
        self.child = child
        self.raw = ""
        self.pos = 0

    @property
    def text(self) -> str:
        return _ANSI.sub("", _PARTIAL_ESCAPE.sub("", self.raw))

    def expect(self, wanted: str, timeout: float = TIMEOUT) -> str:
        """Wait for `wanted` after the last match; return the text up to and including it."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text
            at = text.find(wanted, self.pos)
            if at >= 0:
                seen, self.pos = text[self.pos : at + len(wanted)], at + len(wanted)
                return seen
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{wanted!r} not shown within {timeout} s; the screen:\n{text[-4000:]}")
            try:
                self.raw += self.child.read_nonblocking(65536, timeout=min(left, 0.5))
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                raise AssertionError(
                    f"the program ended before showing {wanted!r}; the screen:\n{text}"
                ) from None

    def line(self, text: str) -> None:
        self.child.send(text + "\r")


def _spawn(args: list[str], data_dir: Path) -> Any:
    # As a user's shell would be: no key, and not under pytest or CI (pydantic-ai shows its
    # first-run banner only outside them, and the chat must keep it off the screen).
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "PYTEST_VERSION", "CI")}
    env.update(
        AGENT_TOOLS_DATA_DIR=str(data_dir),
        TERM="xterm",
        COLUMNS="120",
        LINES="40",
        PROMPT_TOOLKIT_NO_CPR="1",  # pexpect does not answer cursor position requests
    )
    command = _command() + args
    return pexpect.spawn(
        command[0], command[1:], env=env, dimensions=(40, 120), encoding="utf-8", codec_errors="replace"
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_chat_turn_commands_and_quit(model_server: ScriptedModel, data_dir: Path, tmp_path: Path) -> None:
    child = _spawn(["--base-url", model_server.base_url, "--model", "scripted"], data_dir)
    term = Terminal(child)
    try:
        term.expect("agent-tools chat")
        term.expect("you> ")

        term.line("How many customers does the shop have?")
        shown = term.expect("The shop has 600 customers in total.")
        assert "run_code" in shown
        assert 'rows = query("SELECT count(*) AS n FROM customers")' in shown  # the code
        assert "→ query('SELECT count(*) AS n FROM customers')" in shown  # the host call, live
        assert "[{'n': 600}]" in shown
        assert '{"result":600}' in shown  # what went back to the model
        term.expect("tokens 642 in / 24 out · 2 requests")
        assert "pydantic-ai v" not in term.text  # no banner in the conversation
        term.expect("you> ")

        # The server saw the tool's result, and the tools as the model sees them.
        assert [m["role"] for m in model_server.requests[1]["messages"]][-1] == "tool"
        description = model_server.requests[0]["tools"][0]["function"]["description"]
        assert "def query(" in description

        term.line("/tools")
        seen = term.expect("def list_shipments(")  # the last in the catalog
        assert "def query(" in seen and "def get_customer(" in seen
        term.expect("you> ")

        term.line("/code")
        seen = term.expect('rows[0]["n"]')
        assert 'rows = query("SELECT count(*) AS n FROM customers")' in seen
        term.expect("you> ")

        # Ctrl-C at the prompt clears the line and keeps the session.
        child.send("half typed")
        term.expect("half typed")
        child.sendcontrol("c")
        term.expect("you> ")

        # Ctrl-C during a turn cancels the turn, not the program.
        term.line("A slow question")
        assert model_server.slow_request.wait(TIMEOUT)  # the turn is under way
        assert model_server.requests[-1]["messages"][-1]["content"] == "A slow question"  # line was cleared
        child.sendintr()
        term.expect("turn cancelled")
        term.expect("you> ")

        transcript = tmp_path / "chat.md"
        term.line(f"/save {transcript}")
        term.expect("transcript saved")
        term.expect("you> ")
        saved = transcript.read_text()
        assert "How many customers does the shop have?" in saved
        assert "The shop has 600 customers in total." in saved
        assert "```python\n" + CODE + "\n```" in saved
        assert '{"result":600}' in saved

        term.line("/help")
        term.expect("/save FILE")
        term.line("/quit")
        child.expect(pexpect.EOF, timeout=TIMEOUT)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, term.text[-3000:]
    assert (data_dir / "chat_history").exists()


def test_eof_and_reset(model_server: ScriptedModel, data_dir: Path) -> None:
    child = _spawn(["--base-url", model_server.base_url], data_dir)
    term = Terminal(child)
    try:
        term.expect("you> ")
        term.line("/code")
        term.expect("no code has run yet")
        term.line("/reset")
        term.expect("conversation forgotten")
        term.expect("you> ")
        child.sendeof()
        child.expect(pexpect.EOF, timeout=TIMEOUT)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, term.text[-3000:]


def _run(args: list[str], tmp_path: Path, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update(AGENT_TOOLS_DATA_DIR=str(tmp_path / "data"), **env_vars)
    return subprocess.run(
        _command() + args, env=env, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL
    )


def test_no_credentials_exits_2_before_any_ui(tmp_path: Path) -> None:
    done = _run([], tmp_path)
    assert done.returncode == 2
    assert "OPENAI_API_KEY" in done.stderr
    assert "--base-url" in done.stderr
    assert done.stdout == ""


def test_key_from_named_variable_is_enough_to_start(tmp_path: Path) -> None:
    """With the key in another variable, the check passes; EOF on stdin ends at once."""
    done = _run(["--api-key-env", "MY_KEY"], tmp_path, MY_KEY="sk-test")
    assert done.returncode == 0, done.stderr
    assert "agent-tools chat" in done.stdout


def test_bad_tools_exit_2(tmp_path: Path) -> None:
    done = _run(["--base-url", "http://127.0.0.1:9/v1", "--tools", "no_such_module_xyz:FUNCTIONS"], tmp_path)
    assert done.returncode == 2
    assert "no_such_module_xyz" in done.stderr
    assert done.stdout == ""


def test_chat_with_an_mcp_server_gives_the_same_answer(model_server: ScriptedModel, data_dir: Path) -> None:
    """`--mcp SERVER`: the demo shop served over MCP (stdio, the official SDK) is what
    the code calls; the model reads its tools as typed stubs and gets the same answer."""
    server = f"{sys.executable} -m agent_tools.demo.mcp_server"
    child = _spawn(["--base-url", model_server.base_url, "--model", "scripted", "--mcp", server], data_dir)
    term = Terminal(child)
    try:
        term.expect("you> ")
        term.line("How many customers does the shop have?")
        shown = term.expect("The shop has 600 customers in total.")
        assert "→ query('SELECT count(*) AS n FROM customers')" in shown  # the MCP tool, called live
        assert '{"result":600}' in shown
        term.expect("you> ")
        description = model_server.requests[0]["tools"][0]["function"]["description"]
        assert "def query(sql: str" in description  # the stub made from the tool's input schema
        term.line("/quit")
        child.expect(pexpect.EOF, timeout=TIMEOUT)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, term.text[-3000:]


def test_chat_with_a_server_that_cannot_start_exits_2(tmp_path: Path) -> None:
    done = _run(["--mcp", "no-such-mcp-server-xyz"], tmp_path, OPENAI_API_KEY="sk-test")
    assert done.returncode == 2
    assert "no-such-mcp-server-xyz" in done.stderr and "cannot start" in done.stderr
