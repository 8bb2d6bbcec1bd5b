"""A demo shop to try agent-tools on: an embedded SQLite database of customers,
products, orders and shipments, and the functions model-written code calls on it.

`agent-tools run --tools agent_tools.demo:FUNCTIONS` (the default of `run`) registers
them. The database is built on first use in the user's data directory; see
`agent_tools.demo.db`.
"""

from __future__ import annotations

from agent_tools.demo.functions import (
    FUNCTIONS,
    database_path,
    get_customer,
    get_order,
    get_product,
    list_customers,
    list_orders,
    list_products,
    list_shipments,
    query,
    schema,
)

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
