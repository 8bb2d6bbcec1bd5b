"""The `cache` setting of a template, as in `flyte.Cache`."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["Cache", "CacheBehavior", "CacheRequest", "names", "normalize_cache"]


CacheBehavior = Literal["auto", "override", "disable"]
"""`auto`: reuse a stored result or store a new one; `override`: always run and
store the result; `disable`: neither read nor write the cache."""

_BEHAVIORS: tuple[str, ...] = typing.get_args(CacheBehavior)


@dataclass(frozen=True)
class Cache:
    """How a template caches its results, as in `flyte.Cache`.

    `version` and `salt` go into the key, so changing either starts a fresh cache
    for the template; `ignored_inputs` names inputs whose values do not affect the
    result (a request id, a logger) and are left out of the key. A single name may
    be given as a string; it is stored as a 1-tuple.
    """

    behavior: CacheBehavior = "auto"
    version: str | None = None
    ignored_inputs: tuple[str, ...] | str = ()
    salt: str = ""

    def __post_init__(self) -> None:
        behavior = typing.cast(object, self.behavior)
        if not isinstance(behavior, str):
            raise TypeError(f"Cache.behavior must be one of {_choices()}, got {behavior!r}")
        if behavior not in _BEHAVIORS:
            raise ValueError(f"Cache.behavior must be one of {_choices()}, got {behavior!r}")
        version = typing.cast(object, self.version)
        if version is not None and not isinstance(version, str):
            raise TypeError(f"Cache.version must be a str or None, got {version!r}")
        salt = typing.cast(object, self.salt)
        if not isinstance(salt, str):
            raise TypeError(f"Cache.salt must be a str, got {salt!r}")
        object.__setattr__(self, "ignored_inputs", names(self.ignored_inputs))


def _choices() -> str:
    return ", ".join(repr(b) for b in _BEHAVIORS)


def names(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)):
        items = tuple(typing.cast(tuple[object, ...] | list[object], value))
        if all(isinstance(item, str) for item in items):
            return typing.cast(tuple[str, ...], items)
    raise TypeError(f"Cache.ignored_inputs must be a str or a tuple of str (input names), got {value!r}")


CacheRequest: TypeAlias = CacheBehavior | Cache
"""What a template's `cache` parameter accepts."""


def normalize_cache(value: object) -> Cache:
    """The `Cache` a template's `cache` argument stands for: a behavior string
    becomes `Cache(behavior=...)`, a `Cache` passes through."""
    if isinstance(value, Cache):
        return value
    accepted = f"one of {_choices()} or a Cache(...)"
    if isinstance(value, str):
        if value not in _BEHAVIORS:
            raise ValueError(f"cache must be {accepted}, got {value!r}")
        return Cache(behavior=typing.cast(CacheBehavior, value))
    raise TypeError(f"cache must be {accepted}, got {value!r} ({type(value).__name__})")
