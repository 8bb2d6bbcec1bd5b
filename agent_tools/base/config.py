"""Plain configuration values a template carries (Flyte-shaped)."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from datetime import timedelta

__all__ = [
    "Backoff",
    "Documentation",
    "RetryStrategy",
    "SandboxedConfig",
    "Secret",
    "SerializationContext",
    "Timeout",
    "require_int",
]


def require_int(what: str, value: object, *, minimum: int) -> None:
    """`ValueError` naming `what` unless `value` is an int (not a bool) >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{what} must be {kind}, got {value!r}")


@dataclass(frozen=True)
class SandboxedConfig:
    """Sandbox limits of a code task, as in `flyte.sandbox.SandboxedConfig`.

    Two checks can refuse code before any host function runs:

    - `preflight` (ours, off by default in the core, on in the `run_code` tool): a
      check of the syntax tree against the registered functions' signatures, in tens
      of microseconds. It refuses unknown names and modules, calls to registered
      functions with the wrong number of arguments, unknown, missing or repeated
      keywords, and literal arguments of the wrong type; it lets through whatever it
      cannot be sure of (see `sandbox.preflight`).
    - `type_check` (Monty's type checker; off by default here, Flyte: True): the full
      check, 4 to 25 ms a run (benchmarks/typecheck_cost.py). It also sees arguments
      that are not literals, such as a variable holding a str passed for an int. Only
      its complaints about wrong calls, unknown names and modules block a run: its
      others are often wrong about valid dynamic code.
    """

    timeout_ms: int = 30_000
    max_memory: int = 50 * 1024 * 1024
    max_stack_depth: int = 256
    type_check: bool = False
    max_host_calls: int = 1_000
    max_output_bytes: int = 1024 * 1024
    max_recorded_value_bytes: int | None = 4096
    """What the run record keeps of each host call's arguments, and of its result: the
    value itself up to about this many bytes, else a copy cut to that size that says
    what was cut (the function always gets, and the code always sees, the whole value).
    None keeps every value whole, for a caller who needs them and accepts the memory:
    a run may make `max_host_calls` calls."""
    preflight: bool = False
    """Refuse evidently wrong code before it runs (see above); last, so that the
    fields shared with Flyte keep their positions."""

    def __post_init__(self) -> None:
        for name in ("timeout_ms", "max_memory", "max_stack_depth", "max_host_calls", "max_output_bytes"):
            require_int(f"SandboxedConfig.{name}", getattr(self, name), minimum=1)
        if self.max_recorded_value_bytes is not None:
            require_int("SandboxedConfig.max_recorded_value_bytes", self.max_recorded_value_bytes, minimum=64)
        for name in ("type_check", "preflight"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"SandboxedConfig.{name} must be a bool, got {getattr(self, name)!r}")


def _duration(what: str, value: object) -> timedelta:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"{what} must be seconds (int or float) or a timedelta, got {type(value).__name__}")
    if seconds < 0:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Backoff:
    """Delay before the n-th retry (0-based): `min(base * factor**n, cap)`, as `flyte.Backoff`."""

    base: timedelta | float = timedelta(seconds=1)
    factor: float = 2.0
    cap: timedelta | float | None = timedelta(seconds=60)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", _duration("Backoff.base", self.base))
        if self.cap is not None:
            object.__setattr__(self, "cap", _duration("Backoff.cap", self.cap))
        factor = typing.cast(object, self.factor)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor >= 1.0:
            raise ValueError(f"Backoff.factor must be a number >= 1.0, got {factor!r}")
        if self.factor > 1.0 and self.cap is None:
            raise ValueError("Backoff.cap is required when factor > 1.0")

    def delay(self, n: int) -> float:
        """Seconds to wait before retry `n` (0-based)."""
        base = typing.cast(timedelta, self.base).total_seconds()
        cap = None if self.cap is None else typing.cast(timedelta, self.cap).total_seconds()
        try:
            seconds = base * self.factor**n
        except OverflowError:
            seconds = float("inf")
        return seconds if cap is None else min(seconds, cap)


@dataclass(frozen=True)
class RetryStrategy:
    """How many times a failed run is tried again (`count`), paced by an optional
    `backoff`, as in `flyte.RetryStrategy`. Without a backoff, retries follow at once."""

    count: int = 0
    backoff: Backoff | None = None

    def __post_init__(self) -> None:
        require_int("retries", self.count, minimum=0)
        backoff = typing.cast(object, self.backoff)
        if backoff is not None and not isinstance(backoff, Backoff):
            raise TypeError(f"RetryStrategy.backoff must be a Backoff, got {type(backoff).__name__}")


@dataclass(frozen=True)
class Timeout:
    """Wall-clock bound of one attempt, host-function time included, as `flyte.Timeout`.
    `max_runtime` is seconds or a timedelta; None or 0 means unlimited."""

    max_runtime: timedelta | float | None = None

    def __post_init__(self) -> None:
        if self.max_runtime is not None:
            object.__setattr__(self, "max_runtime", _duration("Timeout.max_runtime", self.max_runtime))

    @property
    def seconds(self) -> float | None:
        if self.max_runtime is None:
            return None
        value = typing.cast(timedelta, self.max_runtime).total_seconds()
        return value or None


@dataclass(frozen=True)
class Secret:
    """A secret the code may read with `os.getenv(as_env_var)`, as `flyte.Secret`.

    On one machine its value is read at run time from the host environment
    variable of the same name (`as_env_var`, by default the key upper-cased with
    `-` made `_`, prefixed by the group when there is one).
    """

    key: str
    group: str | None = None
    as_env_var: str | None = None

    def __post_init__(self) -> None:
        key = typing.cast(object, self.key)
        if not isinstance(key, str) or not key:
            raise TypeError(f"Secret.key must be a non-empty str, got {key!r}")
        if self.as_env_var is None:
            name = f"{self.group}_{self.key}" if self.group else self.key
            object.__setattr__(self, "as_env_var", name.replace("-", "_").upper())

    @property
    def env_var(self) -> str:
        assert self.as_env_var is not None
        return self.as_env_var


@dataclass(frozen=True)
class Documentation:
    """A task's description, as `flyte.Documentation`."""

    description: str = ""


@dataclass(frozen=True)
class SerializationContext:
    """What a Flyte backend substitutes when it serializes a task; the defaults
    are the template placeholders Flyte itself emits."""

    input_path: str = "{{.input}}"
    output_path: str = "{{.outputPrefix}}"
    version: str = ""
    project: str | None = None
    domain: str | None = None
