"""Which Python types may cross the sandbox boundary, and the checks on values that do.

Values cross as plain data: scalars, bytes, None, dates, datetimes (timezone-aware
ones too), times, timedeltas, Decimals and the builtin containers, which Monty holds
as they are. Pydantic models, dataclasses and TypedDicts are accepted as declared
types: they enter the sandbox as dicts and are validated back into their class on
the way out. Validation is pydantic's; the TypeAdapters are built once per template.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from agent_tools.base.errors import InputValidationError, OutputValidationError, short_repr
from agent_tools.boundary.measure import io_size, preview
from agent_tools.boundary.plain import (
    DEFAULT_MAX_INLINE_IO_BYTES,
    EMPTY,
    check_supported_type,
    is_plain,
    to_plain,
    type_adapter,
    type_name,
)

__all__ = [
    "DEFAULT_MAX_INLINE_IO_BYTES",
    "NativeInterface",
    "check_supported_type",
    "io_size",
    "preview",
    "to_plain",
    "type_name",
]


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
        self._adapters = {name: type_adapter(tp, f"input {name!r}") for name, (tp, _) in self.inputs.items()}
        out = self.output_type
        self._output_adapter = None if out is type(None) else type_adapter(out, "output")
        # Inputs of scalar and container types need no conversion after validation.
        self._plain_inputs = all(is_plain(tp) for tp, _ in self.inputs.values())
        # One validator for all inputs at once, for the common call (every input by
        # name, no defaults); the per-input path below explains any failure.
        self._all_inputs = None
        if all(default is EMPTY for _, default in self.inputs.values()):
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
        return cls(inputs={k: (tp, EMPTY) for k, tp in inputs.items()}, outputs=outputs)

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
        required = [n for n, (_, default) in self.inputs.items() if default is EMPTY]
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
                if default is EMPTY:
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
