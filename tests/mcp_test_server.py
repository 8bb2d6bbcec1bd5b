"""An MCP server for tests/test_mcp_connect.py, built with the official SDK's
`MCPServer` (mcp 2's name for FastMCP).

Its tools cover what a client meets in the wild: nested object inputs (pydantic
models), enums, defaults, structured output (output schemas), hyphenated and dotted
names, a tool that reports an error (`isError`), a slow one, an image, plain text
and JSON text.

    python tests/mcp_test_server.py              # stdio
    python tests/mcp_test_server.py --http PORT  # streamable HTTP on 127.0.0.1:PORT/mcp
"""

from __future__ import annotations

import base64
import enum
import json
import os
import sys
import time
from typing import Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

server = MCPServer("agent-tools-test", log_level="WARNING")

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

PRICES = {"apple": 10, "pear": 12, "plum": 7}
STOCK = {"apple": 3, "pear": 5, "plum": 0}
WEATHER = {"Paris": 18.5, "Oslo": 4.0, "Lima": 22.25}


class Unit(enum.StrEnum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class Address(BaseModel):
    street: str
    city: str
    country: str = "FR"


class Person(BaseModel):
    name: str
    age: int
    address: Address
    tags: list[str] = Field(default_factory=list)


class Weather(BaseModel):
    city: str
    temperature: float
    unit: Unit


class Stock(BaseModel):
    item: str
    units: int
    price: int


# -- plain values -------------------------------------------------------------------------------


_BUMPS = [0]


@server.tool()
def bump() -> int:
    """Count one call (a side effect the tests can see), and return the count."""
    _BUMPS[0] += 1
    return _BUMPS[0]


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def bumps() -> int:
    """How many times bump() ran."""
    return _BUMPS[0]


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def subtract(a: int, b: int = 0) -> int:
    """a minus b."""
    return a - b


@server.tool()
def multiply(a: float, b: float) -> float:
    """Multiply two numbers."""
    return a * b


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def upper(text: str) -> str:
    """The text in upper case."""
    return text.upper()


@server.tool()
def concat(parts: list[str], sep: str = " ") -> str:
    """Join the parts with sep."""
    return sep.join(parts)


@server.tool()
def count_items(items: list[int]) -> int:
    """How many items there are."""
    return len(items)


@server.tool()
def total(values: list[float]) -> float:
    """The sum of the values."""
    return sum(values)


@server.tool()
def is_even(n: int) -> bool:
    """Whether n is even."""
    return n % 2 == 0


@server.tool()
def nothing() -> None:
    """Does nothing and returns nothing."""


@server.tool()
def greet(name: str, greeting: str = "Hello", punctuation: Literal["!", ".", "?"] = "!") -> str:
    """A greeting for name."""
    return f"{greeting}, {name}{punctuation}"


@server.tool()
def repeat(text: str, times: int = 2) -> list[str]:
    """The text, times times."""
    return [text] * times


@server.tool()
def optional_note(note: str | None = None) -> str:
    """Says whether a note was given."""
    return "no note" if note is None else f"note: {note}"


# -- the shop: several tools to aggregate over ----------------------------------------------------


@server.tool()
def list_items() -> list[str]:
    """The names of the items in the shop."""
    return list(PRICES)


@server.tool()
def get_price(item: str) -> int:
    """Unit price of an item, in cents."""
    return PRICES[item]


@server.tool()
def get_stock(item: str, warehouse: str = "main") -> Stock:
    """Units of an item in stock, with its price."""
    return Stock(item=item, units=STOCK[item], price=PRICES[item])


@server.tool()
def price_table() -> dict[str, int]:
    """Every item's unit price."""
    return dict(PRICES)


# -- nested inputs, enums, structured output -----------------------------------------------------


@server.tool()
def describe_person(person: Person) -> str:
    """One line about a person."""
    return f"{person.name} ({person.age}) lives in {person.address.city}, {person.address.country}"


@server.tool()
def person_city(person: Person) -> dict[str, str]:
    """The person's city and country."""
    return {"city": person.address.city, "country": person.address.country}


@server.tool()
def make_person(name: str, age: int, city: str, street: str = "Main St") -> Person:
    """A person record."""
    return Person(name=name, age=age, address=Address(street=street, city=city))


@server.tool(name="get-weather")
def get_weather(city: str, unit: Unit = Unit.celsius) -> Weather:
    """Current temperature in a city."""
    celsius = WEATHER[city]
    value = celsius if unit is Unit.celsius else celsius * 9 / 5 + 32
    return Weather(city=city, temperature=value, unit=unit)


@server.tool(name="convert.temperature")
def convert_temperature(value: float, to: Unit) -> float:
    """Convert a Celsius value (to celsius: unchanged)."""
    return value if to is Unit.celsius else value * 9 / 5 + 32


@server.tool(name="list-cities")
def list_cities() -> list[str]:
    """Cities with weather data."""
    return sorted(WEATHER)


@server.tool(name="class")
def class_(name: str) -> str:
    """A tool whose name is a Python keyword."""
    return f"class {name}"


@server.tool()
def stats(values: list[float]) -> dict[str, float]:
    """Minimum, maximum and mean of the values."""
    return {"min": min(values), "max": max(values), "mean": sum(values) / len(values)}


@server.tool()
def tag_counts(words: list[str]) -> dict[str, int]:
    """How often each word occurs."""
    out: dict[str, int] = {}
    for word in words:
        out[word] = out.get(word, 0) + 1
    return out


# -- errors, timing, content kinds --------------------------------------------------------------


@server.tool()
def fail(message: str = "boom") -> str:
    """Always fails with message (an isError result)."""
    raise ToolError(message)


@server.tool()
def divide(a: float, b: float) -> float:
    """a divided by b."""
    return a / b


@server.tool()
def slow(x: int) -> int:
    """Waits 0.1 s, then returns x * 2."""
    time.sleep(0.1)
    return x * 2


@server.tool()
async def slow_async(x: int, seconds: float = 0.1) -> int:
    """Waits `seconds` (without blocking the server), then returns x * 2."""
    import anyio

    await anyio.sleep(seconds)
    return x * 2


@server.tool()
def image() -> Image:
    """A 1x1 PNG image."""
    return Image(data=PNG, format="png")


@server.tool(structured_output=False)
def plain_text() -> str:
    """Some plain text (no output schema)."""
    return "just some text"


@server.tool(structured_output=False)
def json_text() -> str:
    """JSON as text (no output schema)."""
    return json.dumps({"ok": True, "items": [1, 2, 3]})


@server.tool(structured_output=False)
def two_texts() -> list[str]:
    """Two text contents."""
    return ["first", "second"]


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
def crash() -> str:
    """Kills the server process."""
    os._exit(1)


@server.tool()
def env_value(name: str) -> str:
    """An environment variable of the server ('' if unset)."""
    return os.environ.get(name, "")


@server.tool()
def cwd() -> str:
    """The server's working directory."""
    return os.getcwd()


@server.tool()
def args_echo(
    a: int, b: str = "x", c: list[int] | None = None, d: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Returns the arguments it received."""
    return {"a": a, "b": b, "c": c, "d": d}


@server.tool()
def whoami(self: int, name: str = "x") -> str:
    """A parameter named `self`, as some tools have."""
    return f"{name}:{self}"


@server.tool(name="round")
def round_to_step(value: float, step: float = 0.5) -> float:
    """Rounds a value to the nearest multiple of a step (a tool named like a builtin)."""
    return step * round(value / step)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
