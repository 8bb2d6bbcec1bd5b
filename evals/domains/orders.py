"""Orders domain: a small shop's customers, products and 2024 orders.

The data is generated once, deterministically, from a fixed seed; prices are whole dollars
so totals are exact integers.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from collections.abc import Callable
from typing import Any

__all__ = ["CUSTOMERS", "ORDERS", "PRODUCTS", "make_functions"]

CUSTOMERS: list[dict[str, Any]] = [
    {"id": 1, "name": "Ada Lovelace", "country": "UK", "tier": "gold", "email": "ada@lovelace.example"},
    {"id": 2, "name": "Alan Turing", "country": "UK", "tier": "silver", "email": "alan@turing.example"},
    {"id": 3, "name": "Grace Hopper", "country": "US", "tier": "gold", "email": "grace@hopper.example"},
    {"id": 4, "name": "Linus Pauling", "country": "US", "tier": "bronze", "email": "linus@pauling.example"},
    {"id": 5, "name": "Marie Curie", "country": "FR", "tier": "gold", "email": "marie@curie.example"},
    {"id": 6, "name": "Emmy Noether", "country": "DE", "tier": "silver", "email": "emmy@noether.example"},
    {"id": 7, "name": "Niels Bohr", "country": "DK", "tier": "bronze", "email": "niels@bohr.example"},
    {"id": 8, "name": "Rosalind Franklin", "country": "UK", "tier": "silver", "email": "rf@franklin.example"},
    {"id": 9, "name": "Katherine Johnson", "country": "US", "tier": "silver", "email": "kj@johnson.example"},
    {"id": 10, "name": "Max Planck", "country": "DE", "tier": "bronze", "email": "max@planck.example"},
    {"id": 11, "name": "Dorothy Hodgkin", "country": "UK", "tier": "bronze", "email": "dot@hodgkin.example"},
    {"id": 12, "name": "Lise Meitner", "country": "DE", "tier": "gold", "email": "lise@meitner.example"},
]

PRODUCTS: list[dict[str, Any]] = [
    {"sku": "AUD-100", "name": "Studio Headphones", "category": "audio", "price": 199, "stock": 14},
    {"sku": "AUD-150", "name": "Bluetooth Speaker", "category": "audio", "price": 89, "stock": 31},
    {"sku": "AUD-210", "name": "Noise-cancelling Earbuds", "category": "audio", "price": 149, "stock": 0},
    {"sku": "AUD-300", "name": "USB Microphone", "category": "audio", "price": 129, "stock": 7},
    {"sku": "CAM-010", "name": "Action Camera", "category": "camera", "price": 249, "stock": 5},
    {"sku": "CAM-020", "name": "Mirrorless Camera", "category": "camera", "price": 899, "stock": 2},
    {"sku": "CAM-030", "name": "Camera Tripod", "category": "camera", "price": 59, "stock": 40},
    {"sku": "CMP-001", "name": "Mechanical Keyboard", "category": "computing", "price": 119, "stock": 22},
    {"sku": "CMP-002", "name": "Wireless Mouse", "category": "computing", "price": 39, "stock": 75},
    {"sku": "CMP-003", "name": "27-inch Monitor", "category": "computing", "price": 329, "stock": 9},
    {"sku": "CMP-004", "name": "USB-C Dock", "category": "computing", "price": 179, "stock": 0},
    {"sku": "CMP-005", "name": "Laptop Stand", "category": "computing", "price": 49, "stock": 63},
    {"sku": "HOM-001", "name": "Smart Bulb 4-pack", "category": "home", "price": 45, "stock": 120},
    {"sku": "HOM-002", "name": "Robot Vacuum", "category": "home", "price": 399, "stock": 3},
    {"sku": "HOM-003", "name": "Air Purifier", "category": "home", "price": 219, "stock": 11},
]

_STATUSES = ["delivered"] * 6 + ["shipped"] * 2 + ["pending", "cancelled"]


def _generate_orders() -> list[dict[str, Any]]:
    rng = random.Random(20240601)
    n_orders = 72
    days = sorted(rng.sample(range(366), n_orders))
    start = dt.date(2024, 1, 1)
    orders: list[dict[str, Any]] = []
    for i, day in enumerate(days):
        customer_id = rng.randint(1, len(CUSTOMERS))
        n_items = rng.randint(1, 4)
        chosen = rng.sample(range(len(PRODUCTS)), n_items)
        items = []
        for p in sorted(chosen):
            product = PRODUCTS[p]
            items.append({"sku": product["sku"], "qty": rng.randint(1, 3), "unit_price": product["price"]})
        orders.append(
            {
                "order_id": 1001 + i,
                "customer_id": customer_id,
                "date": (start + dt.timedelta(days=day)).isoformat(),
                "status": rng.choice(_STATUSES),
                "items": items,
                "total": sum(it["qty"] * it["unit_price"] for it in items),
            }
        )
    return orders


ORDERS: list[dict[str, Any]] = _generate_orders()


def make_functions() -> dict[str, Callable[..., Any]]:
    """Fresh functions over the orders data (read-only, so no state to reset)."""
    customers = copy.deepcopy(CUSTOMERS)
    products = copy.deepcopy(PRODUCTS)
    orders = copy.deepcopy(ORDERS)

    def list_customers(country: str | None = None, tier: str | None = None) -> list[dict[str, Any]]:
        """List customers, optionally only those in `country` (a code such as "UK", "US", "DE")
        and/or of loyalty `tier` ("gold", "silver" or "bronze"). Each customer is a dict with
        id, name, country, tier and email."""
        return [
            dict(c)
            for c in customers
            if (country is None or c["country"] == country) and (tier is None or c["tier"] == tier)
        ]

    def get_customer(customer_id: int) -> dict[str, Any]:
        """One customer by id: a dict with id, name, country, tier and email.
        Raises KeyError for an unknown id."""
        for c in customers:
            if c["id"] == customer_id:
                return dict(c)
        raise KeyError(f"no customer with id {customer_id}")

    def get_orders(customer_id: int, status: str | None = None) -> list[dict[str, Any]]:
        """A customer's orders, oldest first, optionally only those with `status`
        ("pending", "shipped", "delivered" or "cancelled"). Each order is a dict with
        order_id, customer_id, date (YYYY-MM-DD), status, items (a list of {sku, qty,
        unit_price}) and total (dollars)."""
        if not any(c["id"] == customer_id for c in customers):
            raise KeyError(f"no customer with id {customer_id}")
        return [
            copy.deepcopy(o)
            for o in orders
            if o["customer_id"] == customer_id and (status is None or o["status"] == status)
        ]

    def get_order(order_id: int) -> dict[str, Any]:
        """One order by id (same fields as in get_orders). Raises KeyError for an unknown id."""
        for o in orders:
            if o["order_id"] == order_id:
                return copy.deepcopy(o)
        raise KeyError(f"no order with id {order_id}")

    def orders_between(start_date: str, end_date: str, status: str | None = None) -> list[dict[str, Any]]:
        """All customers' orders placed from `start_date` to `end_date` inclusive (YYYY-MM-DD),
        oldest first, optionally only those with `status`. Same fields as in get_orders."""
        return [
            copy.deepcopy(o)
            for o in orders
            if start_date <= o["date"] <= end_date and (status is None or o["status"] == status)
        ]

    def list_products(category: str | None = None) -> list[dict[str, Any]]:
        """The product catalogue, optionally only one `category` ("audio", "camera",
        "computing" or "home"). Each product is a dict with sku, name, category, price
        (dollars) and stock (units in stock now)."""
        return [dict(p) for p in products if category is None or p["category"] == category]

    def get_product(sku: str) -> dict[str, Any]:
        """One product by SKU: a dict with sku, name, category, price (dollars) and stock
        (units in stock now). Raises KeyError for an unknown SKU."""
        for p in products:
            if p["sku"] == sku:
                return dict(p)
        raise KeyError(f"no product with sku {sku!r}")

    return {
        f.__name__: f
        for f in (
            list_customers,
            get_customer,
            get_orders,
            get_order,
            orders_between,
            list_products,
            get_product,
        )
    }
