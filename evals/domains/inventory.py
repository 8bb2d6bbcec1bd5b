"""Inventory domain: five warehouses, 36 SKUs, stock levels, six months of stock movements,
and a FLAKY supplier API.

`supplier_quote(sku)` raises `TimeoutError` the first time it is called for a SKU in
`FLAKY_SKUS` within one task run, and answers on the next call. The failure counter lives in
the closures `make_functions()` returns, so each task run starts fresh and the behaviour is
deterministic. All data is generated from fixed seeds.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["FLAKY_SKUS", "MOVEMENTS", "QUOTES", "SKUS", "STOCK", "WAREHOUSES", "make_functions"]

WAREHOUSES: list[dict[str, Any]] = [
    {"code": "AMS", "city": "Amsterdam", "country": "NL", "capacity_units": 60000},
    {"code": "BER", "city": "Berlin", "country": "DE", "capacity_units": 45000},
    {"code": "LYS", "city": "Lyon", "country": "FR", "capacity_units": 30000},
    {"code": "MAD", "city": "Madrid", "country": "ES", "capacity_units": 35000},
    {"code": "WAW", "city": "Warsaw", "country": "PL", "capacity_units": 25000},
]

_NAMES: dict[str, list[str]] = {
    "fasteners": [
        "M4 hex bolt (100)",
        "M6 hex bolt (100)",
        "M8 hex bolt (50)",
        "M6 nylon lock nut (100)",
        "M8 washer (200)",
        "Wood screw 4x40 (200)",
        "Drywall screw 3.5x35 (500)",
        "Wall plug 8 mm (100)",
        "Rivet 4 mm (250)",
        "Threaded rod M10 1 m",
    ],
    "tools": [
        "Cordless drill 18V",
        "Impact driver 18V",
        "Angle grinder 125 mm",
        "Claw hammer",
        "Torque wrench 1/2in",
        "Spirit level 60 cm",
        "Utility knife",
        "Socket set 94 pc",
    ],
    "electrical": [
        "Cable 3x1.5 mm2 (50 m)",
        "Cable 3x2.5 mm2 (50 m)",
        "Junction box IP65",
        "Circuit breaker 16A",
        "RCD 40A 30mA",
        "LED panel 60x60",
        "Wago connector (50)",
        "Cable ties 300 mm (100)",
    ],
    "safety": [
        "Safety glasses",
        "Ear defenders",
        "Hard hat",
        "Cut-resistant gloves",
        "Hi-vis vest",
        "Dust mask FFP2 (10)",
        "Safety boots S3",
        "First aid kit",
        "Fire extinguisher 6 kg",
        "Knee pads",
    ],
}
_PREFIX = {"fasteners": "FST", "tools": "TLS", "electrical": "ELC", "safety": "SAF"}
_SUPPLIERS = {
    "fasteners": ["Nordbolt", "Acme Industrial"],
    "tools": ["Toolhaus", "Acme Industrial"],
    "electrical": ["Voltari", "Elektra BV"],
    "safety": ["SafeGuard Supply", "Acme Industrial"],
}
_COST_RANGE = {
    "fasteners": (2.0, 25.0),
    "tools": (9.0, 180.0),
    "electrical": (3.0, 95.0),
    "safety": (2.5, 70.0),
}
_ALWAYS_OUT = {"FST-003", "FST-007", "FST-009"}


def _generate() -> tuple[
    list[dict[str, Any]], dict[str, dict[str, dict[str, int]]], dict[str, dict[str, Any]], set[str]
]:
    rng = random.Random(4242)
    skus: list[dict[str, Any]] = []
    for category, names in _NAMES.items():
        for i, name in enumerate(names):
            skus.append(
                {
                    "sku": f"{_PREFIX[category]}-{i + 1:03d}",
                    "name": name,
                    "category": category,
                    "reorder_point": rng.randrange(40, 201, 10),
                }
            )
    stock: dict[str, dict[str, dict[str, int]]] = {}
    for w in WAREHOUSES:
        levels: dict[str, dict[str, int]] = {}
        for s in skus:
            on_hand = 0 if s["sku"] in _ALWAYS_OUT or rng.random() < 0.12 else rng.randint(5, 400)
            reserved = rng.randint(0, min(on_hand, 40))
            levels[s["sku"]] = {"on_hand": on_hand, "reserved": reserved}
        stock[w["code"]] = levels
    quotes: dict[str, dict[str, Any]] = {}
    for s in skus:
        lo, hi = _COST_RANGE[s["category"]]
        quotes[s["sku"]] = {
            "sku": s["sku"],
            "supplier": rng.choice(_SUPPLIERS[s["category"]]),
            "unit_cost": round(rng.uniform(lo, hi), 2),
            "lead_time_days": rng.randint(3, 21),
            "min_order_qty": rng.choice([1, 5, 10, 25]),
        }
    flaky = {s["sku"] for i, s in enumerate(skus) if i % 3 == 0}
    return skus, stock, quotes, flaky


SKUS, STOCK, QUOTES, FLAKY_SKUS = _generate()


def _movements() -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(1_2024)
    start = dt.date(2024, 1, 1)
    sku_ids = [s["sku"] for s in SKUS]
    out: dict[str, list[dict[str, Any]]] = {}
    for w in WAREHOUSES:
        rows: list[tuple[str, str, str, int]] = []
        for _ in range(600):
            date = (start + dt.timedelta(days=rng.randint(0, 181))).isoformat()
            sku = rng.choice(sku_ids)
            kind = rng.choice(["receipt", "shipment", "shipment", "shipment", "adjustment"])
            if kind == "receipt":
                qty = rng.randint(20, 200)
            elif kind == "shipment":
                qty = -rng.randint(1, 60)
            else:
                qty = rng.choice([-1, 1]) * rng.randint(1, 8)
            rows.append((date, sku, kind, qty))
        rows.sort(key=lambda r: r[0])
        out[w["code"]] = [
            {"movement_id": f"{w['code']}-{i + 1:04d}", "date": d, "sku": s, "kind": k, "qty": q}
            for i, (d, s, k, q) in enumerate(rows)
        ]
    return out


MOVEMENTS: dict[str, list[dict[str, Any]]] = _movements()


def make_functions() -> dict[str, Callable[..., Any]]:
    """Fresh functions; the supplier's failure counter starts at zero for each call of this."""
    quote_calls: dict[str, int] = {}
    lock = threading.Lock()
    codes = [w["code"] for w in WAREHOUSES]
    sku_ids = {s["sku"] for s in SKUS}

    def _warehouse(code: str) -> str:
        code = code.strip().upper()
        if code not in codes:
            raise KeyError(f"no warehouse {code!r}; codes are {codes}")
        return code

    def _sku(sku: str) -> str:
        sku = sku.strip().upper()
        if sku not in sku_ids:
            raise KeyError(f"no SKU {sku!r}")
        return sku

    def list_warehouses() -> list[dict[str, Any]]:
        """The warehouses: each a dict with code (e.g. "AMS"), city, country and capacity_units."""
        return [dict(w) for w in WAREHOUSES]

    def list_skus(category: str | None = None) -> list[dict[str, Any]]:
        """The SKU catalogue, optionally only one `category` ("fasteners", "tools",
        "electrical" or "safety"). Each SKU is a dict with sku, name, category and
        reorder_point (the available quantity per warehouse below which we reorder)."""
        return [dict(s) for s in SKUS if category is None or s["category"] == category]

    def get_stock_levels(warehouse: str) -> list[dict[str, Any]]:
        """Stock of every SKU in one `warehouse` (by code): a list of dicts with sku,
        on_hand and reserved (units promised to open orders; available = on_hand - reserved)."""
        code = _warehouse(warehouse)
        return [{"sku": sku, **level} for sku, level in STOCK[code].items()]

    def get_sku_stock(sku: str) -> list[dict[str, Any]]:
        """Stock of one `sku` in every warehouse: a list of dicts with warehouse (code),
        on_hand and reserved."""
        sku = _sku(sku)
        return [{"warehouse": code, **STOCK[code][sku]} for code in codes]

    def supplier_quote(sku: str) -> dict[str, Any]:
        """Ask the supplier for a quote on `sku`: a dict with sku, supplier, unit_cost (euros),
        lead_time_days and min_order_qty. The supplier's API is unreliable: it sometimes raises
        TimeoutError, and a retry usually succeeds."""
        sku = _sku(sku)
        with lock:
            quote_calls[sku] = quote_calls.get(sku, 0) + 1
            first = quote_calls[sku] == 1
        if first and sku in FLAKY_SKUS:
            raise TimeoutError("supplier timed out, try again")
        return dict(QUOTES[sku])

    def stock_movements(warehouse: str) -> list[dict[str, Any]]:
        """Every stock movement in `warehouse` from 2024-01-01 to 2024-06-30, oldest first
        (about 600 rows): dicts with movement_id, date (YYYY-MM-DD), sku, kind ("receipt",
        "shipment" or "adjustment") and qty (signed: positive in, negative out)."""
        code = _warehouse(warehouse)
        return copy.deepcopy(MOVEMENTS[code])

    return {
        f.__name__: f
        for f in (
            list_warehouses,
            list_skus,
            get_stock_levels,
            get_sku_stock,
            supplier_quote,
            stock_movements,
        )
    }
