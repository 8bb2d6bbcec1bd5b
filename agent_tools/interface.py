"""Which Python types may cross the sandbox boundary, and the checks on values that do.

Values cross as plain data: scalars, bytes, None and the builtin containers.
Pydantic models, dataclasses and TypedDicts are accepted as declared types: they
enter the sandbox as dicts and are validated back into their class on the way
out. Validation is pydantic's; the TypeAdapters are built once per template.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import inspect
import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sized
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

import pydantic_core
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from typing_extensions import TypedDict, is_typeddict

from .errors import InputValidationError, OutputValidationError, short_repr

__all__ = [
    "DEFAULT_MAX_INLINE_IO_BYTES",
    "NativeInterface",
    "check_supported_type",
    "io_size",
    "preview",
    "to_plain",
    "type_name",
]

DEFAULT_MAX_INLINE_IO_BYTES = 10 * 1024 * 1024
"""Flyte's default cap on the inputs plus output passed inline to a task."""

_SCALARS: frozenset[Any] = frozenset({int, float, str, bool, bytes, type(None), None, Any})
_CONTAINERS: frozenset[Any] = frozenset({list, dict, tuple, set, frozenset})
_EMPTY = inspect.Parameter.empty


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
        "list/dict/tuple/set/frozenset (bare or parameterised), Optional/Union of those, Any, "
        "Literal, pydantic models, dataclasses and TypedDicts."
    )


def check_supported_type(tp: Any, where: str) -> None:
    """Raise `TypeError` naming `where` if `tp` cannot cross the boundary."""
    if tp in _SCALARS or tp in _CONTAINERS:
        return
    origin = get_origin(tp)
    if origin is Literal:
        return
    if origin in _CONTAINERS or origin in (Union, types.UnionType):
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


def _adapter(tp: Any, where: str) -> TypeAdapter[Any]:
    try:
        return TypeAdapter(tp)
    except Exception as exc:  # pydantic refuses some types (typing.TypedDict on 3.11, ...)
        raise TypeError(f"{where}: unsupported type {type_name(tp)}: {exc}") from exc


_LEAVES = (bool, int, float, str, bytes, datetime.date, datetime.time, datetime.timedelta, decimal.Decimal)


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


_SMALL = 24
"""An upper bound on the JSON size of None, a bool, a float or an int below 1e15."""


_SCALAR_TYPES = (type(None), bool, int, float)


def io_size(value: Any) -> int:
    """Bytes `value` takes as JSON (bytes as base64), the measure `max_inline_io_bytes`
    caps. A small scalar skips the encoder; anything else is encoded (pydantic-core's
    encoder measures a small dict faster than a Python loop over it could)."""
    return measure(value)[0]


def measure(value: Any) -> tuple[int, bool]:
    """`io_size(value)`, and whether `CUT_MARKER` may occur in the value (then
    `cut_short` says whether Monty put it there).

    A value whose containers are shared (`a = [a, a]` thirty times: a few KB in the
    sandbox, 2**30 leaves once expanded) is measured by a memoised walk over its
    distinct containers, never expanded: JSON-encoding it would allocate the whole
    expansion first. The size is then that of the expansion, which is what crossing
    the boundary as data would cost."""
    kind: type[Any] = type(typing.cast(object, value))
    if kind in _SCALAR_TYPES and (kind is not int or -(10**15) < value < 10**15):
        return _SMALL, False
    if kind in _WALKED and _shares(value):
        return _walk_size(value), True
    try:
        data = pydantic_core.to_json(value, bytes_mode="base64", fallback=repr)
    except (ValueError, RecursionError):  # nested past its depth, a frozenset key, a lone surrogate
        return _walk_size(value), True  # maybe deep: let cut_short look
    # `int in bytes` is a memchr; `bytes in bytes` costs several times more, so look
    # for the marker only where a '<' appears at all.
    return len(data), _LT in data and _CUT_JSON in data


CUT_MARKER = "<deeply nested>"
"""What Monty 1.4 puts, silently, in place of the part of a value it hands back that is
nested deeper than the session's `max_recursion_depth` (our `max_stack_depth`)."""
_CUT_JSON = b'"<deeply nested>"'
_LT = ord("<")


def cut_short(value: Any, depth: int) -> bool:
    """Whether `value`, handed back by Monty, had its part nested `depth` levels deep
    replaced by `CUT_MARKER`. Walks containers down to `depth`, without recursion,
    each (container, level) once; only called when `measure` saw the marker or could
    not encode the value."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen: set[tuple[int, int]] = set()
    while stack:
        item, level = stack.pop()
        if level == depth:
            if item == CUT_MARKER:
                return True
            continue
        if isinstance(item, (dict, list, tuple)):
            key = (id(typing.cast(object, item)), level)
            if key in seen:
                continue
            seen.add(key)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in typing.cast(dict[Any, Any], item).values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, level + 1) for v in typing.cast(Iterable[Any], item))
    return False


_WALKED = frozenset({dict, list, tuple, set, frozenset})


def _children(item: Any) -> Iterable[Any]:
    if type(item) is dict or isinstance(item, dict):
        pairs = typing.cast(dict[Any, Any], item)
        return [*pairs.keys(), *pairs.values()]
    return typing.cast(Iterable[Any], item)


def _shares(value: Any) -> bool:
    """Whether a container occurs twice in `value` (shared, or a cycle). Visits each
    container once and looks at no leaf twice."""
    seen: set[int] = set()
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        ident = id(typing.cast(object, item))
        if ident in seen:
            return True
        seen.add(ident)
        stack.extend(c for c in _children(item) if type(typing.cast(object, c)) in _WALKED)
    return False


def _leaf_size(item: Any) -> int:
    """At least the bytes a non-container takes as JSON. A str that is not valid UTF-8
    (a lone surrogate), which no sandbox can hold, is a `ValueError`."""
    kind: type[Any] = type(typing.cast(object, item))
    if kind is str:  # with quotes and escapes
        try:
            return len(json.dumps(item, ensure_ascii=False).encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise ValueError(f"a str with a lone surrogate at position {exc.start - 1}") from None
    if kind in (bytes, bytearray):
        return 4 * -(-len(item) // 3) + 2
    if kind is bool or item is None:
        return 5
    if kind is float:  # JSON spells inf as Infinity
        return len(repr(item)) + 5
    if kind is int:
        return typing.cast(int, item).bit_length() * 31 // 100 + 2  # digits, rounded up
    return len(repr(item))


def _walk_size(value: Any) -> int:
    """`io_size` the slow way, for what pydantic's encoder refuses or must not expand:
    computes each distinct container's size once (post-order, without recursion) and
    adds it wherever the container occurs, so a shared structure costs its distinct
    containers, not its expansion. A container met again inside itself (a cycle)
    counts as its repr '[...]'."""
    if not isinstance(value, (dict, list, tuple, set, frozenset)):
        return _leaf_size(value)
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, done = stack.pop()
        ident = id(typing.cast(object, item))
        if done:
            children = list(_children(item))
            total = (
                2
                + len(children)
                + (3 * len(typing.cast(dict[Any, Any], item)) if isinstance(item, dict) else 0)
            )
            for child in children:
                if type(typing.cast(object, child)) in _WALKED:
                    total += sizes.get(id(typing.cast(object, child)), 5)  # 5: a cycle's '[...]'
                else:
                    total += _leaf_size(child)
            sizes[ident] = total
            open_.discard(ident)
            continue
        if ident in sizes or ident in open_:
            continue
        open_.add(ident)
        stack.append((item, True))
        stack.extend((c, False) for c in _children(item) if type(typing.cast(object, c)) in _WALKED)
    return sizes[id(typing.cast(object, value))]


_CUT_NOTE = "... [{} more {}]"


def preview(value: Any, budget: int, redact: Callable[[str], str] | None = None) -> Any:
    """`value` itself if it takes at most about `budget` bytes (strings by length,
    every other leaf and every container a few bytes each, shared parts once per
    occurrence); otherwise a copy cut to that size: long strings and bytes keep their
    start and say how much was cut, containers keep their first items and say how
    many more there were. What the run record keeps of a host call's values: the
    code may pass the same 5 MB string to a thousand calls. The walk stops at the
    budget, so it costs O(budget) whatever the value's size. With `redact`, a string
    is redacted before it is cut, so no cut can keep the start of a secret."""
    if type(typing.cast(object, value)) in _SCALAR_TYPES:
        return value
    if _fits(value, budget):
        return value
    return _cut(value, [budget], redact, 0)


def _fits(value: Any, budget: int) -> bool:
    room = budget
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            room -= len(item) + 2
        elif isinstance(item, (dict, list, tuple, set, frozenset)):
            room -= 2 + len(typing.cast(Sized, item))
            if room >= 0:
                stack.extend(_children(item))
        else:
            room -= 8
        if room < 0:
            return False
    return True


def _cut(value: Any, room: list[int], redact: Callable[[str], str] | None, depth: int) -> Any:
    """`value` cut to the budget left in `room[0]` (shared and spent as the walk goes)."""
    if isinstance(value, str):
        text = redact(value) if redact is not None else value
        keep = max(0, min(len(text), room[0] - 2))
        room[0] -= keep + 2
        return text if keep == len(text) else text[:keep] + _CUT_NOTE.format(len(text) - keep, "chars")
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        keep = max(0, min(len(data), room[0] - 2))
        room[0] -= keep + 2
        return (
            data if keep == len(data) else data[:keep] + _CUT_NOTE.format(len(data) - keep, "bytes").encode()
        )
    if not isinstance(value, (dict, list, tuple, set, frozenset)):
        room[0] -= 8
        return value
    if depth >= 32:
        room[0] -= 8
        return f"[{type(typing.cast(object, value)).__name__} nested too deep to record]"
    room[0] -= 2
    if isinstance(value, dict):
        pairs = typing.cast(dict[Any, Any], value)
        out: dict[Any, Any] = {}
        for count, (key, item) in enumerate(pairs.items()):
            if room[0] <= 0:
                out["..."] = _CUT_NOTE.format(len(pairs) - count, "items")[4:]
                break
            room[0] -= 1
            out[key if not isinstance(key, str) else _cut(key, room, redact, depth + 1)] = _cut(
                item, room, redact, depth + 1
            )
        return out
    items = (
        list(typing.cast(Iterable[Any], value))
        if not isinstance(value, list)
        else typing.cast(list[Any], value)
    )
    kept: list[Any] = []
    for count, item in enumerate(items):
        if room[0] <= 0:
            kept.append(_CUT_NOTE.format(len(items) - count, "items"))
            break
        room[0] -= 1
        kept.append(_cut(item, room, redact, depth + 1))
    if isinstance(value, list):
        return kept
    if isinstance(value, tuple):
        return tuple(kept)
    try:
        return frozenset(kept) if isinstance(value, frozenset) else set(kept)
    except TypeError:  # a cut item that no longer hashes
        return kept


def _problem(loc: tuple[int | str, ...], prefix: str, err_msg: str, value: Any) -> str:
    path = prefix + "".join(f"[{p!r}]" for p in loc)
    return f"{path}: {err_msg} (got {short_repr(value, 80)})"


def _validation_problems(prefix: str, exc: ValidationError) -> list[str]:
    return [_problem(tuple(e["loc"]), prefix, e["msg"], e.get("input")) for e in exc.errors()]


@dataclass
class NativeInterface:
    """The typed signature of a template: named inputs (type, default) and outputs.

    Shaped like Flyte's `NativeInterface`: `inputs` maps a name to `(type, default)`
    (`inspect.Parameter.empty` for none) and `outputs` maps `"o0"` to the output
    type, or is empty for a task that returns None.
    """

    inputs: dict[str, tuple[Any, Any]]
    outputs: dict[str, Any] = field(default_factory=lambda: {})
    _adapters: dict[str, TypeAdapter[Any]] = field(init=False, repr=False, compare=False)
    _output_adapter: TypeAdapter[Any] | None = field(init=False, repr=False, compare=False)
    _plain_inputs: bool = field(init=False, repr=False, compare=False)
    _all_inputs: TypeAdapter[Any] | None = field(init=False, repr=False, compare=False)
    _validate_all: Callable[..., Any] | None = field(init=False, repr=False, compare=False)
    """`_all_inputs`' core validator, called directly on every run (TypeAdapter's own
    method adds a layer that costs as much as validating two ints)."""
    _validate_output: Callable[..., Any] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, (tp, _default) in self.inputs.items():
            if not name.isidentifier():
                raise ValueError(f"input name {name!r} is not a Python identifier")
            check_supported_type(tp, f"input {name!r}")
        for name, tp in self.outputs.items():
            check_supported_type(tp, f"output {name!r}")
        if len(self.outputs) > 1:
            raise ValueError("a code task has at most one output")
        self._adapters = {name: _adapter(tp, f"input {name!r}") for name, (tp, _) in self.inputs.items()}
        out = self.output_type
        self._output_adapter = None if out is type(None) else _adapter(out, "output")
        # Inputs of scalar and container types need no conversion after validation.
        self._plain_inputs = all(_is_plain(tp) for tp, _ in self.inputs.values())
        # One validator for all inputs at once, for the common call (every input by
        # name, no defaults); the per-input path below explains any failure.
        self._all_inputs = None
        if all(default is _EMPTY for _, default in self.inputs.values()):
            fields = {name: tp for name, (tp, _) in self.inputs.items()}
            schema = TypedDict("Inputs", fields)  # type: ignore[misc]
            schema.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
            self._all_inputs = TypeAdapter(schema)
        self._validate_all = None if self._all_inputs is None else self._all_inputs.validator.validate_python
        adapter = self._output_adapter
        self._validate_output = None if adapter is None else adapter.validator.validate_python

    @classmethod
    def from_types(cls, inputs: Mapping[str, Any], output: Any = type(None)) -> NativeInterface:
        if not isinstance(inputs, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"inputs must be a dict of name -> type, got {type(inputs).__name__}")
        outputs = {} if output is type(None) or output is None else {"o0": output}
        return cls(inputs={k: (tp, _EMPTY) for k, tp in inputs.items()}, outputs=outputs)

    @property
    def input_names(self) -> list[str]:
        return list(self.inputs)

    @property
    def output_type(self) -> Any:
        return next(iter(self.outputs.values()), type(None))

    def json_schema(self) -> dict[str, Any]:
        """`{"type": "object", "properties": {...}, "required": [...]}` for the inputs."""
        properties: dict[str, Any] = {}
        defs: dict[str, Any] = {}
        for name, adapter in self._adapters.items():
            schema = adapter.json_schema(ref_template="#/$defs/{model}")
            defs.update(schema.pop("$defs", {}))
            properties[name] = schema
        required = [n for n, (_, default) in self.inputs.items() if default is _EMPTY]
        out: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
        if defs:
            out["$defs"] = defs
        return out

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Map positional arguments to inputs in declared order and merge keywords;
        report missing, unknown and duplicated inputs all at once."""
        if not args and kwargs.keys() == self.inputs.keys():
            return dict(kwargs)  # the common case: every input given by name
        names = self.input_names
        problems: list[str] = []
        if len(args) > len(names):
            problems.append(f"{len(args)} positional values given, but only {len(names)} inputs declared")
        values = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key in values:
                problems.append(f"input {key!r} given both by position and by name")
            values[key] = value
        for key in values:
            if key not in self.inputs:
                problems.append(f"unknown input {key!r} (declared: {', '.join(names) or 'none'})")
        for name, (tp, default) in self.inputs.items():
            if name not in values:
                if default is _EMPTY:
                    problems.append(f"missing input {name!r} of type {type_name(tp)}")
                else:
                    values[name] = default
        if problems:
            raise InputValidationError(_summary(problems), problems=problems)
        return values

    def prepare_inputs(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Bind and validate the inputs of one call; the plain data the sandbox gets."""
        if not args and self._validate_all is not None:
            try:
                validated: dict[str, Any] = self._validate_all(kwargs, strict=True)
            except ValidationError:
                pass  # the detailed path names every problem
            else:
                if self._plain_inputs:
                    return validated
                return self.validate_inputs(validated)  # converts, naming a value that cannot cross
        return self.validate_inputs(self.bind(args, kwargs))

    def validate_inputs(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Validate each bound input against its type (pydantic strict mode) and
        return the plain data the sandbox receives."""
        problems: list[str] = []
        plain: dict[str, Any] = {}
        for name, value in values.items():
            try:
                validated = self._adapters[name].validate_python(value, strict=True)
            except ValidationError as exc:
                tp = type_name(self.inputs[name][0])
                problems += [f"{p} (expected {tp})" for p in _validation_problems(f"input {name!r}", exc)]
                continue
            if self._plain_inputs:
                plain[name] = validated
                continue
            try:
                plain[name] = to_plain(validated)
            except TypeError as exc:
                problems.append(f"input {name!r}: {exc}")
        if problems:
            raise InputValidationError(_summary(problems), problems=problems)
        return plain

    def validate_output(self, value: Any) -> Any:
        """Validate the sandbox's result against the output type (lax mode: the value
        comes back as plain data, so a model arrives as a dict)."""
        validate = self._validate_output
        if validate is None:
            if value is not None:
                raise OutputValidationError(
                    f"the code returned {short_repr(value)}, but the task declares no output "
                    "(output=None); declare output=<type> or end the code with a statement"
                )
            return None
        try:
            return validate(value)
        except ValidationError as exc:
            problems = _validation_problems("result", exc)
            raise OutputValidationError(
                f"the result does not match the output type {type_name(self.output_type)}: "
                + "; ".join(problems)
            ) from exc


def _summary(problems: list[str]) -> str:
    return f"{len(problems)} problem{'s' if len(problems) != 1 else ''} with the inputs"


def _is_plain(tp: Any) -> bool:
    if tp in _SCALARS or tp in _CONTAINERS:
        return tp is not Any
    origin = get_origin(tp)
    if origin is Literal:
        return True
    if origin in _CONTAINERS or origin in (Union, types.UnionType):
        return all(a is Ellipsis or _is_plain(a) for a in get_args(tp))
    return False
