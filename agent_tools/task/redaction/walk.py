"""The two-pass walk over a value, a record or an error: find what holds a secret,
then copy only that, each distinct object once.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import types
import typing
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from agent_tools.base.errors import SandboxError
from agent_tools.base.record import RunRecord
from agent_tools.task.redaction.objects import (
    OPAQUE,
    PENDING,
    SCALARS,
    RedactedError,
    bare_exception,
    copy_exception,
    fill,
    kind_of,
    own_dict,
    rebuild,
    relink,
    safe_str,
    shows_more,
    slot_values,
    standin_exception,
)

if TYPE_CHECKING:
    from agent_tools.task.redaction.redactor import Redactor

__all__ = ["Walk"]


class Walk:
    """One redaction pass: `scan` finds which objects hold a secret, `build` copies those."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.seen: dict[int, Any] = {}
        """id -> object, for every object scanned (which also keeps them alive)."""
        self.parents: dict[int, list[int]] = {}
        self.dirty: set[int] = set()
        """The ids of the objects that hold a secret, directly or further down."""
        self.memo: dict[int, Any] = {}
        """id -> its redacted copy (or itself, for what is redacted in place)."""
        self.done: set[int] = set()
        self.search = redactor._search  # pyright: ignore[reportPrivateUsage]

    # -- pass one

    def scan(self, root: Any) -> None:
        """Find the objects in `root` that hold a secret (a quick look first: most
        values hold none)."""
        if self._clean(root):
            return
        search, contains = self.search, self.redactor.contains
        seen, parents, dirty = self.seen, self.parents, self.dirty
        stack: list[Any] = [root]
        found: list[int] = []
        while stack:
            obj = stack.pop()
            key = id(obj)
            if key in seen:
                continue
            seen[key] = obj
            kind = kind_of(obj)
            if kind is dict:
                children: Iterable[Any] = [*obj.keys(), *obj.values()]
            elif kind is list or kind is tuple:
                children = obj
            else:
                leaks, children = self._inspect(obj)
                if leaks:
                    found.append(key)
            for child in children:
                kind = kind_of(child)
                if kind is str:
                    if search(child) is not None and contains(child):
                        found.append(key)
                    continue
                if kind in SCALARS:
                    continue
                child_key = id(child)
                if child_key in parents:
                    parents[child_key].append(key)
                else:
                    parents[child_key] = [key]
                if child_key in dirty:
                    found.append(key)
                stack.append(child)
        queue = [key for key in found if key not in dirty]
        dirty.update(queue)
        while queue:
            for parent in parents.get(queue.pop(), ()):
                if parent not in dirty:
                    dirty.add(parent)
                    queue.append(parent)

    def _clean(self, root: Any) -> bool:
        """Whether nothing in `root` holds a secret."""
        search, contains = self.search, self.redactor.contains
        seen: set[int] = set()
        stack: list[Any] = [root]
        while stack:
            obj = stack.pop()
            kind = kind_of(obj)
            if kind is str:
                if contains(obj):
                    return False
                continue
            key = id(obj)
            if key in seen:
                continue
            seen.add(key)
            if kind is dict:
                children: Iterable[Any] = [*obj.keys(), *obj.values()]
            elif kind is list or kind is tuple:
                children = obj
            else:
                leaks, children = self._inspect(obj)
                if leaks:
                    return False
            for child in children:
                kind = kind_of(child)
                if kind is str:
                    if search(child) is not None and contains(child):
                        return False
                elif kind not in SCALARS:
                    stack.append(child)
        return True

    def _inspect(self, obj: Any) -> tuple[bool, Iterable[Any]]:
        """Whether `obj`'s own text shows a secret, and the objects it holds."""
        if isinstance(obj, str):
            return self.redactor.contains(obj), ()
        if isinstance(obj, (bytes, bytearray)):
            return self.redactor.contains_bytes(bytes(obj)), ()
        if isinstance(obj, memoryview):
            return self.redactor.contains_bytes(typing.cast(memoryview, obj).tobytes()), ()
        if isinstance(obj, dict):
            mapping = typing.cast(dict[Any, Any], obj)
            return False, [*mapping.keys(), *mapping.values()]
        if isinstance(obj, (list, tuple, set, frozenset)):
            return False, list(typing.cast(Iterable[Any], obj))
        if isinstance(obj, OPAQUE):
            return False, ()
        if isinstance(obj, BaseException):
            children: list[Any] = [*obj.args, *(own_dict(obj) or {}).values()]
            children += [link for link in (obj.__cause__, obj.__context__) if link is not None]
            if isinstance(obj, BaseExceptionGroup):
                group = typing.cast(BaseExceptionGroup[BaseException], obj)
                children += [group.message, *group.exceptions]
            return self._text_leaks(typing.cast(BaseException, obj)), children
        children = list((own_dict(obj) or {}).values())
        children += [value for _, value in slot_values(obj)]
        return self._text_leaks(obj), children

    def _text_leaks(self, obj: object) -> bool:
        """Whether a `__str__` / `__repr__` of obj's own shows a secret."""
        cls = type(obj)
        names = ("__str__", "__repr__") if isinstance(obj, BaseException) else ("__repr__",)
        for name in names:
            if not shows_more(cls, name):
                continue
            try:
                text = str(obj) if name == "__str__" else repr(obj)
            except Exception:
                continue
            if self.redactor.contains(text):
                return True
        return isinstance(obj, BaseException) and self._native_field_leaks(obj)

    def _native_field_leaks(self, exc: BaseException) -> bool:
        """Whether a field a builtin exception keeps outside its args and `__dict__`
        (`StopIteration.value`, `SyntaxError.text`, `UnicodeError.object`,
        `ImportError.path`, ...) shows a secret: a copy with redacted args keeps them."""
        for name in _native_fields(type(exc)):
            try:
                value = getattr(exc, name)
                text = (
                    value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else repr(value)
                )
            except Exception:
                continue
            if self.redactor.contains(text):
                return True
        return False

    # -- pass two

    def top(self, value: Any) -> Any:
        """`build`, with a stand-in for a value it cannot copy (nested too deeply, or a
        copy that fails, such as a key that is no longer hashable)."""
        try:
            return self.build(value)
        except RecursionError:
            reason = "nested too deeply"
        except Exception as exc:
            reason = f"cannot copy: {type(exc).__name__}"
        if isinstance(value, BaseException):
            return standin_exception(value, f"[redacted: {reason}]")
        return f"[redacted {type(value).__name__}: {reason}]"

    def build(self, obj: Any) -> Any:
        kind = kind_of(obj)
        if kind is str:
            return self.redactor.text(obj)
        if kind in SCALARS:
            return obj
        key = id(obj)
        if key not in self.dirty:
            return obj
        done = self.memo.get(key, PENDING if key in self.memo else None)
        if done is not None:
            return self._standin(obj) if done is PENDING else done
        return self._build(obj, key)

    def _build(self, obj: Any, key: int) -> Any:
        if isinstance(obj, str):
            return self.redactor.text(str(obj))
        if isinstance(obj, bytes):
            return self.redactor.redact_bytes(bytes(obj))
        if isinstance(obj, bytearray):
            return bytearray(self.redactor.redact_bytes(bytes(obj)))
        if isinstance(obj, memoryview):
            return self.redactor.redact_bytes(typing.cast(memoryview, obj).tobytes())
        if isinstance(obj, dict):
            mapping = typing.cast(dict[Any, Any], obj)
            new_map: dict[Any, Any] = {} if type(mapping) is dict else self._empty_like(obj, dict)
            self.memo[key] = new_map
            for k, v in list(mapping.items()):
                new_map[self.build(k)] = self.build(v)
            return new_map
        if isinstance(obj, list):
            old_list = typing.cast(list[Any], obj)
            items = list(old_list)
            new_list: list[Any] = [] if type(old_list) is list else self._empty_like(obj, list)
            self.memo[key] = new_list
            new_list.extend(self.build(item) for item in items)
            return new_list
        if isinstance(obj, set):
            old_set = typing.cast(set[Any], obj)
            members = list(old_set)
            new_set: set[Any] = set() if type(old_set) is set else self._empty_like(obj, set)
            self.memo[key] = new_set
            new_set.update(self.build(item) for item in members)
            return new_set
        if isinstance(obj, (tuple, frozenset)):
            self.memo[key] = PENDING
            items = [self.build(item) for item in typing.cast(Iterable[Any], obj)]
            new = self.memo[key] = rebuild(typing.cast(Any, obj), items)
            return new
        if isinstance(obj, BaseException):
            return self._exception(obj, key)
        return self._object(obj, key)

    def _standin(self, obj: Any) -> Any:
        """For what cannot be copied redacted, or an immutable container met again while
        it is being built (a cycle): a `RedactedError` for an exception, else a string."""
        if isinstance(obj, BaseException):
            return standin_exception(obj, self.redactor.text(safe_str(obj)))
        return f"[redacted {type(obj).__name__}]"

    def _empty_like(self, obj: Any, base: type) -> Any:
        """An empty copy of a dict / list / set subclass instance (its own attributes,
        such as a defaultdict's factory, kept), else an empty `base`."""
        try:
            new: Any = copy.copy(obj)
            if new is not obj and type(new) is type(obj):
                new.clear()
                return new
        except Exception:
            pass
        return base()

    def _object(self, obj: Any, key: int) -> Any:
        """A shallow copy of `obj` with its `__dict__` and slots redacted."""
        stand_in = f"[redacted {type(obj).__name__}]"
        own = own_dict(obj)
        try:
            new: Any = copy.copy(obj)
        except Exception:
            new = None
        if (
            new is None
            or new is obj
            or type(new) is not type(obj)
            or (own is not None and own_dict(new) is own)
        ):
            self.memo[key] = stand_in
            return stand_in
        self.memo[key] = new
        new_own = own_dict(new)
        if own is not None and new_own is not None:
            for name, value in list(own.items()):
                new_own[name] = self.build(value)
        for descriptor, value in slot_values(obj):
            descriptor.__set__(new, self.build(value))
        if self._text_leaks(new):
            self.memo[key] = stand_in
            return stand_in
        return new

    # -- exceptions

    def _exception(self, exc: BaseException, key: int) -> BaseException:
        if isinstance(exc, BaseExceptionGroup):
            return self._group(typing.cast(BaseExceptionGroup[BaseException], exc), key)
        first = copy_exception(exc)
        new = first if first is not None else self._standin(exc)
        self.memo[key] = new
        args = tuple(self.build(arg) for arg in exc.args)
        attrs = {name: self.build(value) for name, value in (own_dict(exc) or {}).items()}
        cause, context = self._links(exc)
        if first is not None:
            fill(first, exc, args, attrs, cause, context)
            if not self._text_leaks(first):
                return first
            second = bare_exception(exc)
            if second is not None:
                fill(second, exc, args, attrs, cause, context)
            first.args = ()  # what a cycle may already hold: as little as can be
            if second is not None and not self._text_leaks(second):
                self.memo[key] = second
                return second
            new = self.memo[key] = self._standin(exc)
        relink(new, exc, cause, context)
        return new

    def _group(self, group: BaseExceptionGroup[BaseException], key: int) -> BaseException:
        self.memo[key] = PENDING
        message = self.redactor.text(group.message)
        members = [self.build(member) for member in group.exceptions]
        members = [m if isinstance(m, BaseException) else RedactedError(str(m)) for m in members]
        attrs = {name: self.build(value) for name, value in (own_dict(group) or {}).items()}
        cause, context = self._links(group)
        new: BaseException
        try:
            new = type(group)(message, members)
        except Exception:
            new = BaseExceptionGroup(message, members)
        own = own_dict(new)
        if own is not None:
            own.update(attrs)
        relink(new, group, cause, context)
        if self._text_leaks(new):
            new = self._standin(group)
            relink(new, group, cause, context)
        self.memo[key] = new
        return new

    def _links(self, exc: BaseException) -> tuple[BaseException | None, BaseException | None]:
        links: list[BaseException | None] = []
        for link in (exc.__cause__, exc.__context__):
            built = self.build(link) if link is not None else None
            if built is not None and not isinstance(built, BaseException):
                built = standin_exception(typing.cast(BaseException, link), str(built))
            links.append(built)
        return links[0], links[1]

    # -- in place: a record and the errors of a run

    def claim(self, root: RunRecord | SandboxError) -> None:
        """Mark what is redacted in place (records, their call lists, calls, error lists
        and errors), so a reference to one met elsewhere is that same object."""
        stack: list[Any] = [root]
        while stack:
            obj = stack.pop()
            if id(obj) in self.memo:
                continue
            self.memo[id(obj)] = obj
            if isinstance(obj, RunRecord):
                self.memo[id(obj.calls)] = obj.calls
                self.memo[id(obj.errors)] = obj.errors
                stack += obj.calls
                stack += obj.errors
            elif isinstance(obj, SandboxError) and obj.record is not None:
                stack.append(obj.record)

    def record_in_place(self, record: RunRecord) -> None:
        if id(record) in self.done:
            return
        self.done.add(id(record))
        if id(record) not in self.dirty:
            return
        for call in record.calls:
            if id(call) not in self.done and id(call) in self.dirty:
                self.done.add(id(call))
                for f in dataclasses.fields(call):
                    setattr(call, f.name, self._field(getattr(call, f.name), f.name == "error"))
        for err in record.errors:
            self.error_in_place(err)
        for f in dataclasses.fields(record):
            if f.name not in ("calls", "errors"):
                setattr(record, f.name, self._field(getattr(record, f.name), False))

    def error_in_place(self, err: SandboxError) -> None:
        if id(err) in self.done:
            return
        self.done.add(id(err))
        if id(err) not in self.dirty:
            return
        own = own_dict(err) or {}
        for name, value in list(own.items()):
            if isinstance(value, RunRecord):
                self.record_in_place(value)
            else:
                own[name] = self._field(value, False)
        err.args = tuple(self._field(arg, False) for arg in err.args)
        cause, context = self._links(err)
        err.__cause__, err.__context__ = cause, context

    def _field(self, value: Any, exception: bool) -> Any:
        built = self.top(value)
        if exception and value is not None and not isinstance(built, BaseException):
            return standin_exception(value, str(built))
        return built


_CHAIN_FIELDS = frozenset({"__traceback__", "__cause__", "__context__", "__suppress_context__", "args"})


@functools.cache
def _native_fields(cls: type[BaseException]) -> tuple[str, ...]:
    """The data fields a builtin exception class defines in C (member and getset
    descriptors), less the chain and `args`, which the walk handles."""
    names: list[str] = []
    for klass in cls.__mro__:
        for name, attr in vars(klass).items():
            if name in _CHAIN_FIELDS or name in names:
                continue
            if isinstance(attr, (types.MemberDescriptorType, types.GetSetDescriptorType)):
                names.append(name)
    return tuple(names)
