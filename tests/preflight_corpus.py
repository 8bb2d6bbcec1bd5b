"""A corpus for the pre-flight check (`agent_tools.sandbox.preflight`): wrong programs
written the way models really get tool calls wrong, correct programs that are tricky
for a static check, and the registered functions both call.

- `WRONG`: each must be refused before any host call, with the rule (named as Monty's
  type checker names it) and the line of its first problem. Each starts with a host
  call, `log('start')`, so that "nothing ran" can be checked.
  Every registered function validates its arguments itself, as a real API does, so
  with the check off each wrong program fails at run time, after that first call.
- `SUBTLE`: wrong programs the fast check lets through by design (the wrong value is
  not a literal, or it hides behind `*`/`**`, `parallel_map` or a submodule import);
  they too fail at run time. Only Monty's full check can stop some of them.
- `VALID`: correct programs with the value each gives; the fast check may refuse none
  (`fast_issue` marks one it refuses today, a bug). Monty's full check refuses some:
  benchmarks/preflight.py counts them.

Used by tests/test_preflight.py, tests/test_preflight_faces.py and
benchmarks/preflight.py.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Optional

import pydantic
from typing_extensions import TypedDict

__all__ = [
    "SUBTLE",
    "VALID",
    "WRONG",
    "Address",
    "Host",
    "LineItem",
    "Period",
    "Subtle",
    "Valid",
    "Wrong",
]


# -- the registered functions ------------------------------------------------------------


class Address(pydantic.BaseModel):
    """A postal address (a dict in the sandbox)."""

    street: str
    city: str
    postcode: str
    country: str = "GB"


class LineItem(TypedDict):
    sku: str
    qty: int


@dataclass
class Period:
    """Two ISO dates, inclusive."""

    start: str
    end: str


CUSTOMERS: dict[int, dict[str, Any]] = {
    1: {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com", "tier": "gold"},
    2: {"id": 2, "name": "Alan Turing", "email": "alan@example.com", "tier": "silver"},
    3: {"id": 3, "name": "Grace Hopper", "email": "grace@example.com", "tier": "gold"},
}
ORDERS: list[dict[str, Any]] = [
    {"order_id": 101, "customer_id": 1, "status": "delivered", "total": 120.0},
    {"order_id": 102, "customer_id": 1, "status": "pending", "total": 35.5},
    {"order_id": 103, "customer_id": 3, "status": "delivered", "total": 80.0},
    {"order_id": 104, "customer_id": 3, "status": "shipped", "total": 12.25},
]
RATES: dict[str, float] = {"EUR": 1.0, "USD": 1.25, "GBP": 0.8}
STOCK: dict[str, int] = {"SKU-1": 10, "SKU-2": 0}
"""The stock each `Host` starts with (it changes its own copy)."""
DOCS: list[dict[str, Any]] = [
    {"id": 1, "title": "Refund policy", "year": "2024"},
    {"id": 2, "title": "Shipping times", "year": "2023"},
    {"id": 3, "title": "Refunds for damaged goods", "year": "2024"},
]
FLAGS: dict[str, bool] = {"beta": False}
"""The feature flags each `Host` starts with (it changes its own copy)."""


def _require(function: str, name: str, value: object, *kinds: type) -> None:
    """What a real API does with a wrong argument: refuse it (bools are not ints here)."""
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        wanted = " or ".join(k.__name__ for k in kinds)
        raise TypeError(f"{function}(): {name} must be {wanted}, got {type(value).__name__}")


class Host:
    """A fresh set of the registered functions; `calls` records every call, in order,
    as (function name, first argument)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.stock = dict(STOCK)
        self.flags = dict(FLAGS)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def functions(self) -> list[Callable[..., Any]]:
        calls, stock, flags = self.calls, self.stock, self.flags

        def log(message: str) -> None:
            """Write a line to the audit log."""
            calls.append(("log", message))
            _require("log", "message", message, str)

        def get_customer(customer_id: int) -> dict[str, Any]:
            """A customer by id: {id, name, email, tier}."""
            calls.append(("get_customer", customer_id))
            _require("get_customer", "customer_id", customer_id, int)
            return dict(CUSTOMERS[customer_id])

        def list_orders(
            customer_id: int,
            status: Literal["pending", "shipped", "delivered"] = "delivered",
            limit: int = 20,
        ) -> list[dict[str, Any]]:
            """A customer's orders with that status, newest first."""
            calls.append(("list_orders", customer_id))
            _require("list_orders", "customer_id", customer_id, int)
            _require("list_orders", "limit", limit, int)
            if status not in ("pending", "shipped", "delivered"):
                raise ValueError(f"list_orders(): unknown status {status!r}")
            rows = [o for o in ORDERS if o["customer_id"] == customer_id and o["status"] == status]
            return rows[:limit]

        def get_weather(city: str, units: Literal["metric", "imperial"] = "metric") -> dict[str, Any]:
            """Current weather: {city, temperature, units}."""
            calls.append(("get_weather", city))
            _require("get_weather", "city", city, str)
            if units not in ("metric", "imperial"):
                raise ValueError(f"get_weather(): units must be 'metric' or 'imperial', got {units!r}")
            return {"city": city, "temperature": 18 if units == "metric" else 64, "units": units}

        def convert_currency(amount: float, from_currency: str, to_currency: str = "EUR") -> float:
            """Convert an amount between currencies (ISO codes)."""
            calls.append(("convert_currency", amount))
            _require("convert_currency", "amount", amount, int, float)
            _require("convert_currency", "from_currency", from_currency, str)
            _require("convert_currency", "to_currency", to_currency, str)
            return round(amount / RATES[from_currency] * RATES[to_currency], 2)

        def send_email(
            to: str, subject: str, body: str, *, cc: Optional[list[str]] = None, urgent: bool = False
        ) -> bool:
            """Send an email; True when it was accepted."""
            calls.append(("send_email", to))
            _require("send_email", "to", to, str)
            _require("send_email", "subject", subject, str)
            _require("send_email", "body", body, str)
            if cc is not None:
                _require("send_email", "cc", cc, list)
            _require("send_email", "urgent", urgent, bool)
            return "@" in to

        def update_stock(sku: str, delta: int, *, reason: str | None = None) -> int:
            """Add `delta` (may be negative) to the stock of `sku`; the new level."""
            calls.append(("update_stock", sku))
            _require("update_stock", "sku", sku, str)
            _require("update_stock", "delta", delta, int)
            if reason is not None:
                _require("update_stock", "reason", reason, str)
            stock[sku] = stock.get(sku, 0) + delta
            return stock[sku]

        def create_shipment(address: Address, items: list[LineItem], express: bool = False) -> str:
            """Ship items to an address; the tracking number."""
            calls.append(("create_shipment", address))
            _require("create_shipment", "express", express, bool)
            count = sum(item["qty"] for item in items)
            return f"TRK-{address.postcode.replace(' ', '')}-{count}{'-X' if express else ''}"

        def tag_documents(doc_ids: list[int], tags: dict[str, Any]) -> int:
            """Attach tags to documents; how many were tagged."""
            calls.append(("tag_documents", doc_ids))
            _require("tag_documents", "doc_ids", doc_ids, list, tuple)
            for doc_id in doc_ids:
                _require("tag_documents", "doc_ids[]", doc_id, int)
            _require("tag_documents", "tags", tags, dict)
            return len(doc_ids)

        def search_docs(
            query: str, top_k: int = 5, filters: dict[str, str] | None = None
        ) -> list[dict[str, Any]]:
            """Documents whose title contains the query: [{id, title, year}]."""
            calls.append(("search_docs", query))
            _require("search_docs", "query", query, str)
            _require("search_docs", "top_k", top_k, int)
            for key, value in (filters or {}).items():
                _require("search_docs", f"filters[{key!r}]", value, str)
            hits = [d for d in DOCS if query.lower() in d["title"].lower()]
            hits = [d for d in hits if all(str(d.get(k)) == v for k, v in (filters or {}).items())]
            return hits[:top_k]

        def usage_report(period: Period, metric: str = "requests") -> dict[str, Any]:
            """Usage of a metric over a period: {metric, start, end, total}."""
            calls.append(("usage_report", period))
            _require("usage_report", "metric", metric, str)
            return {"metric": metric, "start": period.start, "end": period.end, "total": 1234}

        def set_flag(name: str, enabled: bool) -> bool:
            """Turn a feature flag on or off; its previous value."""
            calls.append(("set_flag", name))
            _require("set_flag", "name", name, str)
            _require("set_flag", "enabled", enabled, bool)
            previous = flags.get(name, False)
            flags[name] = enabled
            return previous

        def summarize(values: list[float], *, precision: int = 2) -> dict[str, float]:
            """Min, max and mean of some numbers."""
            calls.append(("summarize", values))
            _require("summarize", "values", values, list, tuple)
            _require("summarize", "precision", precision, int)
            mean = sum(values) / len(values)
            return {"min": min(values), "max": max(values), "mean": round(mean, precision)}

        async def fetch_rate(currency: str) -> float:
            """The exchange rate of a currency against the euro (async)."""
            calls.append(("fetch_rate", currency))
            _require("fetch_rate", "currency", currency, str)
            await asyncio.sleep(0)
            return RATES[currency]

        return [
            log,
            get_customer,
            list_orders,
            get_weather,
            convert_currency,
            send_email,
            update_stock,
            create_shipment,
            tag_documents,
            search_docs,
            usage_report,
            set_flag,
            summarize,
            fetch_rate,
        ]


# -- wrong programs the fast check refuses -------------------------------------------------


@dataclass(frozen=True)
class Wrong:
    label: str
    code: str
    rule: str
    """The rule of the first problem, as Monty's type checker names it."""
    line: int
    """The line of the first problem (1-based)."""


def _w(label: str, rule: str, *lines: str, line: int = 2) -> Wrong:
    """A wrong program: `log('start')`, then `lines`; its first problem is on `line`."""
    return Wrong(label, "\n".join(["log('start')", *lines]), rule, line)


REF = "unresolved-reference"
IMPORT = "unresolved-import"
TOO_MANY = "too-many-positional-arguments"
UNKNOWN = "unknown-argument"
MISSING = "missing-argument"
TWICE = "parameter-already-assigned"
TYPE = "invalid-argument-type"
CALLBACK = "registered-call-in-callback"
MAP_FN = "unregistered-map-function"
MEMBER = "unresolved-attribute"

WRONG: list[Wrong] = [
    # Names: a misspelt or invented function, a builtin the sandbox lacks, a variable
    # from a turn the model imagines, a module used without its import.
    _w("misspelt function", REF, "c = get_costumer(3)", "c['name']"),
    _w("camelCase function", REF, "c = getCustomer(3)", "c['email']"),
    _w("camelCase send", REF, "sendEmail('ada@example.com', 'Hi', 'Hello')"),
    _w("invented synonym", REF, "c = fetch_customer(3)"),
    _w("plural of a registered function", REF, "rows = get_customers([1, 2])"),
    _w("namespaced like another tool's API", REF, "w = default_api.get_weather(city='Paris')"),
    _w("tools. prefix", REF, "w = tools.get_weather('Paris')"),
    _w("invented helper", REF, "total = 120.0", "format_currency(total, 'EUR')", line=3),
    _w("builtin the sandbox lacks: callable", REF, "ok = callable(get_customer)"),
    _w("builtin the sandbox lacks: vars", REF, "c = get_customer(1)", "vars(c)", line=3),
    _w("builtin the sandbox lacks: dir", REF, "names = dir(get_weather('Oslo'))"),
    _w("builtin the sandbox lacks: globals", REF, "if 'customer' not in globals():", "    customer = None"),
    _w(
        "builtin the sandbox lacks: exit",
        REF,
        "c = get_customer(1)",
        "if c['tier'] == 'gold':",
        "    exit()",
        line=4,
    ),
    _w("variable from a previous turn", REF, "orders = list_orders(customer['id'])"),
    _w("results from a previous turn", REF, "print(len(results))"),
    _w("undefined name in an f-string", REF, "print(f'Dear {customer_name},')"),
    _w("json without import", REF, "c = get_customer(1)", "json.dumps(c)", line=3),
    _w("datetime without import", REF, "today = datetime.now().date()"),
    _w("Decimal without import", REF, "price = Decimal('19.99')"),
    _w("JSON true for True", REF, "send_email('ada@example.com', 'Hi', 'Hello', urgent=true)"),
    _w("JSON null for None", REF, "update_stock('SKU-1', 5, reason=null)"),
    _w("raising an exception the sandbox lacks", REF, "raise ConnectionError('weather service down')"),
    # Modules the sandbox cannot import.
    _w("numpy", IMPORT, "import numpy as np", "np.mean([1, 2, 3])"),
    _w("pandas", IMPORT, "import pandas as pd", "df = pd.DataFrame(list_orders(1))"),
    _w("requests", IMPORT, "import requests", "requests.get('https://example.com')"),
    _w("heapq", IMPORT, "import heapq", "heapq.nlargest(2, [3, 1, 2])"),
    _w("submodule of an available module", IMPORT, "from collections.abc import Iterable"),
    _w("statistics", IMPORT, "from statistics import mean", "mean([1.0, 2.0])"),
    _w("operator.itemgetter", IMPORT, "from operator import itemgetter"),
    _w("string constants", IMPORT, "import string", "string.ascii_lowercase"),
    _w("dateutil", IMPORT, "from dateutil import parser"),
    _w(
        "import later in the code",
        IMPORT,
        "orders = list_orders(1)",
        "import textwrap",
        "textwrap.shorten(str(orders), 40)",
        line=3,
    ),
    # Too many positional arguments (keyword-only parameters given by position).
    _w("extra argument", TOO_MANY, "c = get_customer(3, True)"),
    _w(
        "cc given by position", TOO_MANY, "send_email('ada@example.com', 'Hi', 'Hello', ['alan@example.com'])"
    ),
    _w("keyword-only reason by position", TOO_MANY, "update_stock('SKU-1', 5, 'restock')"),
    _w("language argument invented", TOO_MANY, "get_weather('Paris', 'metric', 'en')"),
    # Unknown keywords.
    _w("synonym keyword: location", UNKNOWN, "w = get_weather(location='Paris')"),
    _w(
        "synonym keyword: recipient",
        UNKNOWN,
        "send_email(recipient='ada@example.com', subject='Hi', body='x')",
    ),
    _w("synonym keyword: max_results", UNKNOWN, "rows = list_orders(customer_id=3, max_results=5)"),
    _w("id for customer_id", UNKNOWN, "c = get_customer(id=3)"),
    _w("camelCase keyword", UNKNOWN, "c = get_customer(customerId=3)"),
    _w("from_/to keywords", UNKNOWN, "convert_currency(100, from_='USD', to='EUR')"),
    _w("invented option", UNKNOWN, "send_email('ada@example.com', 'Hi', 'Hello', html=True)"),
    _w("q for query", UNKNOWN, "hits = search_docs(q='refund', top_k=3)"),
    _w("misspelt keyword", UNKNOWN, "rows = list_orders(3, stauts='pending')"),
    # Missing required arguments.
    _w("missing body", MISSING, "send_email('ada@example.com', 'Hello')"),
    _w("missing from_currency", MISSING, "eur = convert_currency(100)"),
    _w("missing address", MISSING, "create_shipment(items=[{'sku': 'SKU-1', 'qty': 1}])"),
    _w("missing tags", MISSING, "tag_documents([1, 2])"),
    _w("no argument at all", MISSING, "c = get_customer()"),
    # A keyword also given by position.
    _w("city twice", TWICE, "w = get_weather('Paris', city='Paris')"),
    _w("sku twice", TWICE, "update_stock('SKU-1', 5, sku='SKU-1')"),
    # Literal arguments of the wrong type.
    _w("string number for an int", TYPE, "c = get_customer('3')"),
    _w("string number for a keyword int", TYPE, "rows = list_orders(3, limit='10')"),
    _w("string number for a float", TYPE, "convert_currency('100', 'USD', 'EUR')"),
    _w("float for an int", TYPE, "hits = search_docs('refund', top_k=5.0)"),
    _w("value outside a Literal", TYPE, "w = get_weather('Paris', units='celsius')"),
    _w("status outside a Literal", TYPE, "rows = list_orders(3, status='open')"),
    _w("dict for a str", TYPE, "w = get_weather({'city': 'Paris'})"),
    _w("list for a str", TYPE, "send_email(['ada@example.com', 'alan@example.com'], 'Hi', 'Hello')"),
    _w("list for a scalar", TYPE, "rows = get_customer([1, 2, 3])"),
    _w("str for a list", TYPE, "send_email('ada@example.com', 'Hi', 'Hello', cc='alan@example.com')"),
    _w("None for a required int", TYPE, "update_stock('SKU-1', None)"),
    _w("None for a required str", TYPE, "send_email(to=None, subject='Hi', body='Hello')"),
    _w("string for a bool", TYPE, "set_flag('beta', 'true')"),
    _w("str for a pydantic model", TYPE, "create_shipment('221B Baker Street, London', [])"),
    _w("dict for a list of TypedDicts", TYPE, "create_shipment({}, {'sku': 'SKU-1', 'qty': 1})"),
    _w("str for a dataclass", TYPE, "usage_report('2024-01', 'requests')"),
    _w("strings in a list of ints", TYPE, "tag_documents(['1', '2'], {'topic': 'refund'})"),
    _w("list for a dict", TYPE, "tag_documents([1, 2], ['refund', 'urgent'])"),
    _w("int value in a dict of str", TYPE, "hits = search_docs('refund', filters={'year': 2024})"),
    _w("f-string for an int", TYPE, "c = get_customer(f'{3}')"),
    _w("awaited call with a list for a str", TYPE, "rate = await fetch_rate(['USD', 'GBP'])"),
    _w(
        "wrong call in a helper function",
        TYPE,
        "def tier_of(cid):",
        "    return get_customer(str(cid))['tier']",
        "tiers = [get_customer('2')['tier']]",
        line=4,
    ),
    _w(
        "wrong call late in a loop",
        TYPE,
        "for cid in [1, 2]:",
        "    c = get_customer(cid)",
        "    send_email(c['email'], 'Hi', 'Hello', urgent='yes')",
        line=4,
    ),
    # A name the sandbox's module lacks, though CPython's has it.
    _w(
        "a typing name the sandbox lacks",
        IMPORT,
        "from typing import Any, cast",
        "n = cast(int, get_customer(1)['id'])",
    ),
    _w("OrderedDict", IMPORT, "from collections import OrderedDict", "seen = OrderedDict()"),
    _w(
        "a member the sandbox's module lacks",
        MEMBER,
        "import collections",
        "seen = collections.OrderedDict()",
        line=3,
    ),
    _w("asdict", IMPORT, "from dataclasses import dataclass, asdict"),
    # A dict literal for a model, dataclass or TypedDict parameter that evidently does not fit.
    _w(
        "a model's dict without a required field",
        TYPE,
        "create_shipment({'street': '1 Main St', 'city': 'Leeds'}, [{'sku': 'SKU-1', 'qty': 1}])",
    ),
    _w(
        "a TypedDict item with a word for a number",
        TYPE,
        "to = {'street': '1 Main St', 'city': 'Leeds', 'postcode': 'LS1 1AA'}",
        "create_shipment(to, [{'sku': 'SKU-1', 'qty': 'two'}])",
        line=3,
    ),
    _w(
        "a dataclass's dict with a number for a str",
        TYPE,
        "usage_report({'start': 2024, 'end': '2024-12-31'})",
    ),
    # parallel_map given what is not a registered function.
    _w(
        "parallel_map over a lambda that calls a function",
        MAP_FN,
        "rates = parallel_map(lambda c: convert_currency(10, c), ['USD', 'GBP'])",
    ),
    _w(
        "parallel_map over a function the code defines",
        MAP_FN,
        "def name_of(cid):",
        "    return get_customer(cid)['name']",
        "names = parallel_map(name_of, [1, 2])",
        line=4,
    ),
    _w("parallel_map over a misspelt function name", MAP_FN, "rows = parallel_map('get_costumer', [1, 2])"),
    # A registered function that a builtin would call back: Monty cannot make the call there.
    _w(
        "max by a key that calls a function",
        CALLBACK,
        "best = max([1, 2, 3], key=lambda cid: len(list_orders(cid)))",
    ),
    _w("sorted by a registered function", CALLBACK, "names = sorted(['Oslo', 'Lima'], key=get_weather)"),
    _w("map over a registered function", CALLBACK, "rows = list(map(get_customer, [1, 2]))"),
    _w(
        "filter by a lambda that calls a function",
        CALLBACK,
        "gold = list(filter(lambda cid: get_customer(cid)['tier'] == 'gold', [1, 2, 3]))",
    ),
    _w(
        "list.sort by a key that calls a function",
        CALLBACK,
        "ids = [3, 1]",
        "ids.sort(key=lambda cid: get_customer(cid)['name'])",
        line=3,
    ),
]


# -- wrong programs the fast check lets through ----------------------------------------------


@dataclass(frozen=True)
class Subtle:
    label: str
    code: str
    why: str
    """Why the fast check cannot be sure."""


SUBTLE: list[Subtle] = [
    Subtle("str in a variable for an int", "log('start')\ncid = '3'\nget_customer(cid)", "not a literal"),
    Subtle(
        "a call's dict result for a str",
        "log('start')\nc = get_customer(1)\nget_weather(c)",
        "not a literal",
    ),
    Subtle("len() for a str", "log('start')\nn = len('abc')\nsend_email(n, 'Hi', 'Hello')", "not a literal"),
    Subtle(
        "too many arguments through *args",
        "log('start')\nargs = (1, 2)\nget_customer(*args)",
        "a * call",
    ),
    Subtle(
        "unknown keyword through **kwargs",
        "log('start')\nkw = {'town': 'Paris'}\nget_weather(**kw)",
        "a ** call",
    ),
    Subtle(
        "strings mapped over an int parameter",
        "log('start')\nparallel_map(get_customer, ['1', '2'])",
        "parallel_map's items are not checked",
    ),
]


# -- correct programs no check may refuse -----------------------------------------------------


def _code(text: str) -> str:
    return textwrap.dedent(text).strip()


@dataclass(frozen=True)
class Valid:
    label: str
    code: str
    expected: Any
    fast_issue: str | None = None
    """Set when the fast check refuses this correct program today, and why (a bug)."""


VALID: list[Valid] = [
    Valid(
        "name bound in both branches",
        "c = get_customer(1)\nif c['tier'] == 'gold':\n    limit = 5\nelse:\n    limit = 1\n"
        "len(list_orders(1, limit=limit))",
        1,
    ),
    Valid(
        "name bound in one branch only, read under the same condition",
        "urgent = False\nif urgent:\n    note = 'now'\nnote if urgent else 'later'",
        "later",
    ),
    Valid(
        "loop variable read after the loop",
        "for cid in [1, 2, 3]:\n    last = get_customer(cid)\n[cid, last['name']]",
        [3, "Grace Hopper"],
    ),
    Valid(
        "comprehensions and a generator",
        "names = [get_customer(i)['name'] for i in range(1, 4)]\n"
        "tiers = {get_customer(i)['tier'] for i in (1, 2)}\n"
        "total = sum(o['total'] for o in list_orders(1, status='pending'))\n"
        "[names[0], sorted(tiers), total]",
        ["Ada Lovelace", ["gold", "silver"], 35.5],
    ),
    Valid(
        "nested function calling registered functions",
        "def spend(cid):\n    return sum(o['total'] for o in list_orders(cid))\n[spend(1), spend(3)]",
        [120.0, 80.0],
    ),
    Valid(
        "closure with nonlocal",
        _code("""
            def counter():
                n = 0
                def bump(step=1):
                    nonlocal n
                    n += step
                    return n
                return bump
            b = counter()
            b()
            b(5)
        """),
        6,
    ),
    Valid(
        "global in a function",
        _code("""
            sent = 0
            def notify(to):
                global sent
                if send_email(to, 'Hi', 'Hello'):
                    sent += 1
            notify('ada@example.com')
            notify('nobody')
            sent
        """),
        1,
    ),
    Valid(
        "import guarded by try/except ImportError",
        "try:\n    import numpy as np\nexcept ImportError:\n    np = None\n"
        "vals = [o['total'] for o in list_orders(3)]\nsum(vals) / len(vals) if np is None else 0",
        80.0,
    ),
    Valid(
        "except PermissionError / FileNotFoundError / UnicodeDecodeError",
        "try:\n    w = get_weather('Oslo')\nexcept PermissionError:\n    w = None\n"
        "except (FileNotFoundError, UnicodeDecodeError) as exc:\n    w = str(exc)\nw['temperature']",
        18,
    ),
    Valid(
        "those exceptions as values",
        "kinds = (PermissionError, FileNotFoundError, UnicodeDecodeError)\n"
        "try:\n    raise FileNotFoundError('report.csv')\nexcept kinds as exc:\n    caught = str(exc)\n"
        "[caught, isinstance(PermissionError('x'), OSError)]",
        ["report.csv", True],
    ),
    Valid(
        "except ConnectionError around a call that does not raise",
        "try:\n    w = get_weather('Paris')\nexcept ConnectionError:\n    w = {'temperature': None}\n"
        "w['temperature']",
        18,
    ),
    Valid(
        "except (TimeoutError, ConnectionError) as e",
        "try:\n    rate = convert_currency(10, 'USD')\nexcept (TimeoutError, ConnectionError) as e:\n"
        "    rate = -1\nrate",
        8.0,
    ),
    Valid(
        "walrus",
        "if (n := len(list_orders(1))) > 0:\n    msg = f'{n} order(s)'\nmsg",
        "1 order(s)",
    ),
    Valid(
        "match statement with a mapping pattern",
        _code("""
            w = get_weather('Rome', units='imperial')
            match w:
                case {'units': 'imperial', **rest}:
                    t = round((rest['temperature'] - 32) * 5 / 9)
                case {'temperature': t}:
                    pass
            t
        """),
        18,
    ),
    Valid(
        "f-strings with format specs",
        "c = get_customer(2)\nx = convert_currency(100, 'USD', 'GBP')\nf\"{c['name']!r:>14}|{x:08.2f}\"",
        " 'Alan Turing'|00064.00",
    ),
    Valid(
        "lambda as a sort key",
        "rows = list_orders(1, 'pending') + list_orders(3)\n"
        "[r['order_id'] for r in sorted(rows, key=lambda r: -r['total'])]",
        [103, 102],
    ),
    Valid("*args call", "args = (3,)\nget_customer(*args)['name']", "Grace Hopper"),
    Valid(
        "dict(**kw) and a ** call",
        "base = {'city': 'Lyon'}\nkw = dict(**base, units='metric')\nget_weather(**kw)['city']",
        "Lyon",
    ),
    Valid(
        "variable where a literal of its type would be wrong",
        "raw = '3'\ncid = int(raw)\nget_customer(cid)['email']",
        "grace@example.com",
    ),
    Valid(
        "class without inheritance",
        "class Basket:\n    def __init__(self):\n        self.items = []\n    def add(self, sku, qty):\n"
        "        self.items.append({'sku': sku, 'qty': qty})\n        return self\n"
        "b = Basket().add('SKU-1', 2).add('SKU-2', 1)\n"
        "create_shipment({'street': '1 Main St', 'city': 'Leeds', 'postcode': 'LS1 1AA'}, b.items)",
        "TRK-LS11AA-3",
    ),
    Valid(
        "await on registered functions",
        "c = await get_customer(1)\nrate = await fetch_rate('USD')\nawait log('done')\n[c['id'], rate]",
        [1, 1.25],
    ),
    Valid(
        "await asyncio.gather over sync and async functions",
        "import asyncio\n"
        "rates = await asyncio.gather(fetch_rate('USD'), fetch_rate('GBP'), convert_currency(10, 'EUR'))\n"
        "rates",
        [1.25, 0.8, 10.0],
    ),
    Valid(
        "asyncio.gather over a comprehension",
        "import asyncio\nids = [1, 3]\n"
        "found = await asyncio.gather(*[get_customer(i) for i in ids])\n[c['name'] for c in found]",
        ["Ada Lovelace", "Grace Hopper"],
    ),
    Valid(
        "asyncio.run of a local coroutine",
        "import asyncio\nasync def main():\n    return await fetch_rate('GBP')\nasyncio.run(main())",
        0.8,
    ),
    Valid(
        "parallel_map over a dict view and a generator",
        "amounts = {'USD': 125, 'GBP': 80}\n"
        "parallel_map(convert_currency, amounts.values(), (k for k in amounts), concurrency=2)",
        [100.0, 100.0],
    ),
    Valid(
        "keyword-only arguments and Optional None",
        "a = send_email('ada@example.com', 'Hi', 'Hello', cc=None, urgent=True)\n"
        "b = send_email('alan@example.com', 'Hi', 'Hello', cc=['ada@example.com'])\n"
        "[a, b, update_stock('SKU-9', -2, reason=None)]",
        [True, True, -2],
    ),
    Valid(
        "model, TypedDict and dataclass parameters as dicts",
        "t = create_shipment({'street': '2 High St', 'city': 'York', 'postcode': 'YO1 7HH'},\n"
        "                    [{'sku': 'SKU-1', 'qty': 2}], express=True)\n"
        "r = usage_report({'start': '2024-01-01', 'end': '2024-01-31'})\n[t, r['total']]",
        ["TRK-YO17HH-2-X", 1234],
    ),
    Valid(
        "int for float, bool for bool, Literal by variable",
        "st = 'shipped'\n[convert_currency(100, 'EUR', 'USD'), set_flag('beta', True),\n"
        " len(list_orders(3, status=st)), summarize([1, 2.5], precision=1)]",
        [125.0, False, 1, {"min": 1, "max": 2.5, "mean": 1.8}],
    ),
    Valid("tuple for a list parameter", "tag_documents((1, 2), {'topic': 'refund'})", 2),
    Valid(
        "a local function shadowing a registered one",
        "def get_customer(first, last):\n    return first + ' ' + last\nget_customer('Ada', 'L')",
        "Ada L",
    ),
    Valid(
        "function defined after the one that calls it",
        "def report():\n    return fmt(get_customer(2))\ndef fmt(c):\n    return c['name'].upper()\nreport()",
        "ALAN TURING",
    ),
    Valid(
        "available modules",
        "import json, math, re\nfrom collections import Counter\nfrom datetime import date, timedelta\n"
        "import os.path\n"
        "c = Counter(o['status'] for o in list_orders(1) + list_orders(1, 'pending'))\n"
        "[json.dumps(dict(c), sort_keys=True), math.floor(2.7), re.sub('a', 'b', 'aa'),\n"
        " str(date(2024, 1, 30) + timedelta(days=2)), os.path.join('a', 'b')]",
        ['{"delivered": 1, "pending": 1}', 2, "bb", "2024-02-01", "a/b"],
    ),
    Valid(
        "for/else, while, try/except/finally",
        "i = 0\nwhile True:\n    i += 1\n    if i > 2:\n        break\nfor s in ['SKU-1']:\n"
        "    if s == 'x':\n        break\nelse:\n    s = 'none'\ntry:\n    v = get_customer(1)['nope']\n"
        "except KeyError as exc:\n    v = f'missing {exc}'\nfinally:\n    done = True\n[i, s, v, done]",
        [3, "none", "missing 'nope'", True],
    ),
    Valid(
        "star unpacking, dict comprehension, print",
        "first, *rest = [o['order_id'] for o in list_orders(3) + list_orders(3, 'shipped')]\n"
        "totals = {o['order_id']: o['total'] for o in list_orders(3)}\nprint('first', first)\n"
        "[first, rest, totals]",
        [103, [104], {103: 80.0}],
    ),
    Valid(
        "class holding a closure over a registered call",
        _code("""
            class Cache:
                def __init__(self, fetch):
                    self.fetch = fetch
                    self.seen = {}
                def get(self, key):
                    if key not in self.seen:
                        self.seen[key] = self.fetch(key)
                    return self.seen[key]
            cache = Cache(lambda cid: get_customer(cid)['tier'])
            [cache.get(1), cache.get(1), len(cache.seen)]
        """),
        ["gold", "gold", 1],
    ),
    Valid(
        "unicode text before a call",
        "note = 'café ☕ — naïve'\nlog(note)\nsearch_docs('refund', filters={'year': '2024'})[0]['id']",
        1,
    ),
    Valid(
        "annotations naming what is not imported",
        "def total(rows: list[dict[str, Any]]) -> float:\n    return sum(r['total'] for r in rows)\n"
        "total(list_orders(1))",
        120.0,
    ),
    Valid(
        "an import only for type checkers",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import numpy\nget_customer(1)['tier']",
        "gold",
    ),
    Valid(
        "values fetched first, then max and sorted by a key reading them",
        "counts = {cid: len(list_orders(cid)) for cid in [1, 2, 3]}\n"
        "[max(counts, key=lambda cid: counts[cid]), sorted(counts, key=lambda cid: -counts[cid])]",
        [1, [1, 3, 2]],
    ),
    Valid(
        "a key lambda whose parameter shadows a registered function",
        "sorted([get_customer(2), get_customer(1)], key=lambda log: log['id'])[0]['name']",
        "Ada Lovelace",
    ),
    Valid(
        "map and filter over plain functions of the results",
        "rows = [get_customer(cid) for cid in [1, 2, 3]]\n"
        "list(map(lambda t: t.upper(), [r['tier'] for r in filter(lambda r: r['tier'] == 'gold', rows)]))",
        ["GOLD", "GOLD"],
    ),
    Valid(
        "a class of the code's own whose sort method takes a key",
        "class Table:\n    def __init__(self, ids):\n        self.ids = ids\n"
        "    def sort(self, key):\n        return sorted([key(i) for i in self.ids])\n"
        "Table([3, 1]).sort(key=lambda cid: get_customer(cid)['name'])",
        ["Ada Lovelace", "Grace Hopper"],
    ),
    Valid(
        "a model's dict with its defaulted field left out, and one built with **",
        "base = {'street': '1 Main St', 'city': 'Leeds'}\n"
        "[create_shipment({**base, 'postcode': 'LS1 1AA'}, [{'sku': 'SKU-1', 'qty': 2}]),\n"
        " create_shipment({'street': 'a', 'city': 'b', 'postcode': 'X 1', 'country': 'FR'}, [])]",
        ["TRK-LS11AA-2", "TRK-X1-0"],
    ),
    Valid(
        "parallel_map over a registered function by name, from a variable",
        "fn = 'get_customer'\n[c['tier'] for c in parallel_map(fn, [1, 2])]",
        ["gold", "silver"],
    ),
    Valid("module dunders", "[__name__, __doc__]", ["__main__", None]),
    Valid(
        "from __future__ import annotations",
        "from __future__ import annotations\nget_customer(1)['tier']",
        "gold",
    ),
]
