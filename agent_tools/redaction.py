"""Keeping secret values out of everything a run leaves behind.

The code may read a secret (`os.getenv`) and pass it to a registered function,
which needs the real value. Everything recorded about the run (printed output,
host-call arguments and results, the result, errors and their whole chain of
causes, reports) gets each secret value replaced by `[secret NAME]`.

A secret is matched as it is and in the escaped forms it takes when a value
holding it is shown: inside a `repr` (either quote style, `ascii`, the bytes
repr) and inside JSON (`json.dumps` with and without `ensure_ascii`,
`pydantic_core.to_json`), and those forms escaped once more.

Values are walked in two passes: the first finds which parts hold a secret
(every distinct object once, cycles included), the second copies only those
parts, each distinct one once, and shares the rest unchanged. Models,
dataclasses and other objects are copied with their fields redacted; an object
that cannot be copied that way, or whose `repr` still shows a secret, becomes a
string stand-in, `[redacted TypeName]`. An exception whose text holds a secret
is copied (same class, redacted args and attributes, its own chain redacted),
or, failing that, replaced by a `RedactedError` (a `RedactedFatalToolError`
for a `FatalToolError`, which must stay one).

The text redaction must also apply before anything cuts a repr short (a cut
secret no longer matches): the run sets `errors.redacting(redactor.text)`, which
`errors.short_repr` applies to the whole repr first.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import re
import types
import typing
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic
import pydantic_core

from . import errors as _errors
from .errors import FatalToolError, SandboxError
from .record import RunRecord

__all__ = ["RedactedError", "RedactedFatalToolError", "Redactor"]


class RedactedError(RuntimeError):
    """Stands in for an exception whose text held a secret and that could not be
    copied with the secret replaced: `str()` is `OriginalType: redacted text`."""

    def __init__(self, message: str = "", original_type: str = "") -> None:
        super().__init__(message)
        self.original_type = original_type
        """The name of the class of the exception this stands in for."""


class RedactedFatalToolError(FatalToolError, RedactedError):
    """The stand-in for a `FatalToolError`: still one, so `run_code` raises it."""


# -- the forms a secret takes --------------------------------------------------------------


def _py_inner(text: str, quote: str, ascii_only: bool) -> str:
    """The inside of `repr(text)` (or `ascii(text)`) written between `quote`s."""
    show = ascii if ascii_only else repr
    out: list[str] = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == quote:
            out.append("\\" + quote)
        elif char in "'\"":
            out.append(char)
        else:
            out.append(show(char)[1:-1])
    return "".join(out)


def _bytes_inner(data: bytes, quote: str) -> str:
    """The inside of `repr(data)` written between `quote`s."""
    out: list[str] = []
    for byte in data:
        char = chr(byte)
        if char == "\\":
            out.append("\\\\")
        elif char == quote:
            out.append("\\" + quote)
        elif char in "'\"":
            out.append(char)
        else:
            out.append(repr(bytes([byte]))[2:-1])
    return "".join(out)


def _encode(text: str) -> bytes | None:
    """`text` as UTF-8; a value read with surrogate escapes as its original bytes."""
    for handler in ("strict", "surrogateescape", "surrogatepass"):
        try:
            return text.encode("utf-8", handler)
        except UnicodeEncodeError:
            continue
    return None  # pragma: no cover - surrogatepass encodes every str


def _json_inners(text: str) -> set[str]:
    """The insides of `text` as a JSON string, as the usual encoders write it."""
    inners = {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    with contextlib.suppress(ValueError, UnicodeError):  # lone surrogates
        inners.add(pydantic_core.to_json(text).decode()[1:-1])
    return inners


def _repr_inners(text: str) -> set[str]:
    inners = {_py_inner(text, quote, ascii_only) for quote in "'\"" for ascii_only in (False, True)}
    data = _encode(text)
    if data is not None:
        inners |= {_bytes_inner(data, quote) for quote in "'\""}
    return inners


def _forms(value: str) -> set[str]:
    """`value`, its repr-escaped and JSON-escaped forms, and those escaped once more."""
    reprs = _repr_inners(value)
    jsons = _json_inners(value)
    forms = {value} | reprs | jsons
    for inner in reprs:
        forms |= _json_inners(inner)
    for inner in jsons:
        forms |= _repr_inners(inner)
    return {form for form in forms if form}


@typing.overload
def _pattern(items: list[str], group: bool = False) -> re.Pattern[str]: ...
@typing.overload
def _pattern(items: list[bytes], group: bool = False) -> re.Pattern[bytes]: ...
def _pattern(items: list[str] | list[bytes], group: bool = False) -> re.Pattern[Any]:
    """A pattern matching any of `items` (longest first), or nothing when there are none;
    with `group`, as a group (so `split` keeps what it matched)."""
    ordered: list[Any] = sorted(items, key=len, reverse=True)
    if isinstance(ordered[0] if ordered else "", bytes):
        body = b"|".join(re.escape(item) for item in ordered) or b"(?!)"
        return re.compile(b"(" + body + b")" if group else body)
    text = "|".join(re.escape(item) for item in ordered) or "(?!)"
    return re.compile(f"({text})" if group else text)


def _replace(text: str, forms: list[tuple[str, str]], start: int = 0) -> str:
    """Replace each form (longest first) in `text`, never inside a replacement."""
    for i in range(start, len(forms)):
        form, replacement = forms[i]
        if form in text:
            return replacement.join(_replace(part, forms, i + 1) for part in text.split(form))
    return text


def _replace_bytes(data: bytes, forms: list[tuple[bytes, bytes]], start: int = 0) -> bytes:
    for i in range(start, len(forms)):
        form, replacement = forms[i]
        if form in data:
            return replacement.join(_replace_bytes(part, forms, i + 1) for part in data.split(form))
    return data


# -- the redactor ---------------------------------------------------------------------------


class Redactor:
    """Replaces the values of `secrets` (env var name -> value) wherever they occur."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        forms: dict[str, str] = {}  # form -> replacement
        # Longest value first, so a secret that contains another is replaced whole.
        for name, value in sorted(secrets.items(), key=lambda item: -len(item[1])):
            if value:
                for form in _forms(value):
                    forms.setdefault(form, f"[secret {name}]")
        self._forms = sorted(forms.items(), key=lambda pair: -len(pair[0]))
        """(form, replacement), longest first."""
        byte_forms = {b: r.encode() for f, r in self._forms if (b := _encode(f)) is not None}
        self._byte_forms = sorted(byte_forms.items(), key=lambda pair: -len(pair[0]))
        replacements = sorted({r for _, r in self._forms})
        # One search for all forms (patterns that match nothing without secrets), and
        # one for the replacements, which are left alone: redacting twice changes nothing.
        self._search = _pattern([f for f, _ in self._forms]).search
        self._search_bytes = _pattern([f for f, _ in self._byte_forms]).search
        self._marks = _pattern(replacements, group=True)
        self._byte_marks = _pattern([r.encode() for r in replacements], group=True)

    def __bool__(self) -> bool:
        return bool(self._forms)

    # -- texts

    def text(self, text: str) -> str:
        """`text` with every form of every secret replaced by `[secret NAME]`. This is
        the function for `errors.redacting`."""
        if self._search(text) is None:
            return text
        parts = self._marks.split(str(text))  # text, mark, text, ...
        return "".join(part if i % 2 else self._replace(part) for i, part in enumerate(parts))

    def _replace(self, text: str) -> str:
        if self._search(text) is None:
            return text
        return _replace(text, [pair for pair in self._forms if pair[0] in text])

    def contains(self, text: str) -> bool:
        """Whether `text` holds any form of any secret (outside a replacement)."""
        if self._search(text) is None:
            return False
        if self._marks.search(text) is None:
            return True
        return any(self._search(part) is not None for part in self._marks.split(text)[::2])

    def redact_bytes(self, data: bytes) -> bytes:
        """`data` with every form of every secret (UTF-8) replaced."""
        if self._search_bytes(data) is None:
            return data
        parts = self._byte_marks.split(bytes(data))
        return b"".join(part if i % 2 else self._replace_bytes(part) for i, part in enumerate(parts))

    def _replace_bytes(self, data: bytes) -> bytes:
        if self._search_bytes(data) is None:
            return data
        return _replace_bytes(data, [pair for pair in self._byte_forms if pair[0] in data])

    def contains_bytes(self, data: bytes) -> bool:
        if self._search_bytes(data) is None:
            return False
        if self._byte_marks.search(data) is None:
            return True
        return any(self._search_bytes(part) is not None for part in self._byte_marks.split(data)[::2])

    # -- values

    def value(self, value: Any) -> Any:
        """`value` with secrets replaced everywhere in it: the parts that hold one are
        copied (containers, models, dataclasses and other objects keep their type where
        they can), the rest is shared unchanged; `value` itself is not modified."""
        if not self._forms:
            return value
        walk = _Walk(self)
        walk.scan(value)
        return walk.top(value)

    def exception(self, exc: BaseException) -> BaseException:
        """`exc`, or a copy of its class with secrets replaced in its args, attributes and
        its whole `__cause__` / `__context__` chain (else a `RedactedError` stand-in)."""
        result = self.value(exc)
        return result if isinstance(result, BaseException) else _standin_exception(exc, str(result))

    def error(self, err: SandboxError) -> None:
        """Redact an error in place: its texts, its fields, its args, its record (in
        place) and the whole chain of its causes (copies where they hold a secret)."""
        if not self._forms:
            return
        walk = _Walk(self)
        walk.scan(err)
        walk.claim(err)
        walk.error_in_place(err)

    def record(self, record: RunRecord) -> None:
        """Redact a run record in place: printed output, result, every call's arguments,
        result and error, traceback, frames, and every attempt's error."""
        if not self._forms:
            return
        walk = _Walk(self)
        walk.scan(record)
        walk.claim(record)
        walk.record_in_place(record)


# -- the walk -------------------------------------------------------------------------------

_SCALARS: frozenset[type] = frozenset({int, float, bool, complex, type(None)})
_OPAQUE = (
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


_PENDING = _Pending()

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


def _shows_more(cls: type, name: str) -> bool:
    known = _shows_more_cache.get(cls)
    if known is None:
        known = _shows_more_cache[cls] = {}
    if name not in known:
        known[name] = _own_text(cls, name)
    return known[name]


def _kind(obj: object) -> type[Any]:
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


def _own_dict(obj: object) -> dict[str, Any] | None:
    try:
        found = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return None
    return typing.cast(dict[str, Any], found) if isinstance(found, dict) else None


def _slot_values(obj: object) -> list[tuple[Any, Any]]:
    values: list[tuple[Any, Any]] = []
    for descriptor in _slots(type(obj)):
        try:
            values.append((descriptor, descriptor.__get__(obj, type(obj))))
        except AttributeError:  # an unset slot
            continue
    return values


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return ""


def _standin_exception(exc: BaseException, text: str) -> BaseException:
    name = type(exc).__name__
    cls = RedactedFatalToolError if isinstance(exc, FatalToolError) else RedactedError
    return cls(f"{name}: {text}" if text else name, name)


class _Walk:
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
            kind = _kind(obj)
            if kind is dict:
                children: Iterable[Any] = [*obj.keys(), *obj.values()]
            elif kind is list or kind is tuple:
                children = obj
            else:
                leaks, children = self._inspect(obj)
                if leaks:
                    found.append(key)
            for child in children:
                kind = _kind(child)
                if kind is str:
                    if search(child) is not None and contains(child):
                        found.append(key)
                    continue
                if kind in _SCALARS:
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
            kind = _kind(obj)
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
                kind = _kind(child)
                if kind is str:
                    if search(child) is not None and contains(child):
                        return False
                elif kind not in _SCALARS:
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
        if isinstance(obj, _OPAQUE):
            return False, ()
        if isinstance(obj, BaseException):
            children: list[Any] = [*obj.args, *(_own_dict(obj) or {}).values()]
            children += [link for link in (obj.__cause__, obj.__context__) if link is not None]
            if isinstance(obj, BaseExceptionGroup):
                group = typing.cast(BaseExceptionGroup[BaseException], obj)
                children += [group.message, *group.exceptions]
            return self._text_leaks(typing.cast(BaseException, obj)), children
        children = list((_own_dict(obj) or {}).values())
        children += [value for _, value in _slot_values(obj)]
        return self._text_leaks(obj), children

    def _text_leaks(self, obj: object) -> bool:
        """Whether a `__str__` / `__repr__` of obj's own shows a secret."""
        cls = type(obj)
        names = ("__str__", "__repr__") if isinstance(obj, BaseException) else ("__repr__",)
        for name in names:
            if not _shows_more(cls, name):
                continue
            try:
                text = str(obj) if name == "__str__" else repr(obj)
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
            return _standin_exception(value, f"[redacted: {reason}]")
        return f"[redacted {type(value).__name__}: {reason}]"

    def build(self, obj: Any) -> Any:
        kind = _kind(obj)
        if kind is str:
            return self.redactor.text(obj)
        if kind in _SCALARS:
            return obj
        key = id(obj)
        if key not in self.dirty:
            return obj
        done = self.memo.get(key, _PENDING if key in self.memo else None)
        if done is not None:
            return self._standin(obj) if done is _PENDING else done
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
            self.memo[key] = _PENDING
            items = [self.build(item) for item in typing.cast(Iterable[Any], obj)]
            new = self.memo[key] = _rebuild(typing.cast(Any, obj), items)
            return new
        if isinstance(obj, BaseException):
            return self._exception(obj, key)
        return self._object(obj, key)

    def _standin(self, obj: Any) -> Any:
        """For what cannot be copied redacted, or an immutable container met again while
        it is being built (a cycle): a `RedactedError` for an exception, else a string."""
        if isinstance(obj, BaseException):
            return _standin_exception(obj, self.redactor.text(_safe_str(obj)))
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
        own = _own_dict(obj)
        try:
            new: Any = copy.copy(obj)
        except Exception:
            new = None
        if (
            new is None
            or new is obj
            or type(new) is not type(obj)
            or (own is not None and _own_dict(new) is own)
        ):
            self.memo[key] = stand_in
            return stand_in
        self.memo[key] = new
        new_own = _own_dict(new)
        if own is not None and new_own is not None:
            for name, value in list(own.items()):
                new_own[name] = self.build(value)
        for descriptor, value in _slot_values(obj):
            descriptor.__set__(new, self.build(value))
        if self._text_leaks(new):
            self.memo[key] = stand_in
            return stand_in
        return new

    # -- exceptions

    def _exception(self, exc: BaseException, key: int) -> BaseException:
        if isinstance(exc, BaseExceptionGroup):
            return self._group(typing.cast(BaseExceptionGroup[BaseException], exc), key)
        first = _copy_exception(exc)
        new = first if first is not None else self._standin(exc)
        self.memo[key] = new
        args = tuple(self.build(arg) for arg in exc.args)
        attrs = {name: self.build(value) for name, value in (_own_dict(exc) or {}).items()}
        cause, context = self._links(exc)
        if first is not None:
            _fill(first, exc, args, attrs, cause, context)
            if not self._text_leaks(first):
                return first
            second = _bare_exception(exc)
            if second is not None:
                _fill(second, exc, args, attrs, cause, context)
            first.args = ()  # what a cycle may already hold: as little as can be
            if second is not None and not self._text_leaks(second):
                self.memo[key] = second
                return second
            new = self.memo[key] = self._standin(exc)
        _link(new, exc, cause, context)
        return new

    def _group(self, group: BaseExceptionGroup[BaseException], key: int) -> BaseException:
        self.memo[key] = _PENDING
        message = self.redactor.text(group.message)
        members = [self.build(member) for member in group.exceptions]
        members = [m if isinstance(m, BaseException) else RedactedError(str(m)) for m in members]
        attrs = {name: self.build(value) for name, value in (_own_dict(group) or {}).items()}
        cause, context = self._links(group)
        new: BaseException
        try:
            new = type(group)(message, members)
        except Exception:
            new = BaseExceptionGroup(message, members)
        own = _own_dict(new)
        if own is not None:
            own.update(attrs)
        _link(new, group, cause, context)
        if self._text_leaks(new):
            new = self._standin(group)
            _link(new, group, cause, context)
        self.memo[key] = new
        return new

    def _links(self, exc: BaseException) -> tuple[BaseException | None, BaseException | None]:
        links: list[BaseException | None] = []
        for link in (exc.__cause__, exc.__context__):
            built = self.build(link) if link is not None else None
            if built is not None and not isinstance(built, BaseException):
                built = _standin_exception(typing.cast(BaseException, link), str(built))
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
        own = _own_dict(err) or {}
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
            return _standin_exception(value, str(built))
        return built


def _rebuild(obj: tuple[Any, ...] | frozenset[Any], items: list[Any]) -> Any:
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


def _copy_exception(exc: BaseException) -> BaseException | None:
    """A copy of `exc` of the same class, else None."""
    try:
        new = copy.copy(exc)
        if new is not exc and type(new) is type(exc):
            return new
    except Exception:
        pass
    return _bare_exception(exc)


def _bare_exception(exc: BaseException) -> BaseException | None:
    """An instance of exc's class made without `__init__` (no fields of its own)."""
    cls = type(exc)
    try:
        new = cls.__new__(cls)
    except Exception:
        return None
    return new if type(new) is cls and new is not exc else None


def _fill(
    new: BaseException,
    exc: BaseException,
    args: Any,
    attrs: Mapping[str, Any],
    cause: BaseException | None,
    context: BaseException | None,
) -> None:
    new.args = tuple(typing.cast(Iterable[Any], args))
    own = _own_dict(new)
    if own is not None:
        for name in [n for n in own if n not in attrs]:
            del own[name]
        own.update(attrs)
    _link(new, exc, cause, context)


def _link(
    new: BaseException, exc: BaseException, cause: BaseException | None, context: BaseException | None
) -> None:
    new.__cause__ = cause
    new.__context__ = context
    new.__suppress_context__ = exc.__suppress_context__
    with contextlib.suppress(TypeError, ValueError):
        new.__traceback__ = exc.__traceback__
