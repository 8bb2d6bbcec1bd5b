"""`agent_tools.mcp.connect`: an MCP server's tools as functions the sandboxed code calls.

Real components only: the server is tests/mcp_test_server.py (the official SDK's
`MCPServer`), run as a subprocess over stdio, and over streamable HTTP on a free
loopback port; the client is the official SDK's. Most tests run on both transports,
on one connection per transport for the module (starting a server costs most of a
second).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import subprocess
import sys
import threading
import time
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

pytest.importorskip("mcp")

from agent_tools import CodeRunner, HostFunctionError, TypeCheckError, configure, orchestrator_from_str
from agent_tools.adapters.openai import CodeTool
from agent_tools.demo import db
from agent_tools.mcp import MCPConnectionError, MCPToolError, connect
from agent_tools.sandbox.affinity import supported
from agent_tools.sandbox.functions import SERVED_BY

from .loopback import MCP_SERVER, MCP_STDIO, HttpServer, free_port, mcp_http_server
from .test_openai_tools import (
    CHAT,
    FakeOpenAI,
    answer_from_result,
    chat_loop,
    chat_reply,
    last_tool_message,
    run_code,
)

REPO = Path(__file__).resolve().parent.parent

Functions = list[Callable[..., Any]]


# -- servers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_server() -> Iterator[HttpServer]:
    with mcp_http_server() as server:
        yield server


@pytest.fixture(scope="module", params=["stdio", "http"])
def fns(request: pytest.FixtureRequest) -> Iterator[Functions]:
    """The test server's tools as functions, over stdio or over HTTP (one connection each)."""
    if request.param == "stdio":
        target: Any = MCP_STDIO
    else:
        target = request.getfixturevalue("http_server").url
    with connect(target) as functions:
        yield functions


def by_name(functions: Functions) -> dict[str, Callable[..., Any]]:
    return {f.__name__: f for f in functions}


def run(functions: Functions, code: str) -> Any:
    return orchestrator_from_str(code, inputs={}, output=Any, tasks=functions)()


# -- the functions ------------------------------------------------------------------------------


def test_tools_become_functions(fns: Functions) -> None:
    tools = by_name(fns)
    assert len(fns) >= 30
    assert {"add", "get_weather", "convert_temperature", "list_cities", "class_", "describe_person"} <= set(
        tools
    )
    assert all(name.isidentifier() for name in tools)
    assert all(inspect.iscoroutinefunction(f) for f in fns)

    add = inspect.signature(tools["add"])
    assert list(add.parameters) == ["a", "b"]
    assert add.parameters["a"].annotation is int and add.return_annotation is int
    assert tools["add"].__doc__ == "Add two integers."

    weather = tools["get_weather"]
    sig = inspect.signature(weather)
    assert list(sig.parameters) == ["city", "unit"]
    assert sig.parameters["unit"].default == "celsius"
    assert sig.parameters["unit"].annotation == Literal["celsius", "fahrenheit"]
    assert "Current temperature in a city." in (weather.__doc__ or "")
    assert "'get-weather'" in (weather.__doc__ or "")  # the original name, as it differs
    assert hasattr(weather, "__agent_tools_param_docs__")
    assert "'class'" in (tools["class_"].__doc__ or "")

    greet = inspect.signature(tools["greet"])
    assert [p.default for p in greet.parameters.values()][1:] == ["Hello", "!"]
    assert typing.get_type_hints(tools["greet"])["name"] is str


def test_template_calls_with_keywords_and_positions(fns: Functions) -> None:
    code = """
person = {"name": "Ann", "age": 41, "address": {"street": "Rue 1", "city": "Lyon"}}
[
    add(1, b=2),
    subtract(10),
    greet("Bo", punctuation="?"),
    greet(name="Cy", greeting="Hi"),
    get_weather("Oslo", unit="fahrenheit"),
    describe_person(person),
    make_person("Di", 30, city="Nice"),
    args_echo(1, c=[1, 2], d={"k": None}),
    convert_temperature(100, "fahrenheit"),
    class_("X"),
]
"""
    assert run(fns, code) == [
        3,
        10,
        "Hello, Bo?",
        "Hi, Cy!",
        {"city": "Oslo", "temperature": 39.2, "unit": "fahrenheit"},
        "Ann (41) lives in Lyon, FR",
        {
            "name": "Di",
            "age": 30,
            "address": {"street": "Main St", "city": "Nice", "country": "FR"},
            "tags": [],
        },
        {"a": 1, "b": "x", "c": [1, 2], "d": {"k": None}},
        212.0,
        "class X",
    ]


async def test_template_aio(fns: Functions) -> None:
    template = orchestrator_from_str(
        "[add(2, 3), get_price('pear'), list_cities()]", inputs={}, output=Any, tasks=fns
    )
    assert await template.aio() == [5, 12, ["Lima", "Oslo", "Paris"]]


def test_results_by_content_kind(fns: Functions) -> None:
    image, plain, json_text, two, nothing, stock, prices = run(
        fns, "[image(), plain_text(), json_text(), two_texts(), nothing(), get_stock('apple'), price_table()]"
    )
    assert image["type"] == "image" and image["mimeType"] == "image/png"
    assert isinstance(image["data"], str) and image["data"].startswith("iVBOR")  # base64 PNG
    assert plain == "just some text"
    assert json.loads(json_text) == {"ok": True, "items": [1, 2, 3]}
    assert two == ["first", "second"]
    assert nothing is None
    assert stock == {"item": "apple", "units": 3, "price": 10}
    assert prices == {"apple": 10, "pear": 12, "plum": 7}


def test_code_aggregates_over_several_tools(fns: Functions) -> None:
    code = """
value = 0
for item in list_items():
    stock = get_stock(item)
    value += get_price(item) * stock["units"]
summary = stats([float(get_price(i)) for i in list_items()])
{"value": value, "max": summary["max"], "words": tag_counts(["a", "b", "a"])}
"""
    assert run(fns, code) == {"value": 10 * 3 + 12 * 5, "max": 12.0, "words": {"a": 2, "b": 1}}


def test_code_runner_sync(fns: Functions) -> None:
    reply = CodeRunner(fns).run("sum(parallel_map(add, [1, 2, 3], [10, 20, 30]))")
    assert reply.ok, reply.text
    assert reply.record is not None and reply.record.result == 66
    assert "def get_weather(" in CodeRunner(fns).catalog()  # the model reads the tools by their Python names


async def test_code_runner_async(fns: Functions) -> None:
    reply = await CodeRunner(fns).arun("upper(echo('mcp')) + str(is_even(4))")
    assert reply.ok, reply.text
    assert reply.record is not None and reply.record.result == "MCPTrue"


def test_openai_adapter(fns: Functions, fake: FakeOpenAI) -> None:
    tool = CodeTool(fns)
    code = "total = 0\nfor item in list_items():\n    total += get_price(item)\ntotal"
    fake.play(CHAT, run_code("call_1", code), answer_from_result)
    assert chat_loop(tool, fake, "What do one of each item cost?") == "The total is 29."
    first = fake.bodies(CHAT)[0]
    assert "get_weather" in json.dumps(first["tools"])


# -- errors -------------------------------------------------------------------------------------


def test_a_wrong_call_to_a_tool_is_stopped_before_any_tool_runs(fns: Functions, fake: FakeOpenAI) -> None:
    tools = by_name(fns)
    before = asyncio.run(tools["bumps"]())
    for code, rule in [
        ("bump()\nadd(a=1, c=2)", "unknown-argument"),
        ("bump()\nadd(1)", "missing-argument"),
        ("bump()\ngreet('ann', punctuation='~')", "invalid-argument-type"),
        ("bump()\nget_wether(city='Oslo')", "unresolved-reference"),
    ]:
        reply = CodeRunner(fns).run(code)
        assert not reply.ok and isinstance(reply.error, TypeCheckError), reply.text
        assert rule in reply.text and "nothing ran" in reply.text
    tool = CodeTool(fns)
    fake.play(CHAT, run_code("call_1", "bump()\nadd(a=1, c=2)"), chat_reply("ok"))
    assert chat_loop(tool, fake, "add") == "ok"
    assert "unknown-argument" in last_tool_message(fake.bodies(CHAT)[1])["content"]  # what the model read
    assert asyncio.run(tools["bumps"]()) == before  # bump() never ran


def test_is_error_caught_by_the_code(fns: Functions) -> None:
    code = """
try:
    fail("out of stock")
    outcome = "no error"
except Exception as error:
    outcome = "caught: " + str(error)
outcome
"""
    result = run(fns, code)
    assert result.startswith("caught: ") and "out of stock" in result


def test_is_error_uncaught_is_a_host_function_error(fns: Functions) -> None:
    with pytest.raises(HostFunctionError) as caught:
        run(fns, "x = add(1, 2)\ny = fail('nope')\nx + y")
    error = caught.value
    assert error.function == "fail" and error.call_args == ("nope",)
    assert error.line == 2
    assert isinstance(error.__cause__, MCPToolError) and "nope" in str(error.__cause__)


def test_a_tool_named_like_a_builtin_gets_a_name_the_code_can_reach(fns: Functions) -> None:
    """`round` is a builtin of the sandbox, which the code's `round(...)` reaches first:
    the tool is `round_`, its docstring names the original, and both work."""
    tool = by_name(fns)["round_"]
    assert "round" not in by_name(fns)
    assert "'round'" in (tool.__doc__ or "")
    assert "def round_(value: float, step: float = 0.5) -> float:" in CodeRunner(fns).catalog()
    assert run(fns, "[round_(7.3), round_(7.3, step=2), round(7.36, 1)]") == [7.5, 8.0, 7.4]


def test_a_parameter_named_self(fns: Functions) -> None:
    assert run(fns, "[whoami(3), whoami(self=4, name='y'), whoami(5, name='z')]") == ["x:3", "y:4", "z:5"]


def test_bad_argument_reaches_the_code_as_an_error(fns: Functions) -> None:
    code = 'try:\n    r = get_weather("Atlantis")\nexcept Exception as e:\n    r = "error"\nr'
    assert run(fns, code) == "error"


# -- concurrency --------------------------------------------------------------------------------


def test_parallel_map_runs_the_calls_concurrently(fns: Functions) -> None:
    template = orchestrator_from_str(
        "parallel_map(slow, list(range(20)), concurrency=20)", inputs={}, output=Any, tasks=fns
    )
    start = time.perf_counter()
    assert template() == [2 * i for i in range(20)]
    assert time.perf_counter() - start < 0.5


def test_functions_are_thread_safe(fns: Functions) -> None:
    add = by_name(fns)["add"]
    results: list[int] = []

    def worker(i: int) -> None:
        results.append(asyncio.run(add(i, 1)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == list(range(1, 9))


# -- connecting ---------------------------------------------------------------------------------


async def test_async_with(http_server: HttpServer) -> None:
    async with connect(http_server.url, headers={"X-Agent-Tools-Test": "1"}) as functions:
        template = orchestrator_from_str("add(20, 22)", inputs={}, output=int, tasks=functions)
        assert await template.aio() == 42
        assert template() == 42  # the same functions from a sync run


def test_env_and_cwd_of_a_stdio_server(tmp_path: Path) -> None:
    with connect(MCP_STDIO, env={"AGENT_TOOLS_MCP_TEST": "yes"}, cwd=tmp_path) as functions:
        assert run(functions, "[env_value('AGENT_TOOLS_MCP_TEST'), cwd()]") == ["yes", str(tmp_path)]


def test_command_as_a_string() -> None:
    with connect(f"python {MCP_SERVER}") as functions:  # `python` is this interpreter
        assert run(functions, "add(1, 1)") == 2


def test_two_servers_with_the_same_tools_serve_one_run_by_prefix(http_server: HttpServer) -> None:
    with (
        connect(MCP_STDIO) as plain,
        connect(MCP_STDIO) as other,
        pytest.raises(ValueError, match=r"duplicate function name '\w+'.*connect\(\.\.\., prefix="),
    ):
        CodeRunner([*plain, *other])
    with connect(MCP_STDIO, prefix="a_") as first, connect(http_server.url, prefix="b_") as second:
        names = {f.__name__ for f in [*first, *second]}
        assert {"a_add", "b_add", "a_get_weather", "a_round", "b_round"} <= names
        assert "'add'" in (by_name(first)["a_add"].__doc__ or "")  # the tool's own name
        template = orchestrator_from_str(
            "[a_add(1, 2), b_add(3, 4), a_get_weather('Oslo')['city'], a_round(7.3)]",
            inputs={},
            output=Any,
            tasks=[*first, *second],
        )
        assert template() == [3, 7, "Oslo", 7.5]
        assert "def b_add(a: int, b: int) -> int:" in CodeRunner([*first, *second]).catalog()


@pytest.mark.parametrize("prefix", ["1x", "_a", "a-b", "é", 3])
def test_a_prefix_that_cannot_start_a_name_is_refused(prefix: Any) -> None:
    with pytest.raises(ValueError, match="prefix must be"):
        connect(MCP_STDIO, prefix=prefix)


def test_closed_connection_refuses_calls() -> None:
    with connect(MCP_STDIO) as functions:
        assert len(getattr(functions[0], SERVED_BY)()) == 1  # the connection's thread, while open
    with pytest.raises(HostFunctionError) as caught:
        run(functions, "add(1, 1)")
    assert isinstance(caught.value.__cause__, MCPConnectionError)
    assert getattr(functions[0], SERVED_BY)() == ()  # no thread to pin once closed


@pytest.mark.skipif(
    not supported() or len(os.sched_getaffinity(0)) < 2, reason="CPU pinning: Linux with 2+ CPUs"
)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_colocated_run_pins_the_connections_thread_with_it(fns: Functions, mode: str) -> None:
    """The connection's thread does each call's work while the sandbox waits: a
    colocated run pins it to the run's CPU too (the hop there and back stays on one
    CPU), and puts its mask back when the run ends."""
    (thread,) = getattr(by_name(fns)["add"], SERVED_BY)()
    full = os.sched_getaffinity(thread)
    seen: list[set[int]] = []

    def connection_mask() -> int:
        seen.append(os.sched_getaffinity(thread))
        return 0

    configure(colocate=True)
    try:
        code = "t = 0\nfor i in range(5):\n    t = add(t, i) + connection_mask()\nt"
        template = orchestrator_from_str(code, inputs={}, output=int, tasks=[*fns, connection_mask])
        assert (template() if mode == "sync" else asyncio.run(template.aio())) == 10
        assert len(seen) == 5 and all(len(mask) == 1 for mask in seen)
        assert os.sched_getaffinity(thread) == full
        assert run(fns, "add(1, 2)") == 3  # and the next run is served as ever
    finally:
        configure()


def _kill_during_slow_call(functions: Functions, kill: Callable[[], None]) -> None:
    """Run code blocked in a 5 s tool call, kill the server meanwhile: the run fails."""
    timer = threading.Timer(0.5, kill)
    timer.start()
    try:
        start = time.perf_counter()
        with pytest.raises(HostFunctionError) as caught:
            run(functions, "slow_async(1, seconds=5)")
        assert time.perf_counter() - start < 4
        assert isinstance(caught.value.__cause__, MCPConnectionError)
        assert "next call reconnects" in str(caught.value.__cause__)
    finally:
        timer.cancel()
        timer.join(30)  # the server is back (if `kill` restarts it) before the next run


def test_stdio_server_killed_mid_run_then_restarted() -> None:
    with connect(MCP_STDIO) as functions:
        first = run(functions, "pid()")
        _kill_during_slow_call(functions, lambda: os.kill(first, signal.SIGKILL))
        assert run(functions, "add(1, 2)") == 3
        assert run(functions, "pid()") != first  # a new server process


@pytest.mark.skipif(
    not supported() or len(os.sched_getaffinity(0)) < 2, reason="CPU pinning: Linux with 2+ CPUs"
)
def test_a_server_restarted_during_a_pinned_run_is_never_pinned() -> None:
    """The connection's thread is pinned with a colocated run; when the server dies and
    the next call starts it again, that thread starts the new process: the process must
    have the normal mask, not inherit the pin for its whole life."""
    full = os.sched_getaffinity(0)

    def kill_server(pid: int) -> int:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and "Z" not in _state(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        return pid

    def masks(pid: int) -> list[list[int]]:
        """Every thread's mask of process `pid`."""
        threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        return [sorted(os.sched_getaffinity(t)) for t in threads]

    code = """
first = pid()
kill_server(first)
try:
    pid()
except Exception:
    pass
second = pid()
[first, second, masks(second), connection()]
"""
    with connect(MCP_STDIO) as functions:
        (thread,) = getattr(by_name(functions)["pid"], SERVED_BY)()

        def connection() -> list[int]:
            return sorted(os.sched_getaffinity(thread))

        configure(colocate=True)
        try:
            template = orchestrator_from_str(
                code, inputs={}, output=Any, tasks=[*functions, kill_server, masks, connection]
            )
            first, second, server_masks, during = template()
        finally:
            configure()
        assert second != first  # a new server process, started during the run
        assert len(during) == 1  # while the connection's thread itself was pinned
        assert server_masks and all(set(mask) == full for mask in server_masks)
        assert os.sched_getaffinity(thread) == full


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def test_http_server_killed_mid_run_then_reconnected() -> None:
    server = HttpServer()
    server.start()
    try:
        with connect(server.url) as functions:
            first = run(functions, "pid()")

            def kill_and_restart() -> None:
                server.stop()
                server.start()

            _kill_during_slow_call(functions, kill_and_restart)
            assert run(functions, "add(1, 2)") == 3
            assert run(functions, "pid()") != first
    finally:
        server.stop()


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)  # `import mcp` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'agent-tools\[mcp\]'"):
        connect(MCP_STDIO)


def test_bad_command_names_it() -> None:
    with (
        pytest.raises(MCPConnectionError, match="no-such-mcp-server") as caught,
        connect("no-such-mcp-server --flag"),
    ):
        pass
    assert "cannot start" in str(caught.value)
    # This one starts, but is no MCP server.
    with (
        pytest.raises(MCPConnectionError, match="cannot start the MCP server"),
        connect([sys.executable, "-c", "pass"]),
    ):
        pass


def test_unreachable_url_names_it() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    with (
        pytest.raises(MCPConnectionError, match="cannot reach the MCP server " + url),
        connect(url, timeout=10),
    ):
        pass


def test_arguments_checked() -> None:
    with pytest.raises(ValueError, match="headers"):
        connect(MCP_STDIO, headers={"a": "b"})
    with pytest.raises(ValueError, match="env"):
        connect("http://127.0.0.1:1/mcp", env={"a": "b"})
    with pytest.raises(ValueError, match="empty"):
        connect("  ")


# -- the demo server and the CLI ------------------------------------------------------------------


def test_cli_run_with_the_demo_mcp_server(tmp_path: Path) -> None:
    db.build_database(tmp_path / db.FILE_NAME)
    env = dict(os.environ, AGENT_TOOLS_DATA_DIR=str(tmp_path), NO_COLOR="1")
    env.pop("PYTHONPATH", None)

    def cli(*args: str) -> dict[str, Any]:
        proc = subprocess.run(
            [sys.executable, "-m", "agent_tools.cli", "run", "examples/top_customers.py", "--json", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    builtin = cli()
    over_mcp = cli("--mcp", "python -m agent_tools.demo.mcp_server")
    assert over_mcp["error"] is None
    assert over_mcp["result"] == builtin["result"]
    assert len(over_mcp["result"]) == 3
    assert [c["function"] for c in over_mcp["calls"]] == [c["function"] for c in builtin["calls"]]

    bad = subprocess.run(
        [sys.executable, "-m", "agent_tools.cli", "run", "-", "--mcp", "no-such-mcp-server"],
        input="1",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2  # bad usage, naming the server
    assert "no-such-mcp-server" in bad.stderr and "cannot start" in bad.stderr


@pytest.mark.parametrize(
    "face", ["template", "runner", "openai", "toolset", "in a list", "in a toolset list"]
)
def test_a_connection_not_entered_is_refused_with_how_to_use_it(face: str) -> None:
    import agent_tools as at

    connection = connect(MCP_STDIO)  # not entered: no server is started
    with pytest.raises(TypeError) as caught:
        if face == "template":
            orchestrator_from_str("1", inputs={}, tasks=connection)  # pyright: ignore[reportArgumentType]
        elif face == "runner":
            CodeRunner(connection)  # pyright: ignore[reportArgumentType]
        elif face == "openai":
            CodeTool(connection)  # pyright: ignore[reportArgumentType]
        elif face == "toolset":
            at.CodeToolset(connection)  # pyright: ignore[reportArgumentType]
        elif face == "in a list":
            orchestrator_from_str("1", inputs={}, tasks=[connection])
        else:
            at.CodeToolset([connection])
    message = str(caught.value)
    assert "MCPConnection" in message and "with connect(...) as functions:" in message
    assert repr(connection).endswith("(closed, 0 tools)>")  # nothing was started
