"""Registered functions: naming, signatures, and the stubs the type checker reads.

A registered function is called from the sandbox with plain data. When its
parameters are annotated with pydantic models, dataclasses or TypedDicts, the
arguments are validated into those types (pydantic's `validate_call`) before the
function runs, so the host code receives what its signature promises.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, validate_call
from typing_extensions import is_typeddict

from agent_tools.sandbox.source import GATHER_BUILTIN

__all__ = ["BUILTIN_NAMES", "HostFunction", "build_stubs", "is_record_class", "register"]

PARALLEL_MAP = "parallel_map"
FLYTE_MAP = "flyte_map"
BUILTIN_NAMES = frozenset({PARALLEL_MAP, FLYTE_MAP, GATHER_BUILTIN})

_STUB_HEADER = """\
from typing import Any, Callable, Literal, Optional, Union

def parallel_map(fn: Callable[..., Any] | str, *iterables: Any, concurrency: int = 8) -> list[Any]:
    \"\"\"Call a registered function once per item (zip of the iterables), concurrently on the host.\"\"\"
    ...

def flyte_map(fn: Callable[..., Any] | str, *iterables: Any, concurrency: int = 8) -> list[Any]: ...

def asyncio_gather(*values: Any) -> list[Any]: ...
"""


def is_record_class(tp: Any) -> bool:
    """A pydantic model, dataclass or TypedDict class: a dict in the sandbox."""
    if not isinstance(tp, type):
        return False
    cls = typing.cast(type[Any], tp)
    return issubclass(cls, BaseModel) or dataclasses.is_dataclass(cls) or is_typeddict(cls)


def _needs_validation(tp: Any) -> bool:
    if is_record_class(tp):
        return True
    return any(_needs_validation(a) for a in get_args(tp))


def _stub_type(tp: Any) -> str:
    """How the sandbox sees a host type: models and the like are dicts."""
    if tp is inspect.Parameter.empty or tp is Any:
        return "Any"
    if tp is None or tp is type(None):
        return "None"
    if tp in (int, float, str, bool, bytes, list, dict, tuple, set, frozenset):
        return typing.cast(type, tp).__name__
    if is_record_class(tp):
        return "dict[str, Any]"
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin in (Union, types.UnionType):
        return " | ".join(_stub_type(a) for a in args)
    if origin is typing.Annotated:
        return _stub_type(args[0])
    if origin in (list, dict, tuple, set, frozenset) or (origin is not None and args):
        name = {list: "list", dict: "dict", tuple: "tuple", set: "set", frozenset: "frozenset"}.get(origin)
        if name is None:
            return "Any"
        inner = ", ".join("..." if a is Ellipsis else _stub_type(a) for a in args)
        return f"{name}[{inner}]"
    return "Any"


@dataclass(frozen=True)
class HostFunction:
    """One function the sandboxed code may call, by `name`."""

    name: str
    func: Callable[..., Any]
    is_async: bool
    signature: inspect.Signature | None
    call: Callable[..., Any]
    """What the execution invokes: `func`, or `func` behind argument validation."""

    def stub(self) -> str:
        doc = inspect.getdoc(self.func)
        body = f'\n    """{doc.strip()}"""\n    ...' if doc and '"""' not in doc else " ..."
        if self.signature is None:
            return f"def {self.name}(*args: Any, **kwargs: Any) -> Any:{body}"
        params: list[str] = []
        seen_kw_only = False
        for p in self.signature.parameters.values():
            ann = f": {_stub_type(p.annotation)}"
            default = " = ..." if p.default is not inspect.Parameter.empty else ""
            if p.kind is p.VAR_POSITIONAL:
                params.append(f"*{p.name}{ann}")
                seen_kw_only = True
            elif p.kind is p.VAR_KEYWORD:
                params.append(f"**{p.name}{ann}")
            else:
                if p.kind is p.KEYWORD_ONLY and not seen_kw_only:
                    params.append("*")
                    seen_kw_only = True
                params.append(f"{p.name}{ann}{default}")
                if p.kind is p.POSITIONAL_ONLY and _last_positional_only(self.signature, p):
                    params.append("/")
        ret = _stub_type(self.signature.return_annotation)
        return f"def {self.name}({', '.join(params)}) -> {ret}:{body}"


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


def _make(name: str, func: Callable[..., Any]) -> HostFunction:
    sig = _resolved_signature(func)
    is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - async callable objects
    )
    call = func
    if sig is not None and any(_needs_validation(p.annotation) for p in sig.parameters.values()):
        call = validate_call(func)
    return HostFunction(name=name, func=func, is_async=is_async, signature=sig, call=call)


def register(tasks: Iterable[Any] | Mapping[str, Any] | None) -> dict[str, HostFunction]:
    """Name each task by `__name__` (or by its key, for a mapping), refusing duplicates
    (`ValueError`), non-callables (`TypeError`) and names the sandbox reserves."""
    if tasks is None:
        return {}
    items: list[tuple[str | None, Any]]
    if isinstance(tasks, Mapping):
        items = [(str(k), v) for k, v in typing.cast(Mapping[Any, Any], tasks).items()]
    elif isinstance(tasks, (str, bytes)) or not isinstance(tasks, Iterable):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"tasks must be a list of callables, got {type(tasks).__name__}")
    else:
        items = [(None, t) for t in tasks]
    out: dict[str, HostFunction] = {}
    for key, task in items:
        if not callable(task):
            raise TypeError(f"tasks: {task!r} ({type(task).__name__}) is not callable")
        name = key if key is not None else getattr(task, "__name__", None)
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"tasks: {task!r} has no usable __name__; pass a mapping of name -> callable")
        if name in BUILTIN_NAMES:
            raise ValueError(f"tasks: {name!r} is a sandbox builtin and cannot be registered")
        if name in out:
            raise ValueError(f"tasks: duplicate function name {name!r}")
        out[name] = _make(name, task)
    return out


def build_stubs(functions: Mapping[str, HostFunction]) -> str:
    """Stub module the type checker reads: the builtins plus one `def` per function."""
    return "\n\n".join([_STUB_HEADER, *(f.stub() for f in functions.values())]) + "\n"
