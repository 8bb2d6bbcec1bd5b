"""Stats domain: daily metric series for 2023 (365 rows each, per region and global) and
two large tables (600 employees, 900 transactions), for aggregation in code.

Everything is generated deterministically from fixed seeds.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import random
from collections.abc import Callable
from typing import Any

__all__ = ["METRICS", "REGIONS", "SERIES", "TABLES", "make_functions"]

REGIONS: list[str] = [
    "us-east",
    "us-west",
    "ca-central",
    "sa-east",
    "eu-west",
    "eu-central",
    "me-central",
    "af-south",
    "ap-south",
    "ap-northeast",
]

METRICS: list[dict[str, Any]] = [
    {"name": "revenue", "unit": "USD", "description": "Daily revenue; global is the sum of regions."},
    {"name": "signups", "unit": "accounts", "description": "New accounts per day; global is the sum."},
    {"name": "latency_ms", "unit": "ms", "description": "Daily p50 API latency; global is the mean."},
    {"name": "errors", "unit": "count", "description": "Server errors per day; global is the sum."},
]

_START = dt.date(2023, 1, 1)
_DAYS = 365


def _series() -> dict[str, dict[str, list[float]]]:
    rng = random.Random(2023)
    out: dict[str, dict[str, list[float]]] = {m["name"]: {} for m in METRICS}
    for r_index, region in enumerate(REGIONS):
        size = 0.5 + rng.random() * 1.5
        latency_base = 40 + r_index * 9 + rng.uniform(-5, 5)
        error_base = 15 + rng.uniform(0, 25)
        drift = rng.uniform(-0.3, 0.6)
        revenue: list[float] = []
        signups: list[float] = []
        latency: list[float] = []
        errors: list[float] = []
        for d in range(_DAYS):
            season = 1 + 0.25 * math.sin(2 * math.pi * (d - 100 + r_index * 7) / 365)
            weekday = 0.85 if (_START + dt.timedelta(days=d)).weekday() >= 5 else 1.05
            revenue.append(round(9000 * size * season * weekday * rng.uniform(0.8, 1.2), 2))
            signups.append(float(max(0, round(60 * size * season * weekday + rng.gauss(0, 12)))))
            spike = rng.uniform(60, 240) if rng.random() < 0.03 else 0.0
            latency.append(round(latency_base + rng.gauss(0, 6) + spike, 1))
            errors.append(float(max(0, round(error_base * (1 + drift * d / 365) + rng.gauss(0, 6)))))
        out["revenue"][region] = revenue
        out["signups"][region] = signups
        out["latency_ms"][region] = latency
        out["errors"][region] = errors
    for name, agg in (("revenue", "sum"), ("signups", "sum"), ("latency_ms", "mean"), ("errors", "sum")):
        columns = [out[name][r] for r in REGIONS]
        if agg == "sum":
            out[name]["global"] = [round(sum(c[d] for c in columns), 2) for d in range(_DAYS)]
        else:
            out[name]["global"] = [round(sum(c[d] for c in columns) / len(columns), 1) for d in range(_DAYS)]
    return out


SERIES: dict[str, dict[str, list[float]]] = _series()
DATES: list[str] = [(_START + dt.timedelta(days=d)).isoformat() for d in range(_DAYS)]

_DEPARTMENTS = {
    "Engineering": (95000, 25000),
    "Sales": (70000, 20000),
    "Marketing": (68000, 15000),
    "Support": (52000, 9000),
    "Finance": (80000, 18000),
    "People": (60000, 12000),
    "Legal": (105000, 22000),
}
_FIRST = ["Ana", "Ben", "Chen", "Dina", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jia", "Kofi", "Lea", "Mo", "Nia"]
_LAST = ["Silva", "Berg", "Ito", "Khan", "Novak", "Okoro", "Park", "Quinn", "Rossi", "Sato", "Tan", "Usman"]
_CATEGORIES = ["software", "hardware", "services", "travel", "training", "office"]


def _tables() -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(600)
    depts = list(_DEPARTMENTS)
    weights = [30, 15, 8, 20, 8, 6, 4]
    pool = [d for d, w in zip(depts, weights, strict=True) for _ in range(w)]
    employees: list[dict[str, Any]] = []
    for i in range(600):
        dept = rng.choice(pool)
        mean, sd = _DEPARTMENTS[dept]
        tenure = round(rng.uniform(0, 15), 1)
        ratings = [3, 4, 4, 5] if dept == "Legal" else [1, 2, 3, 3, 3, 4, 4, 5]
        employees.append(
            {
                "id": i + 1,
                "name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                "department": dept,
                "salary": int(round(max(32000, rng.gauss(mean + tenure * 1200, sd)), -2)),
                "tenure_years": tenure,
                "rating": rng.choice(ratings),
            }
        )
    transactions: list[dict[str, Any]] = []
    for i in range(900):
        day = rng.randint(0, _DAYS - 1)
        category = rng.choice(_CATEGORIES)
        scale = {"software": 400, "hardware": 900, "services": 700, "travel": 350, "training": 250}.get(
            category, 80
        )
        transactions.append(
            {
                "id": f"T{i + 1:04d}",
                "date": (_START + dt.timedelta(days=day)).isoformat(),
                "region": rng.choice(REGIONS),
                "category": category,
                "amount": round(rng.expovariate(1 / scale) + 5, 2),
            }
        )
    transactions.sort(key=lambda t: (t["date"], t["id"]))
    return {"employees": employees, "transactions": transactions}


TABLES: dict[str, list[dict[str, Any]]] = _tables()


def make_functions() -> dict[str, Callable[..., Any]]:
    """Fresh functions over the series and tables (read-only)."""

    def list_metrics() -> list[dict[str, Any]]:
        """The metrics with daily series: each a dict with name, unit and description."""
        return [dict(m) for m in METRICS]

    def list_regions() -> list[str]:
        """The region names that get_series accepts (besides "global")."""
        return list(REGIONS)

    def get_series(metric: str, region: str = "global") -> list[dict[str, Any]]:
        """The daily series of `metric` (see list_metrics) in `region` (see list_regions, or
        "global") for every day of 2023: 365 dicts {date (YYYY-MM-DD), value}, in date order."""
        if metric not in SERIES:
            raise KeyError(f"no metric {metric!r}; metrics are {sorted(SERIES)}")
        if region not in SERIES[metric]:
            raise KeyError(f"no region {region!r}; see list_regions()")
        values = SERIES[metric][region]
        return [{"date": d, "value": v} for d, v in zip(DATES, values, strict=True)]

    def list_tables() -> list[dict[str, Any]]:
        """The tables get_table returns: each a dict with name, rows and columns."""
        return [{"name": n, "rows": len(t), "columns": list(t[0])} for n, t in TABLES.items()]

    def get_table(name: str) -> list[dict[str, Any]]:
        """Every row of table `name`: "employees" (600 rows: id, name, department, salary,
        tenure_years, rating 1-5) or "transactions" (900 rows: id, date, region, category,
        amount in USD)."""
        if name not in TABLES:
            raise KeyError(f"no table {name!r}; tables are {sorted(TABLES)}")
        return copy.deepcopy(TABLES[name])

    return {f.__name__: f for f in (list_metrics, list_regions, get_series, list_tables, get_table)}
