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
from collections.abc import Callable, Iterable, Mapping
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
    cycle) is a `TypeError` naming the type, rather than a failure deep in Monty."""
    try:
        return _to_plain(value)
    except RecursionError:
        raise TypeError("value is cyclic or nested too deeply to cross into the sandbox") from None


def _to_plain(value: Any) -> Any:
    if type(value) is str:
        if not value.isascii():  # O(1): CPython keeps the flag
            _check_encodable(value)
        return value
    if value is None or isinstance(value, _LEAVES):
        return value
    if isinstance(value, BaseModel):
        return _to_plain(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        items = typing.cast(dict[Any, Any], value).items()
        return {_to_plain(k): _to_plain(v) for k, v in items}
    if isinstance(value, list):
        return [_to_plain(v) for v in typing.cast(list[Any], value)]
    if isinstance(value, tuple):
        return tuple(_to_plain(v) for v in typing.cast(tuple[Any, ...], value))
    if isinstance(value, (set, frozenset)):
        converted = (_to_plain(v) for v in typing.cast(set[Any], value))
        return frozenset(converted) if isinstance(value, frozenset) else set(converted)
    raise TypeError(
        f"a value of type {type(value).__qualname__} cannot cross into the sandbox; "
        "return plain data (dict, list, str, numbers), a pydantic model or a dataclass"
    )


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
    `cut_short` says whether Monty put it there)."""
    kind: type[Any] = type(typing.cast(object, value))
    if kind in _SCALAR_TYPES and (kind is not int or -(10**15) < value < 10**15):
        return _SMALL, False
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
    replaced by `CUT_MARKER`. Walks containers down to `depth`, without recursion;
    only called when `measure` saw the marker or could not encode the value."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if level == depth:
            if item == CUT_MARKER:
                return True
            continue
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in typing.cast(dict[Any, Any], item).values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, level + 1) for v in typing.cast(Iterable[Any], item))
    return False


def _walk_size(value: Any) -> int:
    """`io_size` the slow way, for what pydantic's encoder refuses: walks the value
    without recursion, counting each leaf (keys too) at least as long as JSON would
    and each container seen twice (a cycle) as its repr '[...]'. A str that is not valid
    UTF-8 (a lone surrogate), which no sandbox can hold, is a `ValueError`."""
    total = 0
    seen: set[int] = set()
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        kind: type[Any] = type(typing.cast(object, item))
        if kind is str:  # with quotes and escapes
            try:
                total += len(json.dumps(item, ensure_ascii=False).encode("utf-8"))
            except UnicodeEncodeError as exc:
                raise ValueError(f"a str with a lone surrogate at position {exc.start - 1}") from None
        elif kind in (bytes, bytearray):
            total += 4 * -(-len(item) // 3) + 2
        elif kind is bool or item is None:
            total += 5
        elif kind is float:  # JSON spells inf as Infinity
            total += len(repr(item)) + 5
        elif kind is int:
            total += typing.cast(int, item).bit_length() * 31 // 100 + 2  # digits, rounded up
        elif isinstance(item, (dict, list, tuple, set, frozenset)):
            if id(typing.cast(object, item)) in seen:
                total += 5
                continue
            seen.add(id(typing.cast(object, item)))
            if isinstance(item, dict):
                pairs = typing.cast(dict[Any, Any], item)
                children = [*pairs.keys(), *pairs.values()]
                total += 3 * len(pairs)  # a key's quotes and the colon
            else:
                children = list(typing.cast(Iterable[Any], item))
            total += 2 + len(children)
            stack.extend(children)
        else:
            total += len(repr(item))
    return total


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
