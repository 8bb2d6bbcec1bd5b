"""Plain configuration values a template carries (Flyte-shaped)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RetryStrategy", "SandboxedConfig", "require_int"]


def require_int(what: str, value: object, *, minimum: int) -> None:
    """`ValueError` naming `what` unless `value` is an int (not a bool) >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{what} must be {kind}, got {value!r}")


@dataclass(frozen=True)
class SandboxedConfig:
    """Sandbox limits of a code task, as in `flyte.sandbox.SandboxedConfig`.

    `type_check` defaults to False here (Flyte: True): measured on pydantic-monty
    1.4.0, checking costs a fresh checker per run (see benchmarks/ and the README),
    and it rejects valid dynamic code that reads values of unknown shape. Turn it on
    for model-written code calling typed functions, where it stops a wrong call
    before any host function has run.
    """

    timeout_ms: int = 30_000
    max_memory: int = 50 * 1024 * 1024
    max_stack_depth: int = 256
    type_check: bool = False
    max_host_calls: int = 1_000
    max_output_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("timeout_ms", "max_memory", "max_stack_depth", "max_host_calls", "max_output_bytes"):
            require_int(f"SandboxedConfig.{name}", getattr(self, name), minimum=1)
        if not isinstance(self.type_check, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"SandboxedConfig.type_check must be a bool, got {self.type_check!r}")


@dataclass(frozen=True)
class RetryStrategy:
    """How many times a failed run is tried again (`count`), as in `flyte.RetryStrategy`."""

    count: int = 0

    def __post_init__(self) -> None:
        require_int("retries", self.count, minimum=0)
