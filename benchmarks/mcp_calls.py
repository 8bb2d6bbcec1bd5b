"""What an MCP tool costs when the sandboxed code calls it (`agent_tools.mcp.connect`).

    python benchmarks/mcp_calls.py [--calls 100] [--repeat 21] [--http]

Starts a small MCP server (this file with `--serve`: the official SDK's `MCPServer`,
over stdio, or streamable HTTP on a free loopback port with `--http`) and measures,
in one process:

- per call, the same tool called N times in a row directly with the MCP client
  (`ClientSession.call_tool`, on an event loop of its own): the baseline;
- per call, the tool called N times from code in the sandbox (`for` loop over
  `add(i, 1)`), sync (`template()`) and async (`await template.aio()`), less an
  empty run; and the function `connect` gives, awaited directly (no sandbox);
- the same sync and async runs with the connection's thread left free: a colocated
  run pins it with its own round trip (see README, Runtime); these rows show what
  that gives;
- 20 calls of a tool that takes 100 ms, through `parallel_map` (its default
  concurrency, 8, and concurrency=20).

The samples are interleaved round by round, and each ratio printed is the median of
the ratios each round measured against its own direct sample (this machine's speed
drifts by half from minute to minute; a ratio of medians taken minutes apart drifts
with it).

Targets: from code <= 1.2x the direct call; 20 x 100 ms through parallel_map < 0.5 s.
It prints the figures; nothing asserts. Needs `pip install 'agent-tools[mcp]'`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncGenerator
from typing import Any

HERE = __file__


def serve(http_port: int | None) -> None:
    """The benchmark's server: `add` (instant) and `slow` (100 ms)."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("agent-tools-bench", log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> int:  # pyright: ignore[reportUnusedFunction]
        """a + b."""
        return a + b

    @server.tool()
    async def slow(x: int) -> int:  # pyright: ignore[reportUnusedFunction]
        """Waits 100 ms, then returns x."""
        await asyncio.sleep(0.1)
        return x

    if http_port is None:
        server.run()
    else:
        server.run("streamable-http", host="127.0.0.1", port=http_port)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _http_server() -> Any:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, HERE, "--serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the benchmark's HTTP server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.kill()
        process.wait()


@contextlib.asynccontextmanager
async def _direct_session(target: str | list[str]) -> AsyncGenerator[Any]:
    from mcp import ClientSession, StdioServerParameters, stdio_client
    from mcp.client.streamable_http import streamable_http_client

    if isinstance(target, str):
        async with streamable_http_client(target) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await session.list_tools()
            yield session
    else:
        params = StdioServerParameters(command=target[0], args=target[1:])
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await session.list_tools()
            yield session


async def _direct_sample(session: Any, calls: int) -> float:
    """Microseconds per `call_tool("add")`, the MCP client on the caller's loop."""
    start = time.perf_counter()
    for i in range(calls):
        await session.call_tool("add", {"a": i, "b": 1})
    return (time.perf_counter() - start) / calls * 1e6


@contextlib.contextmanager
def _serving_threads_left_free() -> Any:
    """Colocated runs leave the connection's thread unpinned meanwhile (the benchmark's
    A/B of `Pin.serve`; nothing else changes)."""
    from agent_tools.sandbox.affinity import Pin

    serve = Pin.serve
    Pin.serve = lambda self, source: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        Pin.serve = serve  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port)
        return

    from agent_tools import configure, orchestrator_from_str
    from agent_tools.mcp import connect

    calls: int = args.calls
    repeat: int = args.repeat
    with contextlib.ExitStack() as stack:
        target: str | list[str] = (
            stack.enter_context(_http_server()) if args.http else [sys.executable, HERE, "--serve"]
        )
        transport = "streamable HTTP" if args.http else "stdio"
        print(f"MCP tool calls over {transport}, {calls} calls per sample, {repeat} rounds")

        functions = stack.enter_context(connect(target))
        add = next(f for f in functions if f.__name__ == "add")
        loop_code = f"for i in range({calls}):\n    add(i, 1)"
        looped = orchestrator_from_str(loop_code, inputs={}, tasks=functions)
        empty = orchestrator_from_str(f"for i in range({calls}):\n    i + 1", inputs={}, tasks=functions)

        def sync_sample() -> float:
            start = time.perf_counter()
            looped()
            mid = time.perf_counter()
            empty()
            return ((mid - start) - (time.perf_counter() - mid)) / calls * 1e6

        async def async_sample() -> float:
            start = time.perf_counter()
            await looped.aio()
            mid = time.perf_counter()
            await empty.aio()
            return ((mid - start) - (time.perf_counter() - mid)) / calls * 1e6

        async def function_sample() -> float:
            start = time.perf_counter()
            for i in range(calls):
                await add(i, 1)
            return (time.perf_counter() - start) / calls * 1e6

        # The samples are interleaved (direct, sync, async, function, direct, ...), so a
        # machine that gets busier or quieter meanwhile weighs on all of them alike.
        # Each round also gives each kind's ratio to that round's own direct sample: the
        # median of those ratios is what the table shows, so a machine that drifts
        # from one round to the next moves a ratio's two sides together.
        kinds = ("direct", "sync", "async", "function", "sync-free", "async-free", "pinless")
        samples: dict[str, list[float]] = {k: [] for k in kinds}
        ratios: dict[str, list[float]] = {k: [] for k in samples}

        async def measure(kinds: tuple[str, ...]) -> None:
            async with _direct_session(target) as session:
                await _direct_sample(session, 20)  # warm up
                await asyncio.to_thread(sync_sample)
                await async_sample()
                for _ in range(repeat):
                    direct = await _direct_sample(session, calls)
                    samples["direct"].append(direct)
                    for kind in kinds:
                        free = (
                            _serving_threads_left_free()
                            if kind.endswith("-free")
                            else contextlib.nullcontext()
                        )
                        with free:
                            if kind in ("sync", "sync-free", "pinless"):
                                # A sync run cannot run on a thread whose loop is running: its own.
                                value = await asyncio.to_thread(sync_sample)
                            elif kind in ("async", "async-free"):
                                value = await async_sample()
                            else:
                                value = await function_sample()
                        samples[kind].append(value)
                        ratios[kind].append(value / direct)

        asyncio.run(measure(("sync", "async", "function", "sync-free", "async-free")))
        configure(colocate=False)  # the same sync runs, never pinned to one CPU (see README, Runtime)
        asyncio.run(measure(("pinless",)))
        configure()
        us = {k: statistics.median(v) for k, v in samples.items()}
        ratio = {k: statistics.median(v) for k, v in ratios.items() if v}
        rows = [
            ("direct ClientSession.call_tool (baseline)", us["direct"], ""),
            ("the connect() function, awaited (no sandbox)", us["function"], f"{ratio['function']:.2f}x"),
            ("from code, sync run (template())", us["sync"], f"{ratio['sync']:.2f}x (target <= 1.2x)"),
            ("from code, async run (await .aio())", us["async"], f"{ratio['async']:.2f}x (target <= 1.2x)"),
            ("sync run, the connection's thread left free", us["sync-free"], f"{ratio['sync-free']:.2f}x"),
            ("async run, the connection's thread left free", us["async-free"], f"{ratio['async-free']:.2f}x"),
            ("sync run, colocate=False", us["pinless"], f"{ratio['pinless']:.2f}x"),
        ]
        print(f"{'us per call (p50)':<48} {'us':>8}  ratio (p50 of each round's own ratio)")
        for label, value, ratio in rows:
            print(f"{label:<48} {value:>8.1f}  {ratio}")

        for concurrency in (8, 20):
            fan = orchestrator_from_str(
                f"parallel_map(slow, list(range(20)), concurrency={concurrency})",
                inputs={},
                output=list,
                tasks=functions,
            )
            fan()
            walls: list[float] = []
            for _ in range(repeat):
                start = time.perf_counter()
                fan()
                walls.append(time.perf_counter() - start)
            print(
                f"20 x 100 ms tool via parallel_map, concurrency={concurrency}: "
                f"{statistics.median(walls):.3f} s wall (target < 0.5 s)"
            )


if __name__ == "__main__":
    main()
