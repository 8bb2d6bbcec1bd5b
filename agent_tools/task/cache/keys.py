"""The key of one run's result: everything that decides it, encoded canonically."""

from __future__ import annotations

import datetime
import decimal
import hashlib
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from agent_tools.task.cache.settings import Cache, names

__all__ = ["cache_key"]


_KEY_FORMAT = "agent-tools/cache-key/2"
"""Part of every key: a change to the encoding below must change this."""


def _frame(tag: bytes, payload: bytes) -> bytes:
    """`tag`, the payload's length, `:`, the payload: no two values frame alike."""
    return tag + str(len(payload)).encode() + b":" + payload


def _temporal_extra(value: datetime.datetime | datetime.time) -> bytes:
    """The parts of an aware datetime/time its isoformat leaves out."""
    return _frame(b"z", f"{value.fold}|{value.tzname()}".encode())


def _encode(value: Any) -> bytes:
    """The canonical, type-tagged encoding of a plain value (`TypeError` otherwise).
    Subclasses of the plain types (an IntEnum, an OrderedDict) encode as their base."""
    if value is None:
        return b"N"
    if value is True or value is False:
        return b"T" if value else b"F"
    if isinstance(value, int):
        return _frame(b"i", int.__repr__(value).encode())
    if isinstance(value, float):
        return _frame(b"f", float.hex(value).encode())
    if isinstance(value, str):
        return _frame(b"s", str.encode(value, "utf-8", "surrogatepass"))
    if isinstance(value, bytes):
        return _frame(b"y", bytes(value))
    if isinstance(value, list):
        return _frame(b"l", b"".join(_encode(v) for v in typing.cast(list[Any], value)))
    if isinstance(value, tuple):
        return _frame(b"t", b"".join(_encode(v) for v in typing.cast(tuple[Any, ...], value)))
    if isinstance(value, dict):
        items = typing.cast(dict[Any, Any], value).items()
        return _frame(b"d", b"".join(sorted(_encode(k) + _encode(v) for k, v in items)))
    if isinstance(value, frozenset):
        return _frame(b"r", b"".join(sorted(_encode(v) for v in typing.cast(frozenset[Any], value))))
    if isinstance(value, set):
        return _frame(b"e", b"".join(sorted(_encode(v) for v in typing.cast(set[Any], value))))
    if isinstance(value, datetime.datetime):
        return _frame(b"D", value.isoformat().encode() + _temporal_extra(value))
    if isinstance(value, datetime.date):
        return _frame(b"a", value.isoformat().encode())
    if isinstance(value, datetime.time):
        return _frame(b"h", value.isoformat().encode() + _temporal_extra(value))
    if isinstance(value, datetime.timedelta):
        return _frame(b"p", f"{value.days},{value.seconds},{value.microseconds}".encode())
    if isinstance(value, decimal.Decimal):
        return _frame(b"m", str(value).encode())
    raise TypeError(f"a value of type {type(value).__qualname__} cannot be part of a cache key")


def _secret_digest(value: str) -> str:
    """The sha256 hex digest of a secret's value: what a cache key holds of it."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def cache_key(
    *,
    source: str,
    inputs: Mapping[str, Any],
    output_type: str,
    functions: Mapping[str, str],
    cache: Cache,
    env_vars: Mapping[str, str] | None = None,
    secrets: Iterable[tuple[str, str, str]] = (),
) -> str:
    """The sha256 hex digest identifying one run's result.

    `functions` maps each registered name to its signature string, so renaming a
    function or changing its signature misses. Names in `cache.ignored_inputs`
    that are not inputs are ignored: a template may declare them for an input it
    has since dropped. A value that is not plain data is a `TypeError` naming the
    input.

    `env_vars` is what the code sees through `os.getenv` (no env vars is the same
    as `{}`). `secrets` holds `(key, env var name, value)` for each declared
    secret: the names and a sha256 of the value go into the key, so a result is
    not served to a template that declares another secret, nor after a secret's
    value changed. The order of the secrets does not matter.
    """
    ignored = set(names(cache.ignored_inputs))
    encoded_inputs: list[bytes] = []
    for name, value in inputs.items():
        if name in ignored:
            continue
        try:
            encoded = _encode(value)
        except TypeError as exc:
            raise TypeError(f"cache key: input {name!r}: {exc}") from None
        except RecursionError:
            raise TypeError(f"cache key: input {name!r} is cyclic or nested too deeply") from None
        encoded_inputs.append(_encode(name) + encoded)
    declared = frozenset((key, env_var, _secret_digest(value)) for key, env_var, value in secrets)
    parts = [
        _encode(_KEY_FORMAT),
        _encode(source),
        _frame(b"d", b"".join(sorted(encoded_inputs))),
        _encode(output_type),
        _encode(dict(functions)),
        _encode(cache.version),
        _encode(cache.salt),
        _encode(dict(env_vars or {})),
        _encode(declared),
    ]
    return hashlib.sha256(b"".join(parts)).hexdigest()
