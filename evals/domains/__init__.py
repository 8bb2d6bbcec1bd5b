"""The eval domains: each module exposes `make_functions() -> dict[str, Callable]`,
returning fresh functions for one task run (so state such as a flaky supplier's
failure counter never leaks between runs), over deterministic data in the repo."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["domain_function_names", "functions_for"]


def domain_function_names(domain: str) -> list[str]:
    """The names of every function `domain` has, in its catalog order."""
    module = importlib.import_module(f"evals.domains.{domain}")
    return list(module.make_functions())


def functions_for(domain: str, names: list[str]) -> list[Callable[..., Any]]:
    """Fresh functions `names` of `domain` for one task run."""
    module = importlib.import_module(f"evals.domains.{domain}")
    available: dict[str, Callable[..., Any]] = module.make_functions()
    missing = [n for n in names if n not in available]
    if missing:
        raise KeyError(f"domain {domain} has no functions {missing}")
    return [available[n] for n in names]
