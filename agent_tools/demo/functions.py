"""The demo shop's functions: what model-written code calls to answer questions
about customers, products, orders and shipments.

Every function returns plain data (dicts and lists of str, int, float, None) and
opens the database read-only. The docstrings are what the model reads, so they
say what each key means and how to get at the rest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent_tools.demo import db

__all__ = [
    "FUNCTIONS",
    "database_path",
    "get_customer",
    "get_order",
    "get_product",
    "list_customers",
    "list_orders",
    "list_products",
    "list_shipments",
    "query",
    "schema",
]

MAX_ROWS = 100_000
"""The largest `limit` any function accepts."""
QUERY_SECONDS = 10.0
"""A `query` running longer than this is stopped."""


def database_path() -> Path:
    """The demo database file, built on first use (see `agent_tools.demo.db`)."""
    return db.ensure_database()


# ---------------------------------------------------------------------------
# Helpers


def _connect() -> sqlite3.Connection:
    conn = db.connect_readonly(database_path())
    conn.row_factory = sqlite3.Row
    return conn


def _rows(sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    with contextlib.closing(_connect()) as conn:
        return [dict(row) for row in conn.execute(sql, tuple(params))]


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_ROWS:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ValueError(f"limit must be an integer from 1 to {MAX_ROWS}, got {limit!r}")


def _limited(rows: list[dict[str, Any]], limit: int, what: str, narrow: str) -> list[dict[str, Any]]:
    """`rows` (fetched with `LIMIT limit + 1`), or a ValueError if there were more than
    `limit`: a cut list would give wrong totals without anyone noticing."""
    if len(rows) > limit:
        raise ValueError(
            f"more than {limit} {what} match; {narrow}, or pass a larger limit (up to {MAX_ROWS}); "
            "for totals, counts and rankings, query() with GROUP BY is the quickest"
        )
    return rows


def _iso_day(value: str, name: str) -> str:
    """`value` as 'YYYY-MM-DD'; a ValueError naming the parameter if it is not a date."""
    if not isinstance(value, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ValueError(f"{name} must be a date string 'YYYY-MM-DD', got {value!r}")
    try:
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(value.strip()).date().isoformat()
    except ValueError:
        raise ValueError(f"{name} must be a date 'YYYY-MM-DD', got {value!r}") from None


def _choice(value: str, allowed: Sequence[str], name: str) -> str:
    """`value` matched case-insensitively against `allowed`; a ValueError listing them otherwise."""
    folded = value.strip().casefold() if isinstance(value, str) else None  # pyright: ignore[reportUnnecessaryIsInstance]
    for option in allowed:
        if option.casefold() == folded:
            return option
    raise ValueError(f"unknown {name} {value!r}; expected one of: {', '.join(allowed)}")


# ---------------------------------------------------------------------------
# Look-ups


def get_customer(customer_id: int) -> dict[str, Any]:
    """One customer by id.

    Returns {"customer_id", "name", "email", "country" (ISO code such as "DE"),
    "city", "segment" ("consumer" or "business"), "signup_date" ("YYYY-MM-DD")}.
    Raises KeyError if there is no such customer.
    """
    rows = _rows("SELECT * FROM customers WHERE customer_id = ?", (customer_id,))
    if not rows:
        raise KeyError(f"no customer with customer_id {customer_id!r}")
    return rows[0]


def get_product(sku: str) -> dict[str, Any]:
    """One product by SKU (such as "ELE-0001").

    Returns {"sku", "name", "category", "unit_price" (list price in USD), "stock" (units
    in the warehouse now)}. Raises KeyError if there is no such product.
    """
    rows = _rows("SELECT * FROM products WHERE sku = ?", (str(sku).strip().upper(),))
    if not rows:
        raise KeyError(f"no product with sku {sku!r}")
    return rows[0]


def get_order(order_id: int) -> dict[str, Any]:
    """One order by id, with its lines and its shipments.

    Returns {"order_id", "customer_id", "order_date" ("YYYY-MM-DD"), "status", "total" (USD,
    the sum of its lines), "items": [{"line_no", "sku", "name", "category", "quantity",
    "unit_price" (USD actually paid per unit, after any discount), "amount" (quantity *
    unit_price)}], "shipments": [{"shipment_id", "carrier", "tracking_number", "status",
    "shipped_date", "delivered_date" (None while in transit)}]}.
    Order status is one of processing, shipped, delivered, cancelled, returned.
    Raises KeyError if there is no such order.
    """
    with contextlib.closing(_connect()) as conn:
        row = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        if row is None:
            raise KeyError(f"no order with order_id {order_id!r}")
        order: dict[str, Any] = dict(row)
        items = conn.execute(
            """SELECT i.line_no, i.sku, p.name, p.category, i.quantity, i.unit_price,
                      ROUND(i.quantity * i.unit_price, 2) AS amount
               FROM order_items i JOIN products p ON p.sku = i.sku
               WHERE i.order_id = ? ORDER BY i.line_no""",
            (order_id,),
        )
        order["items"] = [dict(r) for r in items]
        shipments = conn.execute(
            """SELECT shipment_id, carrier, tracking_number, status, shipped_date, delivered_date
               FROM shipments WHERE order_id = ? ORDER BY shipment_id""",
            (order_id,),
        )
        order["shipments"] = [dict(r) for r in shipments]
    return order


# ---------------------------------------------------------------------------
# Listings


def list_customers(country: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Customers, by customer_id, optionally only those of one country.

    `country` is an ISO code ("US", "DE", ...) or an English name ("Germany"), any case.
    Each item is like get_customer's result. Raises ValueError if more than `limit`
    customers match (nothing is cut silently): filter by country or pass a larger
    limit (up to 100000). There are a few hundred customers in all.
    """
    _check_limit(limit)
    sql = "SELECT * FROM customers"
    params: list[Any] = []
    if country is not None:
        names = {name.casefold(): code for code, name in db.COUNTRIES.items()}
        key = country.strip().casefold() if isinstance(country, str) else ""  # pyright: ignore[reportUnnecessaryIsInstance]
        code = names.get(key) or next((c for c in db.COUNTRIES if c.casefold() == key), None)
        if code is None:
            known = ", ".join(f"{c} ({n})" for c, n in db.COUNTRIES.items())
            raise ValueError(f"unknown country {country!r}; the shop sells to: {known}")
        sql += " WHERE country = ?"
        params.append(code)
    rows = _rows(f"{sql} ORDER BY customer_id LIMIT ?", [*params, limit + 1])
    return _limited(rows, limit, "customers", "filter by country")


def list_orders(
    customer_id: int | None = None,
    since: str | None = None,
    until: str | None = None,
    status: str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Orders, oldest first, filtered by any of customer, date range and status (without their lines).

    `since` and `until` are dates "YYYY-MM-DD", both inclusive: since="2025-10-01",
    until="2025-12-31" is the fourth quarter of 2025. `status` is one of processing,
    shipped, delivered, cancelled, returned. Each item is {"order_id", "customer_id",
    "order_date", "status", "total" (USD), "item_count" (number of lines)}; get_order(order_id)
    gives the lines. Raises ValueError if more than `limit` orders match (nothing is cut
    silently): narrow the filters or pass a larger limit (up to 100000). There are a few
    thousand orders in all, from 2024-01-01 to 2025-12-31.
    """
    _check_limit(limit)
    where: list[str] = []
    params: list[Any] = []
    if customer_id is not None:
        where.append("o.customer_id = ?")
        params.append(customer_id)
    if since is not None:
        where.append("o.order_date >= ?")
        params.append(_iso_day(since, "since"))
    if until is not None:
        where.append("o.order_date <= ?")
        params.append(_iso_day(until, "until"))
    if status is not None:
        where.append("o.status = ?")
        params.append(_choice(status, db.ORDER_STATUSES, "order status"))
    sql = """SELECT o.order_id, o.customer_id, o.order_date, o.status, o.total,
                    (SELECT COUNT(*) FROM order_items i WHERE i.order_id = o.order_id) AS item_count
             FROM orders o"""
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = _rows(f"{sql} ORDER BY o.order_date, o.order_id LIMIT ?", [*params, limit + 1])
    return _limited(rows, limit, "orders", "narrow the filters (customer_id, since/until, status)")


def list_products(category: str | None = None) -> list[dict[str, Any]]:
    """Products, by SKU, optionally only one category (any case).

    Categories: Electronics, Home & Kitchen, Books, Clothing, Sports & Outdoors,
    Toys & Games, Beauty, Office. Each item is like get_product's result. About a
    hundred products in all.
    """
    if category is None:
        return _rows("SELECT * FROM products ORDER BY sku")
    name = _choice(category, list(db.CATEGORIES), "category")
    return _rows("SELECT * FROM products WHERE category = ? ORDER BY sku", (name,))


def list_shipments(order_id: int | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Shipments (parcels), by shipment_id, optionally of one order and/or one status.

    `status` is one of in_transit, delivered, returned. Each item is {"shipment_id",
    "order_id", "carrier", "tracking_number", "status", "shipped_date", "delivered_date"
    (None while in transit)}. An order has one shipment, sometimes two; cancelled and
    processing orders have none.
    """
    where: list[str] = []
    params: list[Any] = []
    if order_id is not None:
        where.append("order_id = ?")
        params.append(order_id)
    if status is not None:
        where.append("status = ?")
        params.append(_choice(status, db.SHIPMENT_STATUSES, "shipment status"))
    sql = "SELECT * FROM shipments"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return _rows(f"{sql} ORDER BY shipment_id", params)


# ---------------------------------------------------------------------------
# SQL

_LEADING = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))*", re.DOTALL)
_FIRST_WORD = re.compile(r"[A-Za-z]+")
_ALLOWED_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)


def _authorize(
    action: int, _arg1: str | None, _arg2: str | None, _db: str | None, _trigger: str | None
) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED_ACTIONS else sqlite3.SQLITE_DENY


def _column_names(description: Sequence[Sequence[Any]]) -> list[str]:
    """The result's column names, a repeated one suffixed `_2`, `_3`, ... so none is lost."""
    names: list[str] = []
    for column in description:
        name = str(column[0])
        candidate, n = name, 1
        while candidate in names:
            n += 1
            candidate = f"{name}_{n}"
        names.append(candidate)
    return names


def query(sql: str, params: list[Any] | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Run one read-only SQL SELECT (or WITH ... SELECT) on the shop database (SQLite).

    Returns one dict per row, keyed by column name (name computed columns with AS; a
    repeated name gets a suffix _2, _3). Pass values as `params` for the ? placeholders,
    e.g. query("SELECT * FROM orders WHERE customer_id = ? AND order_date >= ?", [42, "2025-10-01"]).
    Dates are text 'YYYY-MM-DD', so compare them as strings or use strftime/substr.
    Call schema() for the tables and columns. Raises ValueError for anything but a
    single SELECT statement, for SQL errors (with SQLite's message) and when the query
    yields more than `limit` rows (nothing is cut silently): aggregate with GROUP BY,
    add a LIMIT clause, or pass a larger limit (up to 100000).
    """
    if not isinstance(sql, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ValueError(f"sql must be a string, got {type(sql).__name__}")
    _check_limit(limit)
    if params is not None and not isinstance(params, (list, tuple)):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ValueError(
            f"params must be a list of values for the ? placeholders, got {type(params).__name__}"
        )
    text = sql[_LEADING.match(sql).end() :]  # pyright: ignore[reportOptionalMemberAccess]
    word = _FIRST_WORD.match(text)
    keyword = word.group(0).upper() if word else ""
    if keyword not in ("SELECT", "WITH"):
        shown = keyword or (text[:20] or "an empty string")
        raise ValueError(
            f"query() runs only read-only SELECT statements (or WITH ... SELECT); got {shown}. "
            "The demo database cannot be changed."
        )
    deadline = time.monotonic() + QUERY_SECONDS
    with contextlib.closing(_connect()) as conn:
        conn.row_factory = None
        conn.set_authorizer(_authorize)
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 20_000)
        try:
            cursor = conn.execute(sql, tuple(params or ()))
            rows = cursor.fetchmany(limit + 1)
        except sqlite3.ProgrammingError as exc:
            if "one statement" in str(exc):
                raise ValueError("query() runs a single SELECT statement; send one at a time") from None
            raise ValueError(f"SQL error: {exc}") from None
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise TimeoutError(
                    f"the query ran longer than {QUERY_SECONDS:g} s and was stopped; "
                    "filter earlier, join on keys, or aggregate less at once"
                ) from None
            raise ValueError(f"SQL error: {exc}") from None
        except sqlite3.DatabaseError as exc:
            if "not authorized" in str(exc):
                raise ValueError(
                    "query() is read-only: only SELECT statements reading the shop's tables are allowed"
                ) from None
            raise ValueError(f"SQL error: {exc}") from None
        if cursor.description is None:  # pragma: no cover - a SELECT always describes its columns
            return []
        names = _column_names(cursor.description)
    if len(rows) > limit:
        raise ValueError(
            f"the query returned more than {limit} rows; aggregate with GROUP BY, add a LIMIT "
            f"clause, or pass a larger limit (up to {MAX_ROWS})"
        )
    return [dict(zip(names, row, strict=True)) for row in rows]


_TABLE_NOTES: dict[str, tuple[str, dict[str, str]]] = {
    "customers": (
        "people and companies who buy from the shop",
        {
            "customer_id": "INTEGER primary key",
            "name": "TEXT full name",
            "email": "TEXT unique",
            "country": "TEXT ISO 3166 code: " + ", ".join(f"{c} {n}" for c, n in db.COUNTRIES.items()),
            "city": "TEXT",
            "segment": "TEXT 'consumer' or 'business' (business customers buy in larger quantities)",
            "signup_date": "TEXT 'YYYY-MM-DD'",
        },
    ),
    "products": (
        "the catalog",
        {
            "sku": "TEXT primary key, e.g. 'ELE-0001'",
            "name": "TEXT brand and product",
            "category": "TEXT one of: {categories}",
            "unit_price": "REAL list price in USD",
            "stock": "INTEGER units in the warehouse now (0 = out of stock)",
        },
    ),
    "orders": (
        "one row per order",
        {
            "order_id": "INTEGER primary key",
            "customer_id": "INTEGER -> customers.customer_id",
            "order_date": "TEXT 'YYYY-MM-DD'",
            "status": "TEXT processing | shipped | delivered | cancelled | returned",
            "total": "REAL USD, the sum of the order's quantity * unit_price over order_items",
        },
    ),
    "order_items": (
        "the lines of each order",
        {
            "order_id": "INTEGER -> orders.order_id",
            "line_no": "INTEGER 1, 2, ... within the order",
            "sku": "TEXT -> products.sku",
            "quantity": "INTEGER",
            "unit_price": "REAL USD actually paid per unit (list price, less any discount)",
        },
    ),
    "shipments": (
        "parcels sent for an order (one, sometimes two; none for cancelled or processing orders)",
        {
            "shipment_id": "INTEGER primary key",
            "order_id": "INTEGER -> orders.order_id",
            "carrier": "TEXT e.g. 'DHL', 'UPS'",
            "tracking_number": "TEXT",
            "status": "TEXT in_transit | delivered | returned",
            "shipped_date": "TEXT 'YYYY-MM-DD'",
            "delivered_date": "TEXT 'YYYY-MM-DD', NULL while in transit",
        },
    ),
}


def schema() -> str:
    """The shop database's tables, their columns and what they mean, with row counts.

    Read it before writing SQL for query(). Money is in USD; dates are text 'YYYY-MM-DD';
    the data runs from 2024-01-01 to 2025-12-31, the last day being "today" for the data.
    """
    with contextlib.closing(_connect()) as conn:
        counts = {
            table: int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]) for table in _TABLE_NOTES
        }
    categories = ", ".join(db.CATEGORIES)
    last_day = db.AS_OF.isoformat()
    lines = [
        "SQLite database of an online shop (read-only).",
        f"Data from {db.DATA_START.isoformat()} to {last_day}; treat {last_day} as today "
        f"(so 'last quarter' is {db.AS_OF.year}-Q4: {db.AS_OF.year}-10-01 to {last_day}).",
        "Money is in USD. Dates are TEXT 'YYYY-MM-DD' (compare as strings; strftime('%Y-%m', d) for months).",
        "Spending usually excludes cancelled orders (status = 'cancelled'); returned orders were refunded.",
        "",
    ]
    for table, (about, columns) in _TABLE_NOTES.items():
        lines.append(f"{table} ({counts[table]} rows): {about}")
        for column, note in columns.items():
            lines.append(f"  {column}: {note.format(categories=categories)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


FUNCTIONS: list[Callable[..., Any]] = [
    schema,
    query,
    get_customer,
    get_product,
    get_order,
    list_customers,
    list_orders,
    list_products,
    list_shipments,
]
"""The demo's registered functions: `agent-tools run --tools agent_tools.demo:FUNCTIONS`."""
