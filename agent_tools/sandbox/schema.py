"""JSON Schema to Python types and a signature: how a tool described by a schema (an
MCP tool, a pydantic-ai toolset's tool) becomes a function the sandboxed code calls.

`signature_from_schema` turns a tool's input schema into an `inspect.Signature` whose
annotations are real Python types, so the stubs (`sandbox.functions`), the pre-flight
check and pydantic's validation read a schema-built function as they read a Python
one:

- an object with properties is a `TypedDict` (made with `typing_extensions.TypedDict`),
  named after the tool and the field (`get_weather`'s `location` is
  `GetWeatherLocation`; a `$defs` entry keeps its own name), its optional properties
  `NotRequired[...]`, its property descriptions and defaults kept for the stub's
  comments (`FIELD_DOCS`, `FIELD_DEFAULTS`);
- an object without properties is `dict[str, Any]` (`dict[str, T]` for
  `additionalProperties: {schema}`); an array is `list[T]`; `enum`/`const` is
  `Literal[...]`; `anyOf`/`oneOf`, a list of types and `nullable` are unions; `$ref`
  is resolved within the schema (a recursive reference is `dict[str, Any]`);
- anything else, malformed or not understood, is `Any`: a schema a server sends
  never makes this raise.

Parameters: the required properties first (in the schema's order), then the optional
ones, each with its schema `default`, or `OMITTED` when the schema gives none. All are
positional-or-keyword. A property whose name is not a Python name (`first-name`,
`class`) gets one (`python_name`: `first_name`, `class_`); `SchemaSignature.properties`
maps every parameter back to its property (so does `signature.properties`), and
`SchemaSignature.arguments(...)` does the binding, the mapping back and the dropping
of `OMITTED` in one step. A registered function never receives `OMITTED` from the
sandbox: the code cannot name it, and where pydantic validates the arguments (a
TypedDict parameter) and passes every default along, `sandbox.functions` drops it.
"""

from __future__ import annotations

import copy
import inspect
import keyword
import re
import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NotRequired, Union

from typing_extensions import TypedDict

__all__ = [
    "FIELD_DEFAULTS",
    "FIELD_DOCS",
    "OMITTED",
    "PARAM_DOCS",
    "SchemaSignature",
    "python_name",
    "signature_from_schema",
]

PARAM_DOCS: Final = "__agent_tools_param_docs__"
"""A callable's attribute: its parameters' descriptions, `{parameter name: text}`."""
FIELD_DOCS: Final = "__agent_tools_field_docs__"
"""A TypedDict class's attribute: its keys' descriptions, `{key: text}`."""
FIELD_DEFAULTS: Final = "__agent_tools_field_defaults__"
"""A TypedDict class's attribute: its keys' schema defaults, `{key: value}`."""

_POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
_MAX_DEPTH = 32
"""Deeper schemas are `Any` below this depth."""


class _Omitted:
    """The default of an optional parameter whose schema gives no default: the argument
    was not passed, so the tool gets no such property. Never send it to a tool."""

    _instance: _Omitted | None = None

    def __new__(cls) -> _Omitted:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "OMITTED"

    def __reduce__(self) -> str:
        return "OMITTED"

    def __copy__(self) -> _Omitted:
        return self

    def __deepcopy__(self, memo: Any) -> _Omitted:
        return self


OMITTED: Final = _Omitted()
"""The default of an optional parameter the schema gives no default for (see `_Omitted`)."""


@dataclass(frozen=True)
class SchemaSignature:
    """A tool's signature built from its JSON schemas."""

    signature: inspect.Signature
    """Positional-or-keyword parameters: required ones first (schema order), then the
    optional ones with their schema default or `OMITTED`. Annotations are real types;
    the return annotation comes from the output schema (a TypedDict for an object) or
    is `Any`. Its `properties` attribute is `SchemaSignature.properties`."""
    descriptions: dict[str, str]
    """Parameter name -> the property's description (only those that have one)."""
    properties: dict[str, str] = field(default_factory=dict[str, str])
    """Parameter name -> schema property name, for every parameter (they differ where
    the property is not a Python name: `first-name` is the parameter `first_name`)."""

    def arguments(self, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The tool's arguments for a call `f(*args, **kwargs)`: bound to the signature
        (`TypeError` when they do not fit), keyed by property name, without the
        arguments left `OMITTED`."""
        bound = self.signature.bind(*args, **kwargs)
        return {self.properties.get(k, k): v for k, v in bound.arguments.items() if v is not OMITTED}


class _Signature(inspect.Signature):
    """An `inspect.Signature` that also carries the parameter -> property mapping (a
    copy made by `replace()` has an empty one)."""

    properties: Mapping[str, str] = types.MappingProxyType({})


def python_name(name: str, taken: set[str], reserved: Collection[str] = ()) -> str:
    """A Python name for `name` that is not in `taken` (and add it to `taken`).

    A valid identifier stays as it is, but for leading underscores (Monty's type checker
    skips such names in stubs); other characters than ASCII letters, digits and `_`
    become `_` (`get-weather` -> `get_weather`, `ns.tool` -> `ns_tool`); a leading
    digit gets `x_` before it, a keyword or a `reserved` name `_` after it (`class` ->
    `class_`; a tool's name with `functions.TAKEN_NAMES`: `round` -> `round_`); a taken
    name gets `_2`, `_3`, ... (`get_weather` twice -> `get_weather_2`)."""
    text = str(name)
    if not (text.isidentifier() and text.isascii()):
        text = re.sub(r"[^0-9A-Za-z_]+", "_", text)
    text = text.lstrip("_")
    if not text:
        text = "x"
    elif text[0].isdigit():
        text = f"x_{text}"
    if keyword.iskeyword(text) or text in reserved:
        text += "_"
    out, n = text, 2
    while out in taken:
        out = f"{text}_{n}"
        n += 1
    taken.add(out)
    return out


def _pascal(text: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", str(text)) if p]
    out = "".join(p[:1].upper() + p[1:] for p in parts)
    if not out:
        return "Field"
    return f"X{out}" if out[0].isdigit() else out


def _description(schema: Any) -> str | None:
    if isinstance(schema, Mapping):
        text = typing.cast(Mapping[str, Any], schema).get("description")
        if isinstance(text, str) and text.strip():
            return text.strip()
    return None


def _union(types: list[Any]) -> Any:
    unique: list[Any] = []
    for tp in types:
        if tp is Any:
            return Any
        if tp not in unique:
            unique.append(tp)
    if not unique:
        return Any
    if len(unique) == 1:
        return unique[0]
    return Union[tuple(unique)]  # noqa: UP007 - built at run time from a list


_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "null": type(None),
}


def _literal(values: list[Any]) -> Any:
    """`Literal[...]` of enum values that a Literal can hold (str, int, bool, None);
    other values (floats, objects) make the union of their JSON types."""
    if not values:
        return Any
    if all(v is None or isinstance(v, (str, int)) for v in values):
        plain = [v for v in values if v is not None]
        parts: list[Any] = [Literal[tuple(plain)]] if plain else []  # pyright: ignore[reportInvalidTypeArguments]
        if len(plain) != len(values):
            parts.append(type(None))
        return _union(parts)
    kinds: list[Any] = []
    for v in values:
        if v is None:
            kinds.append(type(None))
        elif isinstance(v, (bool, int, float, str)):
            kinds.append(type(v))
        elif isinstance(v, list):
            kinds.append(list[Any])
        elif isinstance(v, dict):
            kinds.append(dict[str, Any])
        else:
            return Any
    return _union(kinds)


class _Converter:
    """One schema's types: `$ref`s resolved against `root`, class names unique."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.class_names: set[str] = set()
        self.refs: dict[str, Any] = {}
        self.resolving: set[str] = set()

    def type(self, schema: Any, name: str, depth: int = 0) -> Any:
        """The Python type for `schema`; `name` names a TypedDict it makes."""
        if depth > _MAX_DEPTH or not isinstance(schema, Mapping):
            return Any
        try:
            return self._type(typing.cast(Mapping[str, Any], schema), name, depth)
        except Exception:  # a schema nothing here foresaw: no type rather than no tool
            return Any

    def _type(self, schema: Mapping[str, Any], name: str, depth: int) -> Any:
        tp = self._core(schema, name, depth)
        if schema.get("nullable") is True:
            tp = _union([tp, type(None)])
        return tp

    def _core(self, schema: Mapping[str, Any], name: str, depth: int) -> Any:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self._ref(ref, depth)
        if "const" in schema:
            return _literal([schema["const"]])
        enum = schema.get("enum")
        if isinstance(enum, list):
            return _literal(list(typing.cast(list[Any], enum)))
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return self._options(typing.cast(list[Any], options), name, depth)
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and all_of:
            return self._all_of(schema, typing.cast(list[Any], all_of), name, depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in typing.cast(list[Any], kind) if isinstance(k, str)]
            return _union([self._of_type(schema, k, name, depth) for k in kinds])
        if isinstance(kind, str):
            return self._of_type(schema, kind, name, depth)
        if isinstance(schema.get("properties"), Mapping) or "additionalProperties" in schema:
            return self._of_type(schema, "object", name, depth)
        if "items" in schema:
            return self._of_type(schema, "array", name, depth)
        return Any

    def _of_type(self, schema: Mapping[str, Any], kind: str, name: str, depth: int) -> Any:
        simple = _JSON_TYPES.get(kind)
        if simple is not None:
            return simple
        if kind == "array":
            items = schema.get("items")
            if isinstance(items, Mapping):
                return list[self.type(items, f"{name}Item", depth + 1)]
            return list[Any]
        if kind == "object":
            return self._object(schema, name, depth)
        return Any

    def _object(self, schema: Mapping[str, Any], name: str, depth: int) -> Any:
        properties = schema.get("properties")
        if isinstance(properties, Mapping) and properties:
            return self._typed_dict(schema, typing.cast(Mapping[Any, Any], properties), name, depth)
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping) and extra:
            return dict[str, self.type(extra, f"{name}Value", depth + 1)]
        return dict[str, Any]

    def _typed_dict(
        self, schema: Mapping[str, Any], properties: Mapping[Any, Any], name: str, depth: int
    ) -> Any:
        required = _required(schema)
        fields: dict[str, Any] = {}
        docs: dict[str, str] = {}
        defaults: dict[str, Any] = {}
        for key, sub in properties.items():
            if not isinstance(key, str):
                continue
            tp = self.type(sub, f"{name}{_pascal(key)}", depth + 1)
            fields[key] = tp if key in required else NotRequired[tp]
            text = _description(sub)
            if text:
                docs[key] = text
            if isinstance(sub, Mapping) and "default" in sub:
                defaults[key] = typing.cast(Mapping[str, Any], sub)["default"]
        cls: Any = TypedDict(self._class_name(name), fields)  # pyright: ignore[reportArgumentType]
        cls.__doc__ = _description(schema)
        setattr(cls, FIELD_DOCS, docs)
        setattr(cls, FIELD_DEFAULTS, defaults)
        return cls

    def _class_name(self, name: str) -> str:
        base = _pascal(name)
        out, n = base, 2
        while out in self.class_names:
            out = f"{base}{n}"
            n += 1
        self.class_names.add(out)
        return out

    def _options(self, options: list[Any], name: str, depth: int) -> Any:
        objects = sum(1 for o in options if _is_object(self._deref(o)))
        types: list[Any] = []
        for i, option in enumerate(options, 1):
            label = f"{name}Variant{i}" if objects > 1 else name
            types.append(self.type(option, label, depth + 1))
        return _union(types)

    def _all_of(self, schema: Mapping[str, Any], parts: list[Any], name: str, depth: int) -> Any:
        """`allOf`: one part is that part; object parts merge their properties."""
        resolved = [self._deref(p) for p in parts]
        if len(resolved) == 1 and not isinstance(schema.get("properties"), Mapping):
            return self.type(resolved[0], name, depth + 1)
        if not all(_is_object(p) for p in resolved):
            return Any
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in [*resolved, schema]:
            part_map = typing.cast(Mapping[str, Any], part)
            props = part_map.get("properties")
            if isinstance(props, Mapping):
                merged["properties"].update(props)
            merged["required"].extend(_required(part_map))
        if "description" in schema:
            merged["description"] = schema["description"]
        return self.type(merged, name, depth + 1)

    def _deref(self, schema: Any) -> Any:
        """`schema` with a `$ref` at its top replaced by its target (one level)."""
        if isinstance(schema, Mapping):
            ref = typing.cast(Mapping[str, Any], schema).get("$ref")
            if isinstance(ref, str):
                target = self._pointer(ref)
                if target is not None:
                    return target
        return typing.cast(Any, schema)

    def _ref(self, ref: str, depth: int) -> Any:
        if ref in self.refs:
            return self.refs[ref]
        target = self._pointer(ref)
        if target is None:
            return Any
        if ref in self.resolving:  # recursive: a TypedDict cannot be built before itself
            return dict[str, Any] if _is_object(target) else Any
        self.resolving.add(ref)
        try:
            tp = self.type(target, _pascal(ref.rsplit("/", 1)[-1]), depth + 1)
        finally:
            self.resolving.discard(ref)
        self.refs[ref] = tp
        return tp

    def _pointer(self, ref: str) -> Mapping[str, Any] | None:
        """The schema a local reference (`#/$defs/Name`) points at, or None."""
        if not ref.startswith("#"):
            return None
        node: Any = self.root
        for raw in ref[1:].split("/")[1:] if ref != "#" else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = typing.cast(Mapping[str, Any], node)[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(typing.cast(list[Any], node)):
                node = typing.cast(list[Any], node)[int(part)]
            else:
                return None
        return typing.cast(Mapping[str, Any], node) if isinstance(node, Mapping) else None


def _required(schema: Mapping[str, Any]) -> list[str]:
    required = schema.get("required")
    if not isinstance(required, list):
        return []
    return [r for r in typing.cast(list[Any], required) if isinstance(r, str)]


def _is_object(schema: Any) -> bool:
    if not isinstance(schema, Mapping):
        return False
    kind = typing.cast(Mapping[str, Any], schema).get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in schema


def signature_from_schema(
    tool_name: str, input_schema: Mapping[str, Any], output_schema: Mapping[str, Any] | None = None
) -> SchemaSignature:
    """The signature of the tool `tool_name` whose arguments `input_schema` describes
    (an object schema: its properties are the parameters) and whose result
    `output_schema` describes (None: `Any`). Never raises for a schema: what it cannot
    read is `Any`, an input schema without properties makes no parameters."""
    base = _pascal(tool_name)
    root: Mapping[str, Any] = input_schema if isinstance(input_schema, Mapping) else {}  # pyright: ignore[reportUnnecessaryIsInstance]
    converter = _Converter(root)
    params: list[inspect.Parameter] = []
    descriptions: dict[str, str] = {}
    properties: dict[str, str] = {}
    top: Any = converter._deref(root)  # pyright: ignore[reportPrivateUsage]
    props: Any = typing.cast(Mapping[str, Any], top).get("properties") if isinstance(top, Mapping) else None
    if isinstance(props, Mapping):
        props_map = typing.cast(Mapping[Any, Any], props)
        required = set(_required(typing.cast(Mapping[str, Any], top)))
        keys = [k for k in props_map if isinstance(k, str)]
        ordered = [k for k in keys if k in required] + [k for k in keys if k not in required]
        taken: set[str] = set()
        for key in ordered:
            sub = props_map[key]
            pname = python_name(key, taken)
            properties[pname] = key
            annotation = converter.type(sub, f"{base}{_pascal(key)}", 1)
            default: Any = inspect.Parameter.empty
            if key not in required:
                default = OMITTED
                if isinstance(sub, Mapping) and "default" in sub:
                    default = copy.deepcopy(typing.cast(Mapping[str, Any], sub)["default"])
            params.append(inspect.Parameter(pname, _POSITIONAL, default=default, annotation=annotation))
            text = _description(sub)
            if text:
                descriptions[pname] = text
    returns = _return_type(converter, output_schema, base)
    signature = _Signature(params, return_annotation=returns)
    signature.properties = properties
    return SchemaSignature(signature=signature, descriptions=descriptions, properties=properties)


def _return_type(converter: _Converter, output_schema: Mapping[str, Any] | None, base: str) -> Any:
    if not isinstance(output_schema, Mapping):
        return Any
    out = _Converter(output_schema)
    out.class_names = converter.class_names
    schema: Mapping[str, Any] = output_schema
    props = schema.get("properties")
    if isinstance(props, Mapping):
        props_map = typing.cast(Mapping[str, Any], props)
        if "result" in props_map and (len(props_map) == 1 or schema.get("x-fastmcp-wrap-result")):
            # The MCP SDK wraps a result that is not an object as {"result": ...};
            # clients (pydantic-ai's among them) hand back the value inside.
            return out.type(props_map["result"], f"{base}Result")
    return out.type(schema, f"{base}Result")
