"""The demo shop: its database (built once, atomically, the same everywhere) and
the functions model-written code calls on it."""

from __future__ import annotations

import inspect
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import agent_tools as at
from agent_tools import demo
from agent_tools.demo import db

TABLES = ("customers", "products", "orders", "order_items", "shipments")


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database for the read-only tests of this module."""
    return db.build_database(tmp_path_factory.mktemp("demo") / db.FILE_NAME)


@pytest.fixture
def data_dir(shared_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("AGENT_TOOLS_DATA_DIR", str(shared_db.parent))
    yield shared_db.parent


def counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_data_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGENT_TOOLS_DATA_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert db.default_path() == tmp_path / "explicit" / "demo.sqlite3"
    monkeypatch.delenv("AGENT_TOOLS_DATA_DIR")
    assert db.default_path() == tmp_path / "xdg" / "agent-tools" / "demo.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert db.default_path() == Path.home() / ".local" / "share" / "agent-tools" / "demo.sqlite3"


def test_created_once_on_first_use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGENT_TOOLS_DATA_DIR", str(tmp_path / "data"))
    builds: list[Path] = []
    real_build = db.build_database

    def counting_build(path: Path) -> Path:
        builds.append(path)
        return real_build(path)

    monkeypatch.setattr(db, "build_database", counting_build)
    path = demo.database_path()
    assert path == tmp_path / "data" / "demo.sqlite3" and path.is_file()
    stat = path.stat()
    assert demo.database_path() == path
    assert len(builds) == 1

    # A new process (nothing remembered) finds the file and does not rebuild it either.
    monkeypatch.setattr(db, "_ready", set[Path]())
    assert db.ensure_database() == path
    assert len(builds) == 1
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert sorted(p.name for p in path.parent.iterdir()) == ["demo.sqlite3"]  # no temporary files left


def test_a_broken_or_outdated_file_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / db.FILE_NAME
    path.write_text("not a database")
    assert db.ensure_database(path) == path
    assert counts(path)["orders"] == db.N_ORDERS


def test_thousands_of_plausible_rows(shared_db: Path) -> None:
    n = counts(shared_db)
    assert n["customers"] == db.N_CUSTOMERS and n["orders"] == db.N_ORDERS
    assert n["products"] == 120
    assert n["order_items"] > n["orders"] and n["shipments"] > 3000
    assert sum(n.values()) > 10_000
    with sqlite3.connect(shared_db) as conn:

        def one(sql: str) -> Any:
            return conn.execute(sql).fetchone()[0]

        # Totals are the sum of their lines; dates lie in 2024 and 2025; shipments follow orders.
        never = [
            "orders o WHERE ABS(o.total - (SELECT SUM(quantity * unit_price) FROM order_items i "
            "WHERE i.order_id = o.order_id)) > 0.005",
            "orders o JOIN customers c USING (customer_id) WHERE order_date < signup_date",
            "shipments s JOIN orders o USING (order_id) WHERE shipped_date < order_date",
            "shipments s JOIN orders o USING (order_id) WHERE o.status IN ('cancelled', 'processing')",
            "shipments WHERE delivered_date > '2025-12-31'",
            "shipments WHERE (delivered_date IS NULL) != (status = 'in_transit')",
        ]
        for where in never:
            assert one(f"SELECT COUNT(*) FROM {where}") == 0, where
        assert one("SELECT MIN(order_date) FROM orders") >= "2024-01-01"
        assert one("SELECT MAX(order_date) FROM orders") <= "2025-12-31"
        assert one("SELECT MIN(signup_date) FROM customers") >= "2024-01-01"
        statuses = {r[0] for r in conn.execute("SELECT DISTINCT status FROM orders")}
        assert statuses == set(db.ORDER_STATUSES)
        assert one("SELECT COUNT(DISTINCT country) FROM customers") == len(db.COUNTRIES)
        # A few customers buy far more than the median one.
        spend = [
            r[0] for r in conn.execute("SELECT SUM(total) s FROM orders GROUP BY customer_id ORDER BY s DESC")
        ]
        assert spend[0] > 10 * spend[len(spend) // 2]


def test_deterministic(tmp_path: Path, shared_db: Path) -> None:
    other = db.build_database(tmp_path / "again.sqlite3")
    assert dump(other) == dump(shared_db)


def test_processes_building_at_once_all_succeed(tmp_path: Path) -> None:
    env = dict(os.environ, AGENT_TOOLS_DATA_DIR=str(tmp_path))
    code = (
        "from agent_tools.demo import db; db.build_database(db.default_path()); print(db.ensure_database())"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert set(outputs) == {str(tmp_path / db.FILE_NAME)}
    assert counts(tmp_path / db.FILE_NAME)["orders"] == db.N_ORDERS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.sqlite3"]


def test_threads_building_at_once(tmp_path: Path) -> None:
    path = tmp_path / db.FILE_NAME
    errors: list[BaseException] = []

    def build() -> None:
        try:
            db.ensure_database(path)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counts(path)["customers"] == db.N_CUSTOMERS


# ---------------------------------------------------------------------------
# The functions


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO customers VALUES (9999, 'x', 'x@example.com', 'US', 'Austin', 'consumer', '2025-01-01')",
        "UPDATE orders SET total = 0",
        "DELETE FROM orders",
        "DROP TABLE orders",
        "ATTACH DATABASE ':memory:' AS other",
        "PRAGMA user_version = 7",
        "PRAGMA query_only = OFF",
        "CREATE TABLE t (x)",
        "SELECT 1; DROP TABLE orders",
        "SELECT 1; SELECT 2",
        "WITH doomed AS (SELECT order_id FROM orders) DELETE FROM orders WHERE order_id IN doomed",
        "-- a comment first\n  /* and another */ delete from orders",
        "VACUUM",
        "BEGIN",
        "",
    ],
)
def test_query_refuses_anything_but_one_select(data_dir: Path, sql: str) -> None:
    with pytest.raises(ValueError) as info:
        demo.query(sql)
    assert "SELECT" in str(info.value)
    assert counts(demo.database_path())["orders"] == db.N_ORDERS


def test_query_answers_selects(data_dir: Path) -> None:
    rows = demo.query(
        "-- spend per country\nSELECT c.country, COUNT(*) AS orders, ROUND(SUM(o.total), 2) AS spent "
        "FROM orders o JOIN customers c USING (customer_id) WHERE o.order_date >= ? "
        "GROUP BY c.country ORDER BY spent DESC;",
        ["2025-01-01"],
    )
    assert len(rows) == len(db.COUNTRIES)
    assert set(rows[0]) == {"country", "orders", "spent"}
    assert rows[0]["spent"] >= rows[-1]["spent"]
    recursive = demo.query(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) SELECT x FROM n"
    )
    assert [r["x"] for r in recursive] == [1, 2, 3, 4, 5]
    same_name = demo.query(
        "SELECT o.customer_id, c.customer_id FROM orders o JOIN customers c USING (customer_id) LIMIT 1"
    )
    assert set(same_name[0]) == {"customer_id", "customer_id_2"}


def test_query_errors_are_value_errors(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="no such table: nope"):
        demo.query("SELECT * FROM nope")
    with pytest.raises(ValueError, match="more than 1000 rows"):
        demo.query("SELECT * FROM orders")
    assert len(demo.query("SELECT * FROM orders", limit=5000)) == db.N_ORDERS
    with pytest.raises(ValueError, match="limit"):
        demo.query("SELECT 1", limit=0)


def test_connection_is_read_only(data_dir: Path) -> None:
    conn = db.connect_readonly(demo.database_path())
    try:
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("DELETE FROM orders")
    finally:
        conn.close()


def test_look_ups_and_listings(data_dir: Path) -> None:
    customer = demo.get_customer(1)
    assert set(customer) == {"customer_id", "name", "email", "country", "city", "segment", "signup_date"}
    with pytest.raises(KeyError, match="no customer"):
        demo.get_customer(10**6)
    product = demo.get_product("ele-0001")
    assert product["sku"] == "ELE-0001" and product["category"] == "Electronics"
    order = demo.get_order(100_500)
    assert order["items"] and round(sum(i["amount"] for i in order["items"]), 2) == order["total"]
    assert all(s["carrier"] for s in order["shipments"])

    germans = demo.list_customers("germany", limit=1000)
    assert germans and germans == demo.list_customers("DE", limit=1000)
    assert {c["country"] for c in germans} == {"DE"}
    with pytest.raises(ValueError, match="unknown country"):
        demo.list_customers("Atlantis")
    with pytest.raises(ValueError, match="more than 100 customers"):
        demo.list_customers()

    q4 = demo.list_orders(since="2025-10-01", until="2025-12-31", limit=5000)
    assert q4[0]["order_date"] >= "2025-10-01" and q4[-1]["order_date"] == "2025-12-31"  # until is inclusive
    assert len(q4) == demo.query("SELECT COUNT(*) n FROM orders WHERE order_date >= '2025-10-01'")[0]["n"]
    mine = demo.list_orders(customer_id=customer["customer_id"], status="DELIVERED")
    assert all(o["status"] == "delivered" and o["customer_id"] == 1 for o in mine)
    with pytest.raises(ValueError, match="order status"):
        demo.list_orders(status="lost")
    with pytest.raises(ValueError, match="since"):
        demo.list_orders(since="last week")

    assert len(demo.list_products()) == 120
    assert {p["category"] for p in demo.list_products("books")} == {"Books"}
    in_transit = demo.list_shipments(status="in_transit")
    assert in_transit and all(s["delivered_date"] is None for s in in_transit)
    assert demo.list_shipments(order_id=100_500) == [{**s, "order_id": 100_500} for s in order["shipments"]]
    assert "order_items" in demo.schema() and "2025-12-31" in demo.schema()


def test_functions_have_docstrings_and_annotations() -> None:
    assert len(demo.FUNCTIONS) == 9
    for fn in demo.FUNCTIONS:
        doc = inspect.getdoc(fn)
        assert doc and len(doc) > 40 and '"""' not in doc, fn.__name__
        sig = inspect.signature(fn)
        assert sig.return_annotation is not inspect.Signature.empty, fn.__name__
        for param in sig.parameters.values():
            assert param.annotation is not inspect.Parameter.empty, (fn.__name__, param.name)


def test_sandboxed_code_aggregates_with_the_demo_functions(data_dir: Path) -> None:
    """The kind of question the demo is for: the top three customers of the last quarter
    and what each bought most, from listings and look-ups."""
    template = at.orchestrator_from_str(
        """
        spend = {}
        for o in list_orders(since="2025-10-01", until="2025-12-31", limit=5000):
            if o["status"] != "cancelled":
                spend[o["customer_id"]] = spend.get(o["customer_id"], 0) + o["total"]
        top = sorted(spend.items(), key=lambda kv: kv[1], reverse=True)[:3]
        answer = []
        for customer_id, spent in top:
            units = {}
            for o in list_orders(customer_id=customer_id, since="2025-10-01", until="2025-12-31"):
                if o["status"] != "cancelled":
                    for item in get_order(o["order_id"])["items"]:
                        units[item["name"]] = units.get(item["name"], 0) + item["quantity"]
            best = max(units.items(), key=lambda kv: kv[1])[0]
            answer.append([get_customer(customer_id)["name"], round(spent, 2), best])
        answer
        """,
        inputs={},
        output=list[list[Any]],
        tasks=demo.FUNCTIONS,
    )
    answer = template()
    expected = demo.query(
        "SELECT c.name, ROUND(SUM(o.total), 2) AS spent FROM orders o JOIN customers c USING (customer_id) "
        "WHERE o.status != 'cancelled' AND o.order_date BETWEEN '2025-10-01' AND '2025-12-31' "
        "GROUP BY o.customer_id ORDER BY spent DESC LIMIT 3"
    )
    assert [[a[0], a[1]] for a in answer] == [[r["name"], r["spent"]] for r in expected]
    assert all(isinstance(a[2], str) and a[2] for a in answer)
