"""An MCP server's tools called from `run_code` inside a pydantic-ai agent (a scripted
`FunctionModel`), by both routes a user has: the functions `agent_tools.mcp.connect`
gives, and pydantic-ai's own `MCPToolset` inside a `CodeToolset`; each over stdio (a
subprocess) and over streamable HTTP (127.0.0.1), with the official SDK's server of
tests/mcp_test_server.py (30+ tools). What the model reads is checked: the typed stubs
in the catalog, the answer of code that aggregates over several tools, a wrong keyword
stopped before any tool runs, and an `isError` result caught by the code or reported
with its line."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Generator, Iterator
from typing import Any

import pytest

import agent_tools as at
from agent_tools.mcp import connect

from .loopback import MCP_SERVER, MCP_STDIO, HttpServer, mcp_http_server
from .test_toolset_sources import Script, run

ROUTES = ["connect-stdio", "connect-http", "toolset-stdio", "toolset-http"]


@pytest.fixture(scope="module")
def http_server() -> Iterator[HttpServer]:
    with mcp_http_server() as server:
        yield server


@contextlib.contextmanager
def code_toolset(route: str, http: HttpServer) -> Generator[at.CodeToolset]:
    """A CodeToolset over the test server by `route`, open while the block runs."""
    how, transport = route.split("-")
    target: Any = MCP_STDIO if transport == "stdio" else http.url
    if how == "connect":
        with connect(target) as functions:
            yield at.CodeToolset(functions)
        return
    from pydantic_ai.mcp import MCPToolset

    inner = MCPToolset(MCP_SERVER) if transport == "stdio" else MCPToolset(http.url)
    yield at.CodeToolset([inner])


@pytest.fixture(params=ROUTES)
def route(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def play(route: str, http: HttpServer, *codes: str) -> Script:
    with code_toolset(route, http) as toolset:
        return run(toolset, *codes)


def bumps_so_far(route: str, http: HttpServer) -> int:
    """What `bumps()` will answer in the route's next agent run if `bump()` never runs:
    over HTTP one server serves the whole module, so count from here; over stdio each
    agent run starts a server of its own."""
    if not route.endswith("http"):
        return 0
    with connect(http.url) as functions:
        return at.orchestrator_from_str("bumps()", inputs={}, output=int, tasks=functions)()


def result_of(text: str) -> Any:
    return json.loads(text)["result"]


def test_the_catalog_shows_the_typed_stubs(route: str, http_server: HttpServer) -> None:
    script = play(route, http_server, "add(1, 2)")
    catalog = script.descriptions[0]
    # a nested object input as TypedDicts, an optional field as NotRequired
    assert "class Person(TypedDict):" in catalog and "address: Address" in catalog
    assert "tags: NotRequired[list[str]]" in catalog
    assert "def describe_person(person: Person) -> str:" in catalog
    # an enum as a Literal, defaults as values, a hyphenated name made a Python name
    assert "def get_weather(city: str, unit: Literal['celsius', 'fahrenheit'] = 'celsius')" in catalog
    assert (
        "def greet(name: str, greeting: str = 'Hello', punctuation: Literal['!', '.', '?'] = '!') -> str:"
        in catalog
    )
    assert "def optional_note(note: str | None = None) -> str:" in catalog
    assert "get-weather" in catalog and "convert.temperature" in catalog  # the original names are shown
    assert "def add(a: int, b: int) -> int:" in catalog
    assert result_of(script.returns[0]) == 3


def test_code_aggregating_over_several_tools_gets_the_answer(route: str, http_server: HttpServer) -> None:
    code = """
value = 0
for item in list_items():
    stock = get_stock(item)
    value += stock["units"] * get_price(item)
temperatures = {city: get_weather(city)["temperature"] for city in list_cities()}
warmest = max(temperatures, key=lambda city: temperatures[city])
person = make_person("Di", 30, city="Nice")
{"value": value, "warmest": warmest, "who": describe_person(person), "mean": stats([1, 2, 6])["mean"]}
"""
    script = play(route, http_server, code)
    assert result_of(script.returns[0]) == {
        "value": 3 * 10 + 5 * 12 + 0 * 7,
        "warmest": "Lima",
        "who": "Di (30) lives in Nice, FR",
        "mean": 3.0,
    }


def test_a_tool_named_like_a_builtin_is_reached_under_its_python_name(
    route: str, http_server: HttpServer
) -> None:
    script = play(route, http_server, "[round_(7.3), round(7.36, 1)]")
    assert "def round_(value: float, step: float = 0.5) -> float:" in script.descriptions[0]
    assert result_of(script.returns[0]) == [7.5, 7.4]


def test_a_parameter_named_self_by_position_and_keyword(route: str, http_server: HttpServer) -> None:
    script = play(route, http_server, "[whoami(3), whoami(self=4, name='y')]")
    assert result_of(script.returns[0]) == ["x:3", "y:4"]


def test_a_wrong_keyword_is_stopped_before_any_tool_runs(route: str, http_server: HttpServer) -> None:
    start = bumps_so_far(route, http_server)
    script = play(route, http_server, "bump()\nget_weather(town='Oslo')", "bumps()")
    refused = script.returns[0]
    assert "unknown-argument" in refused and "town" in refused and "nothing ran" in refused
    assert result_of(script.returns[1]) == start  # bump() never ran


def test_an_is_error_result_is_caught_by_the_code(route: str, http_server: HttpServer) -> None:
    code = """
try:
    fail("out of stock")
    outcome = "no error"
except Exception as error:
    outcome = "caught: " + str(error)
outcome
"""
    script = play(route, http_server, code)
    outcome = result_of(script.returns[0])
    assert outcome.startswith("caught: ") and "out of stock" in outcome


def test_an_uncaught_is_error_result_names_the_tool_and_its_line(route: str, http_server: HttpServer) -> None:
    script = play(route, http_server, "x = add(1, 2)\ny = fail('no such order')\nx + y", "add(2, 2)")
    error = script.returns[0]
    assert "fail('no such order')" in error and "no such order" in error
    assert "line 2" in error
    assert result_of(script.returns[1]) == 4  # the agent goes on: the next call runs


def test_a_tool_called_back_by_a_builtin_is_refused_before_any_tool_runs(
    route: str, http_server: HttpServer
) -> None:
    start = bumps_so_far(route, http_server)
    code = "bump()\nmax(list_cities(), key=lambda city: get_weather(city)['temperature'])"
    script = play(route, http_server, code, "bumps()")
    refused = script.returns[0]
    assert "registered-call-in-callback" in refused and "nothing ran" in refused
    assert "get_weather" in refused and "comprehension" in refused  # the hint says what to write
    assert result_of(script.returns[1]) == start


@pytest.mark.parametrize(
    ("call", "rule"),
    [
        ("get_weather('Oslo', unit='kelvin')", "invalid-argument-type"),  # not one of the enum's values
        ("add('2', 3)", "invalid-argument-type"),  # a str literal for an int
        ("greet('Bo', punctuation=';')", "invalid-argument-type"),  # a Literal parameter
        ("describe_person({'name': 'Ann', 'age': 41, 'address': 'Lyon'})", "invalid-argument-type"),
        ("subtract()", "missing-argument"),
        ("add(1, 2, 3)", "too-many-positional-arguments"),
        ("class_(name='x', extra=1)", "unknown-argument"),
    ],
)
def test_a_wrong_argument_from_the_schema_is_stopped_before_any_tool_runs(
    route: str, http_server: HttpServer, call: str, rule: str
) -> None:
    start = bumps_so_far(route, http_server)
    script = play(route, http_server, f"bump()\n{call}", "bumps()")
    refused = script.returns[0]
    assert f"error[{rule}]" in refused and "nothing ran" in refused and "line 2" in refused
    assert result_of(script.returns[1]) == start
