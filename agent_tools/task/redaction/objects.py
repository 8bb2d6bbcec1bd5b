"""Copying objects and exceptions with redacted parts, and the stand-ins for what
cannot be copied.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import types
import typing
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic

from agent_tools.base import errors as _errors
from agent_tools.base.errors import FatalToolError

__all__ = [
    "OPAQUE",
    "PENDING",
    "SCALARS",
    "RedactedError",
    "RedactedFatalToolError",
    "bare_exception",
    "copy_exception",
    "fill",
    "kind_of",
    "own_dict",
    "rebuild",
    "relink",
    "safe_str",
    "shows_more",
    "slot_values",
    "standin_exception",
]


class RedactedError(RuntimeError):
    """Stands in for an exception whose text held a secret and that could not be
    copied with the secret replaced: `str()` is `OriginalType: redacted text`."""

    def __init__(self, message: str = "", original_type: str = "") -> None:
        super().__init__(message)
        self.original_type = original_type
        """The name of the class of the exception this stands in for."""


class RedactedFatalToolError(FatalToolError, RedactedError):
    """The stand-in for a `FatalToolError`: still one, so `run_code` raises it."""


SCALARS: frozenset[type] = frozenset({int, float, bool, complex, type(None)})

OPAQUE = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
    types.TracebackType,
)
"""Never looked into: their repr shows no value."""


class _Pending:
    """In the memo while an immutable container is built from its items."""


PENDING = _Pending()

_SAFE_TEXT_METHODS: set[Any] = {object.__repr__, BaseException.__repr__, BaseException.__str__}

_shows_more_cache: weakref.WeakKeyDictionary[type, dict[str, bool]] = weakref.WeakKeyDictionary()


def _own_text(cls: type, name: str) -> bool:
    """Whether `cls.<name>` (`__str__` / `__repr__`) shows more than the fields walked:
    not object's, BaseException's, pydantic's, a dataclass's generated one or one of
    agent_tools.errors (built from the instance's fields)."""
    method = getattr(cls, name, None)
    if method in _SAFE_TEXT_METHODS:
        return False
    if name == "__repr__" and method is pydantic.BaseModel.__repr__:
        return False
    if getattr(method, "__module__", None) == _errors.__name__:
        return False
    if name == "__repr__" and dataclasses.is_dataclass(cls):
        inner = getattr(method, "__wrapped__", method)
        code = getattr(inner, "__code__", None)
        qualname = getattr(inner, "__qualname__", "")
        if "__create_fn__" in qualname or (code is not None and code.co_filename == "<string>"):
            return False
    return True


def shows_more(cls: type, name: str) -> bool:
    known = _shows_more_cache.get(cls)
    if known is None:
        known = _shows_more_cache[cls] = {}
    if name not in known:
        known[name] = _own_text(cls, name)
    return known[name]


def kind_of(obj: object) -> type[Any]:
    return type(obj)


def _slots(cls: type) -> list[Any]:
    """The member descriptors of the `__slots__` of `cls` and its bases."""
    found: list[Any] = []
    for klass in cls.__mro__:
        names: Any = klass.__dict__.get("__slots__", ())
        for name in (names,) if isinstance(names, str) else typing.cast(Iterable[Any], names):
            if not isinstance(name, str) or name in ("__dict__", "__weakref__"):
                continue
            if name.startswith("__") and not name.endswith("__"):
                name = f"_{klass.__name__.lstrip('_')}{name}"
            descriptor = klass.__dict__.get(name)
            if isinstance(descriptor, types.MemberDescriptorType):
                found.append(descriptor)
    return found


def own_dict(obj: object) -> dict[str, Any] | None:
    try:
        found = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return None
    return typing.cast(dict[str, Any], found) if isinstance(found, dict) else None


def slot_values(obj: object) -> list[tuple[Any, Any]]:
    values: list[tuple[Any, Any]] = []
    for descriptor in _slots(type(obj)):
        try:
            values.append((descriptor, descriptor.__get__(obj, type(obj))))
        except AttributeError:  # an unset slot
            continue
    return values


def safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return ""


def standin_exception(exc: BaseException, text: str) -> BaseException:
    name = type(exc).__name__
    cls = RedactedFatalToolError if isinstance(exc, FatalToolError) else RedactedError
    return cls(f"{name}: {text}" if text else name, name)


def rebuild(obj: tuple[Any, ...] | frozenset[Any], items: list[Any]) -> Any:
    """A tuple / frozenset of `items` of the type of `obj` where it can be built."""
    cls: Any = type(obj)
    if cls is tuple:
        return tuple(items)
    if cls is frozenset:
        return frozenset(items)
    try:
        if isinstance(obj, tuple) and hasattr(cls, "_fields"):  # a namedtuple
            return cls._make(items)
        return cls(items)
    except Exception:
        return tuple(items) if isinstance(obj, tuple) else frozenset(items)


def copy_exception(exc: BaseException) -> BaseException | None:
    """A copy of `exc` of the same class, else None."""
    try:
        new = copy.copy(exc)
        if new is not exc and type(new) is type(exc):
            return new
    except Exception:
        pass
    return bare_exception(exc)


def bare_exception(exc: BaseException) -> BaseException | None:
    """An instance of exc's class made without `__init__` (no fields of its own)."""
    cls = type(exc)
    try:
        new = cls.__new__(cls)
    except Exception:
        return None
    return new if type(new) is cls and new is not exc else None


def fill(
    new: BaseException,
    exc: BaseException,
    args: Any,
    attrs: Mapping[str, Any],
    cause: BaseException | None,
    context: BaseException | None,
) -> None:
    new.args = tuple(typing.cast(Iterable[Any], args))
    own = own_dict(new)
    if own is not None:
        for name in [n for n in own if n not in attrs]:
            del own[name]
        own.update(attrs)
    relink(new, exc, cause, context)


def relink(
    new: BaseException, exc: BaseException, cause: BaseException | None, context: BaseException | None
) -> None:
    new.__cause__ = cause
    new.__context__ = context
    new.__suppress_context__ = exc.__suppress_context__
    with contextlib.suppress(TypeError, ValueError):
        new.__traceback__ = exc.__traceback__
