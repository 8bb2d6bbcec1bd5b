"""Which Python types may cross the sandbox wall, and turning host values into the
plain data that crosses it.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import inspect
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter
from typing_extensions import is_typeddict

__all__ = [
    "DATES_AND_DECIMALS",
    "DEFAULT_MAX_INLINE_IO_BYTES",
    "EMPTY",
    "check_supported_type",
    "is_plain",
    "to_plain",
    "type_adapter",
    "type_name",
]


DATES_AND_DECIMALS: frozenset[Any] = frozenset(
    {datetime.date, datetime.datetime, datetime.time, datetime.timedelta, decimal.Decimal}
)
"""Types Monty (1.4) holds natively, crossing both ways as they are: a datetime keeps
its fixed-offset timezone (name included), a Decimal its digits. A datetime in an IANA
zone (`zoneinfo.ZoneInfo`) comes back in the fixed offset it had at that instant."""

SCALARS: frozenset[Any] = frozenset(
    {int, float, str, bool, bytes, type(None), None, Any, *DATES_AND_DECIMALS}
)
CONTAINERS: frozenset[Any] = frozenset({list, dict, tuple, set, frozenset})

DEFAULT_MAX_INLINE_IO_BYTES = 10 * 1024 * 1024
"""Flyte's default cap on the inputs plus output passed inline to a task."""

EMPTY = inspect.Parameter.empty


def type_name(tp: Any) -> str:
    """A readable name for a type annotation: `int`, `list[str]`, `Optional[int]`."""
    if tp is type(None) or tp is None:
        return "None"
    if isinstance(tp, type) and not get_args(tp):
        return tp.__name__
    return repr(tp).replace("typing.", "")


def _unsupported(tp: Any, where: str) -> TypeError:
    return TypeError(
        f"{where}: unsupported type {type_name(tp)}. Supported: int, float, str, bool, bytes, None, "
        "date, datetime, time, timedelta, Decimal, "
        "list/dict/tuple/set/frozenset (bare or parameterised), Optional/Union of those, Any, "
        "Literal, pydantic models, dataclasses and TypedDicts."
    )


def check_supported_type(tp: Any, where: str) -> None:
    """Raise `TypeError` naming `where` if `tp` cannot cross the boundary."""
    if tp in SCALARS or tp in CONTAINERS:
        return
    origin = get_origin(tp)
    if origin is Literal:
        return
    if origin in CONTAINERS or origin in (Union, types.UnionType):
        for arg in get_args(tp):
            if arg is not Ellipsis:
                check_supported_type(arg, where)
        return
    if origin is typing.Annotated:
        check_supported_type(get_args(tp)[0], where)
        return
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return
    cls = typing.cast(type[Any], tp)
    if isinstance(tp, type) and (dataclasses.is_dataclass(cls) or is_typeddict(cls)):
        for hint in typing.get_type_hints(cls).values():
            check_supported_type(hint, f"{where} (field of {cls.__name__})")
        return
    raise _unsupported(tp, where)


def type_adapter(tp: Any, where: str) -> TypeAdapter[Any]:
    try:
        return TypeAdapter(tp)
    except Exception as exc:  # pydantic refuses some types (typing.TypedDict on 3.11, ...)
        raise TypeError(f"{where}: unsupported type {type_name(tp)}: {exc}") from exc


_LEAVES = (bool, int, float, str, bytes, *DATES_AND_DECIMALS)


def _check_encodable(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TypeError(
            f"a str with a lone surrogate ({text[exc.start]!r} at position {exc.start}) cannot cross "
            "into the sandbox, which holds only valid UTF-8"
        ) from None


def to_plain(value: Any) -> Any:
    """Turn a host value into plain data Monty can hold: models and dataclasses become
    dicts, containers are converted element-wise. Anything else (an arbitrary object, a
    cycle) is a `TypeError` naming the type, rather than a failure deep in Monty. A
    container that occurs twice is converted once and shared the same way, so a value
    made of shared parts is never expanded here."""
    try:
        return _to_plain(value, {})
    except RecursionError:
        raise TypeError("value is cyclic or nested too deeply to cross into the sandbox") from None


def _to_plain(value: Any, memo: dict[int, tuple[Any, Any]]) -> Any:
    if type(value) is str:
        if not value.isascii():  # O(1): CPython keeps the flag
            _check_encodable(value)
        return value
    if value is None or isinstance(value, _LEAVES):
        return value
    ident = id(typing.cast(object, value))
    seen = memo.get(ident)
    if seen is not None:
        return seen[1]
    converted: Any
    if isinstance(value, BaseModel):
        converted = _to_plain(value.model_dump(), memo)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        converted = {f.name: _to_plain(getattr(value, f.name), memo) for f in dataclasses.fields(value)}
    elif isinstance(value, dict):
        items = typing.cast(dict[Any, Any], value).items()
        converted = {_to_plain(k, memo): _to_plain(v, memo) for k, v in items}
    elif isinstance(value, list):
        converted = [_to_plain(v, memo) for v in typing.cast(list[Any], value)]
    elif isinstance(value, tuple):
        converted = tuple(_to_plain(v, memo) for v in typing.cast(tuple[Any, ...], value))
    elif isinstance(value, (set, frozenset)):
        items_ = (_to_plain(v, memo) for v in typing.cast(set[Any], value))
        converted = frozenset(items_) if isinstance(value, frozenset) else set(items_)
    else:
        raise TypeError(
            f"a value of type {type(value).__qualname__} cannot cross into the sandbox; "
            "return plain data (dict, list, str, numbers), a pydantic model or a dataclass"
        )
    memo[ident] = (typing.cast(object, value), converted)  # the value too: its id must not be reused
    return converted


def is_plain(tp: Any) -> bool:
    if tp in SCALARS or tp in CONTAINERS:
        return tp is not Any
    origin = get_origin(tp)
    if origin is Literal:
        return True
    if origin in CONTAINERS or origin in (Union, types.UnionType):
        return all(a is Ellipsis or is_plain(a) for a in get_args(tp))
    return False
