"""What an execution of a template needs that does not change from run to run: its
limits, the code Monty runs, the registered functions, the checkout options.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

from agent_tools.sandbox.functions import FLYTE_MAP, PARALLEL_MAP, HostFunction
from agent_tools.sandbox.preflight import Problem, bound_names, check_code
from agent_tools.sandbox.source import GATHER_BUILTIN, ColumnShifts

__all__ = ["RANGE_REPR", "VIEW_REPR", "Limits", "Plan"]


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

RANGE_REPR = re.compile(r"range\((-?\d+), (-?\d+)(?:, (-?\d+))?\)")

VIEW_REPR = re.compile(r"dict_(?:keys|values|items)\((\[.*\])\)", re.DOTALL)


@dataclass(frozen=True)
class Limits:
    """Per-run bounds. `timeout_ms` counts sandbox execution and sleeping, not time
    spent in registered functions."""

    timeout_ms: int = 30_000
    max_memory: int = 50 * 1024 * 1024
    max_stack_depth: int = 256
    max_host_calls: int = 1_000
    max_output_bytes: int = 1024 * 1024
    max_recorded_value_bytes: int | None = 4096
    """What the run record keeps of each host call's arguments and of its result (see
    `interface.preview`); None keeps them whole."""


@dataclass(frozen=True)
class Plan:
    """Everything about an execution that does not change from run to run; a
    template builds it once, so a run only binds values."""

    code: str
    """What Monty runs (see `source.prepare_source`)."""
    source: str
    """What the user wrote, dedented: errors point into this."""
    functions: Mapping[str, HostFunction]
    limits: Limits
    env_vars: Mapping[str, str]
    type_check: bool
    stubs: str | None
    shifts: ColumnShifts = field(default_factory=lambda: {})
    """Where `code` has text the user did not write (see `source.wrap_map_iterables`)."""
    preflight: bool = False
    """Run the pre-flight check (`sandbox.preflight`) before the code."""
    inputs: frozenset[str] = frozenset()
    """The input names: defined for the code."""

    def with_code(self, code: str, source: str, shifts: ColumnShifts) -> Plan:
        """This plan for other code: the same functions, limits and checkout options
        (kept, not rebuilt), nothing computed from the old code. What each `run_code`
        call of one `CodeRunner` runs."""
        plan = object.__new__(Plan)
        state = self.__dict__
        plan.__dict__.update({name: state[name] for name in _FIELDS})
        plan.__dict__.update(code=code, source=source, shifts=shifts, checkout_options=self.checkout_options)
        return plan

    def problems(self, known: frozenset[str] = frozenset()) -> list[Problem]:
        """What the pre-flight check refuses in the code, given the names an earlier
        run left in a kept session (`known`); checked once per plan without them."""
        if not known:
            return self._problems
        return check_code(self.code, self.functions, self.inputs | known)

    @cached_property
    def _problems(self) -> list[Problem]:
        return check_code(self.code, self.functions, self.inputs)

    @cached_property
    def defines(self) -> frozenset[str]:
        """The names the code binds: what a kept session knows after it ran."""
        return bound_names(self.code)

    @cached_property
    def checkout_options(self) -> dict[str, Any]:
        seconds = self.limits.timeout_ms / 1000
        return {
            "limits": {
                "max_feed_duration_secs": seconds,
                "max_total_sleep_secs": seconds,
                "max_memory": self.limits.max_memory,
                "max_recursion_depth": self.limits.max_stack_depth,
                # Our own call budget raises a clear error first; this is Monty's
                # backstop, which also counts sleeps and os calls.
                "max_suspensions": self.limits.max_host_calls + 1_000,
            },
            "os_policy": {
                "datetime": "call_host",
                "random_start": "call_host",
                "sleep_system_max": float("inf"),  # max_total_sleep_secs bounds sleeping
            },
            "type_check": self.type_check,
            "type_check_stubs": self.stubs,
            "type_check_format": "concise",
        }

    @cached_property
    def referenced(self) -> tuple[HostFunction, ...]:
        """The registered functions the code names (as a name or in a string); only
        these get a host binding. Others stay reachable through parallel_map."""
        return tuple(fn for name, fn in self.functions.items() if name in self._words)

    @cached_property
    def uses_builtins(self) -> bool:
        return not self._words.isdisjoint({PARALLEL_MAP, FLYTE_MAP, GATHER_BUILTIN})

    @cached_property
    def repr_like_literals(self) -> frozenset[str]:
        """String literals in the code that read like the repr Monty hands over for a
        range or a dict view: passed to parallel_map, they stay strings."""
        try:
            tree = ast.parse(self.code)
        except (SyntaxError, ValueError):
            return frozenset()
        return frozenset(
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and (RANGE_REPR.fullmatch(node.value) or VIEW_REPR.fullmatch(node.value))
        )

    @cached_property
    def _words(self) -> frozenset[str]:
        return frozenset(_WORD.findall(self.code))


_FIELDS = tuple(f.name for f in fields(Plan))
