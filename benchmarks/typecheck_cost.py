"""Measure what the pre-flight type check costs and how often it rejects valid code.

Run: python benchmarks/typecheck_cost.py. Prints p50 latency per run with and
without `type_check`, their ratio, and the valid snippets the checker rejects.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import agent_tools as at


def get_orders(customer: str, limit: int = 10) -> list[dict[str, Any]]:
    """Orders of a customer."""
    return [{"id": i, "customer": customer, "total": 10.0 * i, "items": ["a", "b"]} for i in range(limit)]


def get_customer(customer_id: int) -> dict[str, Any]:
    return {"id": customer_id, "name": f"c{customer_id}", "tags": ["vip"] if customer_id % 2 else []}


def convert(amount: float, currency: str) -> float:
    return amount * 1.1


TASKS = [get_orders, get_customer, convert]

# Valid programs a model writes: each runs correctly without the type check.
VALID = {
    "sum totals": "sum(o['total'] for o in get_orders('ann'))",
    "dict access on Any": "c = get_customer(3)\nc['name'].upper()",
    "list of dicts": "rows = get_orders('bo', limit=3)\n[r['id'] for r in rows if r['total'] > 5]",
    "float arith": "convert(get_orders('x', 2)[1]['total'], 'EUR')",
    "int where float": "convert(10, 'EUR')",
    "helper function": (
        "def best(rows):\n    return max(rows, key=lambda r: r['total'])\nbest(get_orders('a'))['id']"
    ),
    "json round trip": "import json\njson.loads(json.dumps(get_customer(1)))['id']",
    "optional narrowing": "c = get_customer(2)\nt = c.get('tags') or []\nlen(t)",
    "mixed list": "x = []\nx.append(1)\nx.append('a')\nlen(x)",
    "reassign type": "v = 1\nv = str(v)\nv + '!'",
    "dict update": "d = {}\nd['a'] = 1\nd['b'] = 'x'\nsorted(d)",
    "parallel_map": "parallel_map(get_customer, [1, 2, 3])",
    "comprehension over zip": "ids = [1, 2]\nnames = ['a', 'b']\n{i: n for i, n in zip(ids, names)}",
    "dataclass": "from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int\nP(1).x",
    "optional narrowing in a loop": (
        "best = None\nfor o in get_orders('a'):\n    if best is None or o['total'] > best['total']:\n"
        "        best = o\nbest['id']"
    ),
    "string format": "o = get_orders('a', 1)[0]\nf\"{o['id']}: {o['total']:.2f}\"",
}

# Wrong programs the check should stop before any host call.
WRONG = {
    "misspelt function": "get_order('ann')",
    "unknown keyword": "get_orders('ann', limt=3)",
    "wrong argument type": "get_customer('3')",
    "missing argument": "convert(1.0)",
}


def p50(fn: Any, n: int) -> float:
    samples: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    code = "rows = get_orders('ann', limit=5)\nsum(r['total'] for r in rows)"
    plain = at.orchestrator_from_str(code, inputs={}, output=float, tasks=TASKS)
    checked = at.orchestrator_from_str(
        code, inputs={}, output=float, tasks=TASKS, plugin_config=at.SandboxedConfig(type_check=True)
    )
    plain()  # warm-up
    checked()
    a, b = p50(plain, 100), p50(checked, 100)
    print(f"p50 per run without type check: {a * 1e3:.2f} ms")
    print(f"p50 per run with type check:    {b * 1e3:.2f} ms  ({b / a:.1f}x, +{(b - a) * 1e3:.1f} ms)")

    rejected: list[str] = []
    for label, src in VALID.items():
        at.orchestrator_from_str(src, inputs={}, output=Any, tasks=TASKS)()  # valid without the check
        try:
            at.orchestrator_from_str(
                src, inputs={}, output=Any, tasks=TASKS, plugin_config=at.SandboxedConfig(type_check=True)
            )()
        except at.TypeCheckError as exc:
            rejected.append(f"{label}: {exc.message}")
    print(f"valid snippets rejected by the check: {len(rejected)} of {len(VALID)}")
    for line in rejected:
        print(f"  - {line}")
    caught = 0
    for label, src in WRONG.items():
        try:
            at.orchestrator_from_str(
                src, inputs={}, output=Any, tasks=TASKS, plugin_config=at.SandboxedConfig(type_check=True)
            )()
        except at.TypeCheckError:
            caught += 1
        except at.SandboxError as exc:
            print(f"  not caught before running: {label}: {type(exc).__name__}")
    print(f"wrong snippets stopped before any host call: {caught} of {len(WRONG)}")


if __name__ == "__main__":
    main()
