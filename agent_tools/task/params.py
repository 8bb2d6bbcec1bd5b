"""Checking and normalising the template parameters that are not about execution.

Each function takes what a user may pass for one parameter and returns the one
form the template keeps, or raises a `TypeError` (wrong kind of value) or
`ValueError` (right kind, bad value) that names the parameter. Flyte's own
objects (`flyte.Resources`, `flyte.Image`, `flyte.ReusePolicy`, triggers,
links, ...) are accepted as they are, without importing flyte, so a template
built with them exports to Flyte unchanged.
"""

from __future__ import annotations

import typing
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from agent_tools.base.config import Documentation, RetryStrategy, SandboxedConfig, Secret, Timeout

__all__ = [
    "check",
    "docs_from_source",
    "is_flyte_object",
    "normalize_docs",
    "normalize_resources",
    "normalize_retries",
    "normalize_secrets",
    "normalize_timeout",
    "normalize_tuple",
]

RESOURCE_KEYS = frozenset({"cpu", "memory", "gpu", "disk", "shm"})


def is_flyte_object(value: object) -> bool:
    """An instance of a class defined in the `flyte` package."""
    module = type(value).__module__ or ""
    return module == "flyte" or module.startswith("flyte.")


def _kind(value: object) -> str:
    return type(value).__name__


def check(name: str, value: object, ok: bool, expected: str) -> None:
    if not ok:
        raise TypeError(f"{name} must be {expected}, got {_kind(value)} {value!r}")


def normalize_retries(value: object) -> RetryStrategy:
    if isinstance(value, RetryStrategy):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return RetryStrategy(count=value)
    if is_flyte_object(value) and hasattr(value, "count"):
        return RetryStrategy(count=getattr(value, "count"))  # noqa: B009 - duck-typed flyte object
    raise TypeError(f"retries must be an int or a RetryStrategy, got {_kind(value)} {value!r}")


def normalize_timeout(value: object) -> Timeout | None:
    """None, seconds, a timedelta, a `Timeout` (ours or Flyte's, by `max_runtime`)."""
    if value is None or isinstance(value, Timeout):
        return value
    if isinstance(value, (int, float, timedelta)) and not isinstance(value, bool):
        return Timeout(max_runtime=value)
    if is_flyte_object(value) and hasattr(value, "max_runtime"):
        return Timeout(max_runtime=getattr(value, "max_runtime"))  # noqa: B009
    raise TypeError(
        f"timeout must be seconds, a timedelta or a Timeout(max_runtime=...), got {_kind(value)} {value!r}"
    )


def _secret(value: object) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(key=value)
    if is_flyte_object(value) and hasattr(value, "key"):
        return Secret(
            key=getattr(value, "key"),  # noqa: B009
            group=getattr(value, "group", None),
            as_env_var=getattr(value, "as_env_var", None),
        )
    raise TypeError(f"secrets must be a name, a Secret or a list of them, got {_kind(value)} {value!r}")


def normalize_secrets(value: object) -> tuple[Secret, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(_secret(v) for v in typing.cast(Sequence[object], value))
    return (_secret(value),)


def normalize_resources(value: object) -> object:
    """None, a flyte `Resources`, or a mapping with keys among cpu, memory, gpu, disk, shm."""
    if value is None or is_flyte_object(value):
        return value
    if isinstance(value, Mapping):
        mapping = typing.cast(Mapping[object, object], value)
        unknown = sorted({str(k) for k in mapping} - RESOURCE_KEYS)
        if unknown:
            raise ValueError(f"resources: unknown keys {unknown}; use {sorted(RESOURCE_KEYS)}")
        return dict(mapping)
    raise TypeError(f"resources must be a flyte.Resources or a dict like {{'cpu': 1}}, got {_kind(value)}")


def docs_from_source(source: str) -> Documentation | None:
    """The leading `#` comment block of the code, as the task's description."""
    if not source.lstrip().startswith("#"):
        return None
    lines: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        lines.append(stripped.lstrip("#").strip())
    text = "\n".join(lines).strip()
    return Documentation(description=text) if text else None


def normalize_docs(value: object, source: str) -> object:
    if value is None:
        return docs_from_source(source)
    if isinstance(value, str):
        return Documentation(description=value)
    if isinstance(value, Documentation) or is_flyte_object(value):
        return value
    raise TypeError(f"docs must be a str or a Documentation, got {_kind(value)} {value!r}")


def normalize_tuple(name: str, value: object) -> tuple[object, ...]:
    """`triggers`, `links`: a tuple (or list) of flyte objects or strings."""
    check(name, value, isinstance(value, (tuple, list)), "a tuple")
    items = tuple(typing.cast(Sequence[object], value))
    for item in items:
        check(f"{name} item", item, isinstance(item, str) or is_flyte_object(item), "a flyte object or a str")
    return items


def check_simple_params(get: Callable[[str], Any]) -> None:
    """The parameters that are only validated and kept (they matter for export)."""
    checks: list[tuple[str, Callable[[Any], bool], str]] = [
        ("task_type_version", lambda v: isinstance(v, int) and not isinstance(v, bool), "an int"),
        (
            "image",
            lambda v: v is None or isinstance(v, str) or is_flyte_object(v),
            "a str, 'auto' or flyte.Image",
        ),
        ("interruptible", lambda v: isinstance(v, bool), "a bool"),
        ("reusable", lambda v: v is None or is_flyte_object(v), "a flyte.ReusePolicy or None"),
        ("queue", lambda v: v is None or isinstance(v, str), "a str or None"),
        (
            "pod_template",
            lambda v: v is None or isinstance(v, str) or is_flyte_object(v),
            "a str or PodTemplate",
        ),
        ("report", lambda v: isinstance(v, bool), "a bool"),
        ("debuggable", lambda v: isinstance(v, bool), "a bool"),
        ("parent_env", lambda v: v is None or isinstance(v, weakref.ReferenceType), "a weakref or None"),
        ("parent_env_name", lambda v: v is None or isinstance(v, str), "a str or None"),
        ("_call_as_synchronous", lambda v: isinstance(v, bool), "a bool"),
        ("func", callable, "callable"),
        ("plugin_config", lambda v: v is None or isinstance(v, SandboxedConfig), "a SandboxedConfig"),
    ]
    for name, ok, expected in checks:
        value = get(name)
        check(name, value, ok(value), expected)
    if get("task_type_version") < 0:
        raise ValueError(f"task_type_version must be >= 0, got {get('task_type_version')}")
