"""Servers on loopback for the tests: a JSON server on a free port, for tests that need
an OpenAI-compatible endpoint (the test supplies `answer(path, body) -> (status,
payload)`), and tests/mcp_test_server.py over streamable HTTP, as a subprocess."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MCP_SERVER = Path(__file__).with_name("mcp_test_server.py")
"""The tests' MCP server (the official SDK's), with 30+ tools."""
MCP_STDIO = [sys.executable, str(MCP_SERVER)]
"""The command that runs it over stdio."""

Answer = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]


def _handler(answer: Answer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, payload = answer(self.path, json.loads(self.rfile.read(length) or b"{}"))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
            pass

    return Handler


@contextmanager
def serve_json(answer: Answer) -> Iterator[str]:
    """Serve `answer` on 127.0.0.1 and yield the base URL (`.../v1`); the server is
    always shut down afterwards, and its thread must have stopped."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(answer))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive(), "the loopback server did not stop"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HttpServer:
    """tests/mcp_test_server.py over streamable HTTP on 127.0.0.1, as a subprocess."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*MCP_STDIO, "--http", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the HTTP test server exited"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the HTTP test server did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@contextmanager
def mcp_http_server() -> Iterator[HttpServer]:
    """The tests' MCP server over streamable HTTP, started, and stopped afterwards."""
    server = HttpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
