"""Registered functions: naming, signatures, and the stubs the type checker reads.

A registered function is called from the sandbox with plain data. When its
parameters are annotated with pydantic models, dataclasses or TypedDicts, the
arguments are validated into those types (pydantic's `validate_call`) before the
function runs, so the host code receives what its signature promises.

The stubs show those classes as the dicts the sandbox passes: each becomes a
`TypedDict` (optional fields `NotRequired[...]`, field descriptions as comments),
defined once before the functions that use it; an `Enum` is a `Literal` of its
values. Parameter descriptions (`Annotated[T, "text"]`, `pydantic.Field(description=)`,
a callable's `__agent_tools_param_docs__`) become an `Args:` section of the stub's
docstring. A function built from a JSON schema (`sandbox.schema`) renders the same
way, from the types its signature holds.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import datetime
import decimal
import functools
import inspect
import json
import keyword
import math
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

import typing_extensions
from pydantic import BaseModel, validate_call
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from typing_extensions import is_typeddict

from agent_tools.base.approval import APPROVAL_ATTR, ApprovalRequest, ApprovalRule, approval_rule
from agent_tools.sandbox.builtin_names import SHADOWING_BUILTINS
from agent_tools.sandbox.schema import FIELD_DEFAULTS, FIELD_DOCS, OMITTED, PARAM_DOCS
from agent_tools.sandbox.source import GATHER_BUILTIN

__all__ = [
    "BLOCKING",
    "BUILTIN_NAMES",
    "FLYTE_TASK",
    "MAP_DEFAULTS",
    "MAP_KEYWORDS",
    "SERVED_BY",
    "TAKEN_NAMES",
    "HostFunction",
    "build_catalog",
    "build_stubs",
    "flyte_task_of",
    "is_flyte_task",
    "is_record_class",
    "map_signature",
    "not_tasks",
    "record_keys",
    "register",
]

PARALLEL_MAP = "parallel_map"
FLYTE_MAP = "flyte_map"
BUILTIN_NAMES = frozenset({PARALLEL_MAP, FLYTE_MAP, GATHER_BUILTIN})

TAKEN_NAMES = BUILTIN_NAMES | SHADOWING_BUILTINS
"""Names no registered function can have: the sandbox's own builtins, and Monty's, which
the code's call reaches first. A tool named by a schema gets `_` after one of them."""

MAP_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    PARALLEL_MAP: {"concurrency": 8, "group_name": None, "return_exceptions": False},
    FLYTE_MAP: {"concurrency": 0, "group_name": None, "return_exceptions": True},
}
"""The keywords `parallel_map` and `flyte_map` take (Flyte's `flyte_map` keywords) and
their defaults: `flyte_map`'s are Flyte's. The stubs below, the pre-flight check
(`sandbox.preflight`) and the fan-out (`sandbox.fanout`) follow these."""

MAP_KEYWORDS = tuple(MAP_DEFAULTS[FLYTE_MAP])


def map_signature(name: str) -> str:
    """`flyte_map(fn, *iterables, concurrency=0, ...)`: a builtin map as the model reads it."""
    keywords = ", ".join(f"{k}={v!r}" for k, v in MAP_DEFAULTS[name].items())
    return f"{name}(fn, *iterables, {keywords})"


FLYTE_TASK = "__agent_tools_flyte_task__"
"""On the function `register` makes of a Flyte task: the task itself, which
`to_flyte` hands back to Flyte."""

BLOCKING = "__agent_tools_blocking__"
"""An async function may carry, under this attribute, a plain function that does the
same work by blocking its thread until the result is there (an MCP tool's call to
the connection's own loop): the sandbox calls that one from its feeding thread, which
saves the hop to the caller's event loop and back on every call."""

SERVED_BY = "__agent_tools_served_by__"
"""A registered function may carry, under this attribute, a function returning the
native ids of the threads of this process that do its work while the caller waits
(an MCP connection's event loop thread): a colocated run pins those threads with its
own round trip (see `affinity.py`), and calls the function with its own thread still
pinned, so the function must start no thread or process itself; a serving thread
that starts some does so inside `affinity.starting_children()`."""

_STUB_HEADER = """\
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Callable, Literal, NotRequired, Optional, TypedDict, Union

def parallel_map(
    fn: Callable[..., Any] | str,
    *iterables: Any,
    concurrency: int = 8,
    group_name: str | None = None,
    return_exceptions: bool = False,
) -> list[Any]:
    \"\"\"Call a registered function once per item (zip of the iterables), concurrently on the host.
    A failure raises, unless return_exceptions=True puts the exception in the list in its place.\"\"\"
    ...

def flyte_map(
    fn: Callable[..., Any] | str,
    *iterables: Any,
    concurrency: int = 0,
    group_name: str | None = None,
    return_exceptions: bool = True,
) -> list[Any]:
    \"\"\"parallel_map with Flyte's defaults: no concurrency limit (0), failures returned in the list.\"\"\"
    ...

def asyncio_gather(*values: Any) -> list[Any]: ...
"""

_TYPES_NOTE = (
    "# The dicts the functions below take and return. Write them as dict literals:\n"
    "# these class names are not defined in the sandbox."
)

_NATIVE: dict[Any, str] = {
    datetime.date: "date",
    datetime.datetime: "datetime",
    datetime.time: "time",
    datetime.timedelta: "timedelta",
    decimal.Decimal: "Decimal",
}
"""Types the sandbox holds as they are, by the names the stubs import them under."""

_RESERVED = frozenset(
    {"Any", "Callable", "Literal", "NotRequired", "Optional", "TypedDict", "Union", *BUILTIN_NAMES}
    | set(_NATIVE.values())
    | set(dir(builtins))
    | set(keyword.kwlist)
)
"""Names a stub class may not take: the stub module's own and the builtins."""

_ARGS_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params)\s*:?\s*$", re.MULTILINE)
_NO_DEFAULT: Any = inspect.Parameter.empty
_KEY_QUALIFIERS = (typing_extensions.Required, typing_extensions.NotRequired, typing_extensions.ReadOnly)
_CONTAINERS: dict[Any, str] = {list: "list", dict: "dict", tuple: "tuple", set: "set", frozenset: "frozenset"}


def is_record_class(tp: Any) -> bool:
    """A pydantic model, dataclass or TypedDict class: a dict in the sandbox."""
    if not isinstance(tp, type):
        return False
    cls = typing.cast(type[Any], tp)
    return issubclass(cls, BaseModel) or dataclasses.is_dataclass(cls) or is_typeddict(cls)


@functools.lru_cache(maxsize=256)
def record_keys(cls: type[Any]) -> tuple[tuple[str, Any, bool], ...]:
    """The keys of the dict that stands for the record class `cls` in the sandbox, as
    (key, annotation, required). A key is said to be required only where no other
    spelling would do: a pydantic field with an alias may also go by its name, so
    none is required there."""
    fields = _record_fields(cls)
    aliased = issubclass(cls, BaseModel) and any(
        info.alias or info.validation_alias for info in cls.model_fields.values()
    )
    return tuple((f.key, f.annotation, f.required and not aliased) for f in fields)


def _needs_validation(tp: Any) -> bool:
    if is_record_class(tp):
        return True
    return any(_needs_validation(a) for a in get_args(tp))


# -- descriptions and defaults ---------------------------------------------------------


def _annotated_doc(tp: Any) -> str | None:
    """The description an annotation carries: `Annotated[T, "text"]`,
    `Annotated[T, Field(description="text")]` or `Annotated[T, Doc("text")]`."""
    tp = _unwrap_required(tp)
    if get_origin(tp) is not typing.Annotated:
        return None
    for meta in typing.cast(tuple[Any, ...], tp.__metadata__):
        text = meta if isinstance(meta, str) else getattr(meta, "description", None)
        if not isinstance(text, str):
            text = getattr(meta, "documentation", None)
        if isinstance(text, str) and text.strip():
            return text.strip()
    return None


def _short_literal(value: Any, nested: bool = False) -> str | None:
    """`value` as Python source when it is short and plain (a number, string, bool,
    None, or a small list, tuple or dict of those), else None."""
    if isinstance(value, Enum):
        value = typing.cast(Any, value).value
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        text = repr(int(value))
        return text if len(text) <= 20 else None
    if isinstance(value, float):
        return repr(float(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 and value.isprintable() else None
    if nested or not isinstance(value, (list, tuple, dict)):
        return None
    container = typing.cast(list[Any] | tuple[Any, ...] | dict[Any, Any], value)
    if len(container) > 5:
        return None
    if isinstance(container, dict):
        items = [(_short_literal(k, True), _short_literal(v, True)) for k, v in container.items()]
        if any(k is None or v is None for k, v in items):
            return None
        text = "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    else:
        parts = [_short_literal(v, True) for v in container]
        if any(p is None for p in parts):
            return None
        inner = ", ".join(typing.cast(list[str], parts))
        if isinstance(container, tuple):
            text = f"({inner},)" if len(parts) == 1 else f"({inner})"
        else:
            text = f"[{inner}]"
    return text if len(text) <= 60 else None


def _default_of(default: Any) -> Any:
    """What a parameter's default means: a `pydantic.Field(...)` default stands for
    its own default (none: required; a factory: some value)."""
    if isinstance(default, FieldInfo):
        if default.default_factory is not None:
            return ...
        return _NO_DEFAULT if default.default is PydanticUndefined else default.default
    return default


def _comment(doc: str | None, default: Any) -> str:
    parts: list[str] = []
    if doc:
        parts.append(" ".join(doc.split()))
    if default is not _NO_DEFAULT:
        shown = _short_literal(default)
        if shown is not None:
            parts.append(f"(default: {shown})" if parts else f"default: {shown}")
    return f"  # {' '.join(parts)}" if parts else ""


def _docstring(text: str, indent: str = "    ") -> str:
    """`text` as a docstring literal indented by `indent` (its body follows)."""
    if '"""' in text or text.endswith("\\"):
        text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        prefix = ""
    else:
        prefix = "r" if "\\" in text else ""
    lines = text.split("\n")
    body = "\n".join([lines[0], *((indent + line).rstrip() for line in lines[1:])])
    if len(lines) > 1:
        body += "\n" + indent
    return f'{indent}{prefix}"""{body}"""'


# -- records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    key: str
    annotation: Any
    required: bool
    doc: str | None
    default: Any = _NO_DEFAULT


def _unwrap_required(tp: Any) -> Any:
    while get_origin(tp) in _KEY_QUALIFIERS:
        tp = get_args(tp)[0]
    return tp


def _record_fields(cls: type[Any]) -> list[_Field]:
    if issubclass(cls, BaseModel):
        return _model_fields(cls)
    if dataclasses.is_dataclass(cls):
        return _dataclass_fields(cls)
    return _typeddict_fields(cls)


def _model_fields(cls: type[BaseModel]) -> list[_Field]:
    out: list[_Field] = []
    for name, info in cls.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
        notes = [m.strip() for m in info.metadata if isinstance(m, str) and m.strip()]
        doc = info.description or (notes[0] if notes else None)
        required = info.is_required()
        default = info.default if not required and info.default_factory is None else _NO_DEFAULT
        out.append(_Field(alias or name, info.annotation, required, doc, default))
    return out


def _dataclass_fields(cls: type[Any]) -> list[_Field]:
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:
        hints = {}
    out: list[_Field] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        annotation = hints.get(f.name, Any)
        doc = _annotated_doc(annotation) or f.metadata.get("description")
        default: Any = f.default
        if isinstance(default, FieldInfo):
            doc = doc or default.description
            default = _default_of(default)
        required = default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if default is dataclasses.MISSING:
            default = _NO_DEFAULT
        out.append(_Field(f.name, annotation, required, doc if isinstance(doc, str) else None, default))
    return out


def _typeddict_fields(cls: type[Any]) -> list[_Field]:
    try:
        hints = typing_extensions.get_type_hints(cls, include_extras=True)
    except Exception:
        hints = dict(getattr(cls, "__annotations__", {}))
    required_keys: frozenset[str] = getattr(cls, "__required_keys__", frozenset(hints))
    docs: Mapping[str, str] = getattr(cls, FIELD_DOCS, None) or {}
    defaults: Mapping[str, Any] = getattr(cls, FIELD_DEFAULTS, None) or {}
    return [
        _Field(
            key,
            _unwrap_required(annotation),
            _key_required(annotation, key in required_keys),
            docs.get(key) or _annotated_doc(annotation),
            defaults.get(key, _NO_DEFAULT),
        )
        for key, annotation in hints.items()
    ]


def _key_required(annotation: Any, listed: bool) -> bool:
    """Whether a TypedDict key is required: its `Required[]`/`NotRequired[]` says so
    (`__required_keys__` misses them in string annotations), else `__required_keys__`."""
    while get_origin(annotation) in _KEY_QUALIFIERS:
        if get_origin(annotation) is typing_extensions.NotRequired:
            return False
        if get_origin(annotation) is typing_extensions.Required:
            return True
        annotation = get_args(annotation)[0]
    return listed


def _class_doc(cls: type[Any]) -> str | None:
    doc = cls.__dict__.get("__doc__")
    if not isinstance(doc, str) or not doc.strip():
        return None
    doc = inspect.cleandoc(doc)
    if dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}("):
        return None  # the text dataclasses make up
    return doc


def _enum_literal(cls: type[Enum]) -> str:
    values = [m.value for m in cls]
    if values and all(isinstance(v, (str, int)) for v in values):
        return f"Literal[{', '.join(repr(v) for v in dict.fromkeys(values))}]"
    return "Any"


# -- the stub writer -------------------------------------------------------------------

_Shape = tuple[str | None, tuple[str, ...], bool]
"""A class definition without its name: docstring, field lines, functional syntax."""


class _Stubs:
    """Renders types and functions, collecting the classes they use: each class once,
    under its own name, or `Name2`, ... when another class took that name (a class of
    the same name and the same fields shares it)."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self.reserved = _RESERVED | set(taken)
        self.names: dict[Any, str] = {}
        self.shapes: dict[str, _Shape] = {}
        self.texts: dict[str, str] = {}
        self.pinned: dict[Any, str | None] = {}
        """Classes being rendered; a name once one refers to itself."""

    def classes(self) -> list[str]:
        return list(self.texts.values())

    # -- types

    def type(self, tp: Any) -> str:
        if tp is inspect.Parameter.empty or tp is Any:
            return "Any"
        if tp is None or tp is type(None):
            return "None"
        if tp in (int, float, str, bool, bytes, list, dict, tuple, set, frozenset):
            return typing.cast(type, tp).__name__
        native = _NATIVE.get(tp)
        if native is not None:
            return native
        if is_record_class(tp):
            return self.record(typing.cast(type[Any], tp))
        if isinstance(tp, type) and issubclass(tp, Enum):
            return _enum_literal(tp)
        supertype: Any = getattr(typing.cast(object, tp), "__supertype__", None)  # typing.NewType
        if supertype is not None:
            return self.type(supertype)
        origin, args = get_origin(tp), get_args(tp)
        if origin is Literal:
            values = [a.value if isinstance(a, Enum) else a for a in args]
            return f"Literal[{', '.join(repr(v) for v in values)}]"
        if origin in (Union, types.UnionType):
            parts = list(dict.fromkeys(self.type(a) for a in args))
            if "None" in parts:
                parts = [*(p for p in parts if p != "None"), "None"]
            return " | ".join(parts)
        if origin is typing.Annotated:
            return self.type(args[0])
        if origin in _KEY_QUALIFIERS:
            return self.type(args[0])
        if origin in (list, dict, tuple, set, frozenset) or (origin is not None and args):
            name = _CONTAINERS.get(origin)
            if name is None:
                return "Any"
            inner = ", ".join("..." if a is Ellipsis else self.type(a) for a in args)
            return f"{name}[{inner}]" if inner else f"{name}[()]"
        return "Any"

    def record(self, cls: type[Any]) -> str:
        known = self.names.get(cls)
        if known is not None:
            return known
        if cls in self.pinned:  # it contains itself: refer to it by a quoted name
            name = self.pinned[cls] or self._fresh(_class_base(cls))
            self.pinned[cls] = name
            return f'"{name}"'
        self.pinned[cls] = None
        try:
            fields = _record_fields(cls)
        except Exception:
            fields = []
        functional = any(not _class_key(f.key) for f in fields)
        lines: list[str] = []
        for f in fields:
            shown = self.type(f.annotation)
            if not f.required:
                shown = f"NotRequired[{shown}]"
            key = json.dumps(f.key) if functional else f.key
            end = "," if functional else ""
            lines.append(f"    {key}: {shown}{end}{_comment(f.doc, f.default)}")
        shape: _Shape = (_class_doc(cls), tuple(lines), functional)
        name = self.pinned.pop(cls) or self._pick(_class_base(cls), shape)
        self.names[cls] = name
        if name not in self.texts:
            self.shapes[name] = shape
            self.texts[name] = _class_text(name, shape)
        return name

    def _pick(self, base: str, shape: _Shape) -> str:
        n = 1
        while True:
            candidate = base if n == 1 else f"{base}{n}"
            n += 1
            existing = self.shapes.get(candidate)
            if existing == shape:
                return candidate
            if existing is None and candidate not in self.reserved and candidate not in self.pinned.values():
                return candidate

    def _fresh(self, base: str) -> str:
        n = 1
        while True:
            candidate = base if n == 1 else f"{base}{n}"
            n += 1
            taken = (
                candidate in self.shapes or candidate in self.reserved or candidate in self.pinned.values()
            )
            if not taken:
                return candidate

    # -- functions

    def function(self, fn: HostFunction) -> str:
        doc = inspect.getdoc(fn.func)
        if fn.signature is None:
            return f"def {fn.name}(*args: Any, **kwargs: Any) -> Any:{_body(doc, {})}"
        params: list[str] = []
        seen_kw_only = False
        seen_default = False
        for p in fn.signature.parameters.values():
            ann = f": {self.type(p.annotation)}"
            default = _default_of(p.default)
            if p.kind is p.VAR_POSITIONAL:
                params.append(f"*{p.name}{ann}")
                seen_kw_only = True
            elif p.kind is p.VAR_KEYWORD:
                params.append(f"**{p.name}{ann}")
            else:
                if p.kind is p.KEYWORD_ONLY and not seen_kw_only:
                    params.append("*")
                    seen_kw_only = True
                shown = ""
                if default is not _NO_DEFAULT:
                    shown = f" = {_short_literal(default) or '...'}"
                elif seen_default and p.kind is not p.KEYWORD_ONLY:
                    shown = " = ..."  # a Field() without default after a default: keep the syntax valid
                if default is not _NO_DEFAULT and p.kind is not p.KEYWORD_ONLY:
                    seen_default = True
                params.append(f"{p.name}{ann}{shown}")
                if p.kind is p.POSITIONAL_ONLY and _last_positional_only(fn.signature, p):
                    params.append("/")
        ret = self.type(fn.signature.return_annotation)
        described = {n: d for n, d in fn.descriptions.items() if n in fn.signature.parameters}
        return f"def {fn.name}({', '.join(params)}) -> {ret}:{_body(doc, described)}"


def _body(doc: str | None, descriptions: Mapping[str, str]) -> str:
    text = (doc or "").strip()
    if descriptions and not _ARGS_SECTION.search(text):
        args = "\n".join(
            f"    {name}: {inspect.cleandoc(d).replace(chr(10), chr(10) + '        ')}"
            for name, d in descriptions.items()
        )
        text = f"{text}\n\nArgs:\n{args}" if text else f"Args:\n{args}"
    if not text:
        return " ..."
    return f"\n{_docstring(text)}\n    ..."


def _class_key(key: str) -> bool:
    """Whether `key` can be a field of a class-syntax TypedDict (else: functional syntax)."""
    return key.isidentifier() and not keyword.iskeyword(key) and not key.startswith("__")


def _class_base(cls: type[Any]) -> str:
    name = re.sub(r"[^0-9A-Za-z_]", "_", getattr(cls, "__name__", "") or "").lstrip("_")
    if not name:
        return "Record"
    return f"X{name}" if name[0].isdigit() else name


def _class_text(name: str, shape: _Shape) -> str:
    doc, lines, functional = shape
    if functional:
        head = "".join(f"# {line}".rstrip() + "\n" for line in (doc or "").split("\n")) if doc else ""
        body = "\n".join(lines)
        return f'{head}{name} = TypedDict("{name}", {{\n{body}\n}})'
    parts = [f"class {name}(TypedDict):"]
    if doc:
        parts.append(_docstring(doc))
    parts.extend(lines)
    if len(parts) == 1:
        parts.append("    pass")
    return "\n".join(parts)


@dataclass(frozen=True)
class HostFunction:
    """One function the sandboxed code may call, by `name`."""

    name: str
    func: Callable[..., Any]
    is_async: bool
    signature: inspect.Signature | None
    call: Callable[..., Any]
    """What the execution invokes: `func`, or `func` behind argument validation."""
    descriptions: Mapping[str, str] = field(default_factory=dict[str, str])
    """Parameter name -> description, for the stub's `Args:` section."""
    approval: ApprovalRule | None = None
    """When calls need a person's approval (`requires_approval`); None: never."""
    served_by: Callable[[], Iterable[int]] | None = None
    """The function's `SERVED_BY`: its serving threads, for colocation; None: it works
    on the thread that calls it."""

    def request(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> ApprovalRequest:
        """A call of this function as an approval predicate sees it."""
        arguments: dict[str, Any]
        try:
            if self.signature is None:
                raise TypeError("no signature")
            bound = self.signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
        except TypeError:
            arguments = {**{f"arg{i}": a for i, a in enumerate(args)}, **kwargs}
        return ApprovalRequest(self.name, tuple(args), dict(kwargs), arguments)

    def needs_approval(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
        """Whether this call must wait for a person before it runs."""
        return self.approval is not None and self.approval.needs(self.request(args, kwargs))

    def stub(self) -> str:
        """This function's stub, its classes named as if it were alone (`build_stubs`
        and `build_catalog` name them across all the functions, with their definitions)."""
        return _Stubs({self.name}).function(self)


def _last_positional_only(sig: inspect.Signature, param: inspect.Parameter) -> bool:
    params = list(sig.parameters.values())
    i = params.index(param)
    return i + 1 == len(params) or params[i + 1].kind is not inspect.Parameter.POSITIONAL_ONLY


def _resolved_signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:
        hints = {}
    params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()]
    return sig.replace(parameters=params, return_annotation=hints.get("return", sig.return_annotation))


def _descriptions(func: Callable[..., Any], sig: inspect.Signature | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if sig is not None:
        for p in sig.parameters.values():
            text = _annotated_doc(p.annotation)
            if text is None and isinstance(p.default, FieldInfo) and p.default.description:
                text = p.default.description.strip()
            if text:
                out[p.name] = text
    try:
        given = getattr(func, PARAM_DOCS, None)
    except Exception:
        given = None
    if isinstance(given, Mapping):
        for name, text in typing.cast(Mapping[Any, Any], given).items():
            if isinstance(text, str) and text.strip():
                out[str(name)] = text.strip()
    return out


def _annotated(func: Callable[..., Any], sig: inspect.Signature) -> Callable[..., Any]:
    """`func` behind a function whose `__signature__` and `__annotations__` are `sig`'s,
    for `validate_call`: which passes every default, so the wrapper drops `OMITTED`
    (the default of a schema's optional parameter): `func` gets only what was passed."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            kwargs = {k: v for k, v in kwargs.items() if v is not OMITTED}
        while args and args[-1] is OMITTED:
            args = args[:-1]
        return func(*args, **kwargs)

    annotations = {p.name: p.annotation for p in sig.parameters.values() if p.annotation is not p.empty}
    if sig.return_annotation is not sig.empty:
        annotations["return"] = sig.return_annotation
    call.__name__ = call.__qualname__ = str(getattr(func, "__name__", "call"))
    call.__signature__ = sig  # pyright: ignore[reportFunctionMemberAccess]
    call.__annotations__ = annotations
    return call


def _make(name: str, func: Callable[..., Any]) -> HostFunction:
    sig = _resolved_signature(func)
    blocking = getattr(func, BLOCKING, None)
    target: Callable[..., Any] = blocking if callable(blocking) else func
    is_async = inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(target, "__call__", None)  # noqa: B004 - async callable objects
    )
    call = target
    if sig is not None and any(_needs_validation(p.annotation) for p in sig.parameters.values()):
        omits = any(p.default is OMITTED for p in sig.parameters.values())
        try:
            call = validate_call(_annotated(target, sig) if omits or target is not func else target)
        except Exception:  # e.g. a `__signature__` without the `__annotations__` pydantic reads
            call = validate_call(_annotated(target, sig))
    descriptions = _descriptions(func, sig)
    served_by: Any = getattr(func, SERVED_BY, None)
    return HostFunction(
        name,
        func,
        is_async,
        sig,
        call,
        descriptions,
        approval_rule(func),
        typing.cast(Callable[[], Iterable[int]], served_by) if callable(served_by) else None,
    )


def is_flyte_task(obj: object) -> bool:
    """Whether `obj` is a Flyte task (`@env.task`, or any other `flyte.TaskTemplate`).
    Flyte is not imported here: when it is not loaded, nothing can be one of its tasks."""
    module = sys.modules.get("flyte._task")
    base: object = getattr(module, "TaskTemplate", None)
    return isinstance(base, type) and isinstance(obj, base)


def flyte_task_of(func: object) -> Any | None:
    """The Flyte task behind a function `register` made of one, else None."""
    return getattr(func, FLYTE_TASK, None) if callable(func) else None


def _flyte_task_function(task: Any) -> Callable[..., Any]:
    """A Flyte task as the async function the sandbox calls: named, typed and documented
    by the task's own function (`task.func`, as Flyte names a task in `tasks=`), calling
    the task through `await task.aio(...)`, as Flyte's sandbox does. Outside a Flyte run
    `aio` runs the function itself (an async one's coroutine comes back unawaited, and is
    awaited here); inside one it submits the task to Flyte's controller."""
    func = getattr(task, "func", None)
    name = getattr(func, "__name__", None)
    if not callable(func) or not isinstance(name, str) or not name.isidentifier():
        shown = getattr(task, "name", task)
        raise TypeError(f"tasks: the Flyte task {shown!r} has no function with a usable name")
    aio = task.aio

    async def run(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = await aio(*args, **kwargs)
        while inspect.iscoroutine(result):
            result = await result
        return result

    async def call(*args: Any, **kwargs: Any) -> Any:
        # In an asyncio task of its own: inside a Flyte run, `aio` sets context variables
        # and resets them after an await, which must happen in one context (a sync run
        # steps a coroutine by hand before handing it to a task; see `sandbox.eager`).
        return await asyncio.ensure_future(run(args, kwargs))

    functools.update_wrapper(call, func)  # name, docstring, signature (`__wrapped__`), attributes
    setattr(call, FLYTE_TASK, task)
    rule = approval_rule(task)  # requires_approval applied to the task object
    if rule is not None and approval_rule(call) is None:
        setattr(call, APPROVAL_ATTR, rule)
    return call


def not_tasks(value: object, what: str = "tasks must be a list of callables") -> str:
    """The message for `value` given where tasks go and refused: `what`, what it got,
    and, for a context manager (an MCP connection not entered yet), how to use it."""
    shown = type(value).__name__
    message = f"{what}, got {shown}"
    if hasattr(value, "__enter__") or hasattr(value, "__aenter__"):
        message += (
            " (a context manager: enter it first, e.g. `with connect(...) as functions:`, "
            "and pass the list it gives, `tasks=functions`)"
        )
    return message


def register(tasks: Iterable[Any] | Mapping[str, Any] | None) -> dict[str, HostFunction]:
    """Name each task by `__name__` (or by its key, for a mapping), refusing duplicates
    (`ValueError`), non-callables (`TypeError`) and names the sandbox reserves. A Flyte
    task is named by its function's name, as Flyte does, and called through its `aio`
    (see `_flyte_task_function`)."""
    if tasks is None:
        return {}
    items: list[tuple[str | None, Any]]
    if isinstance(tasks, Mapping):
        items = [(str(k), v) for k, v in typing.cast(Mapping[Any, Any], tasks).items()]
    elif isinstance(tasks, (str, bytes)) or not isinstance(tasks, Iterable):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(not_tasks(tasks))
    else:
        items = [(None, t) for t in tasks]
    out: dict[str, HostFunction] = {}
    for key, task in items:
        if is_flyte_task(task):
            task = _flyte_task_function(task)
        if not callable(task):
            raise TypeError(not_tasks(task, f"tasks: {task!r} is not callable"))
        name = key if key is not None else getattr(task, "__name__", None)
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"tasks: {task!r} has no usable __name__; pass a mapping of name -> callable")
        if name in BUILTIN_NAMES:
            raise ValueError(f"tasks: {name!r} is a sandbox builtin and cannot be registered")
        if name in SHADOWING_BUILTINS:
            raise ValueError(
                f"tasks: {name!r} is a Python builtin in the sandbox: the code's {name}(...) would call "
                f"the builtin, never this function; register it under another name, e.g. "
                f"{{{name + '_'!r}: {name}}}"
            )
        if name in out:
            raise ValueError(
                f"tasks: duplicate function name {name!r}: give one of them another name (a mapping, "
                f"{{{name + '_2'!r}: ...}}; for the tools of two MCP servers, connect(..., prefix=...))"
            )
        out[name] = _make(name, task)
    return out


def _render(functions: Mapping[str, HostFunction]) -> tuple[list[str], list[str]]:
    stubs = _Stubs(functions)
    defs = [stubs.function(f) for f in functions.values()]
    return stubs.classes(), defs


def build_stubs(functions: Mapping[str, HostFunction]) -> str:
    """Stub module the type checker reads: the builtins, the classes the functions'
    signatures use, then one `def` per function."""
    classes, defs = _render(functions)
    return "\n\n".join([_STUB_HEADER, *classes, *defs]) + "\n"


def build_catalog(functions: Mapping[str, HostFunction]) -> str:
    """The functions as the model reads them: the classes their signatures use (each
    once), then one `def` per function, with its docstring."""
    classes, defs = _render(functions)
    if classes:
        classes = [f"{_TYPES_NOTE}\n\n" + "\n\n".join(classes)]
    return "\n\n".join([*classes, *defs])
