"""How big the `run_code` description is, by catalog size.

    python benchmarks/description_size.py

Builds the description `CodeRunner` gives (the same text the pydantic-ai toolset and
the OpenAI tool send) for no function, and for 3, 30 and 300 registered functions
modelled on a real API (typed parameters with defaults, a docstring of a few lines
each), with the default catalog setting (`catalog="auto"`: full stubs up to
24,000 characters, names and one-line summaries above) and with `catalog="full"`.
Tokens are estimated as characters / 4. Nothing asserts.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import agent_tools as at

ENTITIES = (
    "customer",
    "order",
    "invoice",
    "product",
    "shipment",
    "ticket",
    "contract",
    "supplier",
    "refund",
    "user",
)
VERBS = ("get", "list", "count", "search", "summarize", "update", "archive", "export", "find", "rank")


def function(i: int) -> Callable[..., Any]:
    entity = ENTITIES[i % len(ENTITIES)]
    verb = VERBS[(i // len(ENTITIES)) % len(VERBS)]
    name = f"{verb}_{entity}s_{i // 100}" if i >= 100 else f"{verb}_{entity}s"

    def fn(account_id: int, since: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return []

    fn.__name__ = name
    fn.__doc__ = (
        f"{verb.capitalize()} the {entity}s of an account, newest first.\n\n"
        f"Returns up to `limit` {entity} records as dicts with their id, status and dates "
        f"('YYYY-MM-DD'); `since` keeps those from that date on. Raises KeyError for an unknown account."
    )
    fn.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return fn


def main() -> None:
    print("| registered functions | catalog | characters | ~tokens (chars / 4) |")
    print("|---:|---|---:|---:|")
    for n in (0, 3, 30, 300):
        functions = [function(i) for i in range(n)]
        for mode in ("auto", "full"):
            if n == 0 and mode == "full":
                continue
            text = at.CodeRunner(functions, catalog=mode).description()
            shown = "summaries + lookups" if mode == "auto" and "`describe(name)`" in text else "full stubs"
            label = "none (the fixed part)" if n == 0 else f"{mode}: {shown}"
            print(f"| {n} | {label} | {len(text):,} | {len(text) // 4:,} |")


if __name__ == "__main__":
    main()
