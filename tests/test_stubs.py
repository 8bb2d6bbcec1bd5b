"""Typed stubs: Python signatures and JSON schemas render as the same Python stubs.

The stub text is what the model reads (the catalog) and what Monty's type checker
reads (`build_stubs`), so most checks here compare it exactly; the integration tests
run the stubs through the type checker and the pre-flight check.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, NotRequired

import hypothesis
import pydantic
import pytest
from hypothesis import strategies as st
from typing_extensions import TypedDict, is_typeddict

import agent_tools as at
from agent_tools.sandbox.functions import TAKEN_NAMES, build_catalog, build_stubs, register
from agent_tools.sandbox.schema import OMITTED, SchemaSignature, python_name, signature_from_schema

NOTE = (
    "# The dicts the functions below take and return. Write them as dict literals:\n"
    "# these class names are not defined in the sandbox.\n\n"
)

# -- Python signatures ---------------------------------------------------------------


class Tier(enum.StrEnum):
    GOLD = "gold"
    SILVER = "silver"


class Address(pydantic.BaseModel):
    """A postal address."""

    street: str = pydantic.Field(description="Street and number")
    city: str


class Customer(pydantic.BaseModel):
    name: str
    address: Address
    tier: Tier = Tier.SILVER
    channel: Literal["web", "shop"] = "web"
    previous: list[Address] = []
    note: str | None = None


def save_customer(customer: Customer, dry_run: bool = False) -> Customer:
    """Store a customer."""
    return customer


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0


class Options(TypedDict):
    verbose: bool
    depth: NotRequired[int]


def plot(at: Point, options: Options | None = None) -> None:
    return None


def get_address(customer_id: int) -> Address:
    return Address(street="Main 1", city="Oslo")


ADDRESS = '''\
class Address(TypedDict):
    """A postal address."""
    street: str  # Street and number
    city: str'''


def test_models_dataclasses_and_typeddicts_render_as_typeddicts() -> None:
    assert (
        build_catalog(register([save_customer, plot]))
        == NOTE
        + ADDRESS
        + '''

class Customer(TypedDict):
    name: str
    address: Address
    tier: NotRequired[Literal['gold', 'silver']]  # default: 'silver'
    channel: NotRequired[Literal['web', 'shop']]  # default: 'web'
    previous: NotRequired[list[Address]]  # default: []
    note: NotRequired[str | None]  # default: None

class Point(TypedDict):
    x: float
    y: NotRequired[float]  # default: 0.0

class Options(TypedDict):
    verbose: bool
    depth: NotRequired[int]

def save_customer(customer: Customer, dry_run: bool = False) -> Customer:
    """Store a customer."""
    ...

def plot(at: Point, options: Options | None = None) -> None: ...'''
    )


def test_a_returned_model_shows_its_fields() -> None:
    assert build_catalog(register([get_address])) == NOTE + ADDRESS + (
        "\n\ndef get_address(customer_id: int) -> Address: ..."
    )


class Color(enum.IntEnum):
    RED = 1
    BLUE = 2


def defaults(
    a: int = 10,
    b: float = 0.5,
    c: str = "x",
    d: bool = True,
    e: str | None = None,
    f: list[int] = [1, 2],  # noqa: B006 - a default to show
    g: dict[str, int] = {"k": 1},  # noqa: B006
    h: object = object(),
    i: str = "y" * 100,
    j: Color = Color.BLUE,
    k: tuple[int, ...] = (1,),
    *,
    m: int = 3,
) -> int:
    return 0


def test_short_literal_defaults_are_shown_others_are_ellipsis() -> None:
    assert register([defaults])["defaults"].stub() == (
        "def defaults(a: int = 10, b: float = 0.5, c: str = 'x', d: bool = True, e: str | None = None, "
        "f: list[int] = [1, 2], g: dict[str, int] = {'k': 1}, h: Any = ..., i: str = ..., "
        "j: Literal[1, 2] = 2, k: tuple[int, ...] = (1,), *, m: int = 3) -> int: ..."
    )


def described(
    query: Annotated[str, "What to look for"],
    limit: Annotated[int, pydantic.Field(description="At most this many", ge=1)] = 5,
    offset: int = pydantic.Field(0, description="Skip this many"),
) -> list[str]:
    """Search the index."""
    return []


def test_parameter_descriptions_become_an_args_section() -> None:
    assert (
        register([described])["described"].stub()
        == '''\
def described(query: str, limit: int = 5, offset: int = 0) -> list[str]:
    """Search the index.

    Args:
        query: What to look for
        limit: At most this many
        offset: Skip this many
    """
    ...'''
    )


def test_param_docs_attribute_and_an_existing_args_section() -> None:
    def lookup(key: str, fuzzy: bool = False) -> str:
        return key

    lookup.__agent_tools_param_docs__ = {"key": "The key\nas stored", "fuzzy": "Match loosely"}  # type: ignore[attr-defined]
    assert (
        register([lookup])["lookup"].stub()
        == '''\
def lookup(key: str, fuzzy: bool = False) -> str:
    """Args:
        key: The key
            as stored
        fuzzy: Match loosely
    """
    ...'''
    )

    def documented(key: Annotated[str, "The key"]) -> str:
        """Look a key up.

        Args:
            key: the key, as written here
        """
        return key

    stub = register([documented])["documented"].stub()
    assert stub.count("Args:") == 1 and "the key, as written here" in stub and "The key" not in stub


def test_a_class_used_by_several_functions_is_defined_once() -> None:
    functions = register([save_customer, get_address])
    for text in (build_catalog(functions), build_stubs(functions)):
        assert text.count("class Address(TypedDict):") == 1
        assert text.count("class Customer(TypedDict):") == 1
        assert text.index("class Address(") < text.index("class Customer(") < text.index("def save_customer(")


def _item_class(field_type: type) -> type[pydantic.BaseModel]:
    return pydantic.create_model("Item", value=(field_type, ...))


def test_different_classes_with_one_name_get_distinct_names() -> None:
    first, second, same_as_first = _item_class(int), _item_class(str), _item_class(int)
    assert first is not same_as_first

    # (This module's annotations are strings: local classes are set as objects.)
    def put(item: Any) -> None:
        return None

    def get(key: Any) -> Any:
        return same_as_first(value=1)

    def one(item: Any) -> None:
        return None

    put.__annotations__ = {"item": first, "return": None}
    get.__annotations__ = {"key": second, "return": same_as_first}
    one.__annotations__ = {"item": first, "return": None}

    catalog = build_catalog(register([put, get]))
    assert catalog == NOTE + (
        "class Item(TypedDict):\n    value: int\n\n"
        "class Item2(TypedDict):\n    value: str\n\n"
        "def put(item: Item) -> None: ...\n\n"
        "def get(key: Item2) -> Item: ..."  # the same fields under the same name: one class
    )
    # A class never takes a name the stub module already uses (a function, a builtin).
    clash = pydantic.create_model("one", value=(int, ...))
    private = pydantic.create_model("_Private", value=(int, ...))

    def two(a: Any, b: Any) -> None:
        return None

    two.__annotations__ = {"a": clash, "b": private, "return": None}

    catalog = build_catalog(register([one, two]))
    assert "class one2(TypedDict):" in catalog and "def two(a: one2, b: Private) -> None" in catalog


class Node(pydantic.BaseModel):
    name: str
    children: list[Node] = []


def test_a_recursive_model_refers_to_itself_by_a_quoted_name() -> None:
    def walk(root: Node) -> int:
        return 1 + sum(walk(c) for c in root.children)

    catalog = build_catalog(register([walk]))
    assert 'children: NotRequired[list["Node"]]  # default: []' in catalog
    t = at.orchestrator_from_str(
        "walk({'name': 'a', 'children': [{'name': 'b'}]})",
        inputs={},
        output=Any,
        tasks=[walk],
        plugin_config=at.SandboxedConfig(type_check=True),
    )
    assert t() == 2


def test_models_are_still_validated_on_the_host() -> None:
    fn = register([save_customer])["save_customer"]
    assert fn.call is not fn.func
    with pytest.raises(pydantic.ValidationError):
        fn.call({"name": "a", "address": {"street": "s"}})


# -- JSON schemas ---------------------------------------------------------------------


def schema_function(
    tool: str, input_schema: Mapping[str, Any], output_schema: Mapping[str, Any] | None = None
) -> Callable[..., Any]:
    """A callable as a client of a schema-described tool builds it: the tool's
    signature, annotations and parameter descriptions; it returns the arguments the
    tool would receive."""
    built = signature_from_schema(tool, input_schema, output_schema)

    def call(*args: Any, **kwargs: Any) -> Any:
        return built.arguments(*args, **kwargs)

    annotations = {p.name: p.annotation for p in built.signature.parameters.values()}
    call.__signature__ = built.signature  # type: ignore[attr-defined]
    call.__annotations__ = {**annotations, "return": built.signature.return_annotation}
    call.__agent_tools_param_docs__ = built.descriptions  # type: ignore[attr-defined]
    call.__doc__ = None
    return call


def schema_catalog(tool: str, input_schema: Mapping[str, Any], output_schema: Any = None) -> str:
    return build_catalog(
        register({python_name(tool, set()): schema_function(tool, input_schema, output_schema)})
    )


SCHEMAS: dict[str, tuple[str, dict[str, Any], dict[str, Any] | None, str]] = {
    "flat, with descriptions and a default": (
        "search",
        {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for"},
                "limit": {"type": "integer", "default": 10, "description": "At most this many"},
            },
            "required": ["query"],
        },
        None,
        '''\
def search(query: str, limit: int = 10) -> Any:
    """Args:
        query: What to look for
        limit: At most this many
    """
    ...''',
    ),
    "nested object with an enum": (
        "get_weather",
        {
            "type": "object",
            "properties": {
                "location": {
                    "type": "object",
                    "description": "Where",
                    "properties": {
                        "city": {"type": "string", "description": "City name"},
                        "units": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
                    },
                    "required": ["city"],
                }
            },
            "required": ["location"],
        },
        None,
        NOTE
        + '''\
class GetWeatherLocation(TypedDict):
    """Where"""
    city: str  # City name
    units: NotRequired[Literal['celsius', 'fahrenheit']]  # default: 'celsius'

def get_weather(location: GetWeatherLocation) -> Any:
    """Args:
        location: Where
    """
    ...''',
    ),
    "array of objects": (
        "create_order",
        {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
                        "required": ["sku", "qty"],
                    },
                },
                "tags": {"type": "array", "items": {"type": "string"}, "default": []},
            },
            "required": ["items"],
        },
        None,
        NOTE
        + """\
class CreateOrderItemsItem(TypedDict):
    sku: str
    qty: int

def create_order(items: list[CreateOrderItemsItem], tags: list[str] = []) -> Any: ...""",
    ),
    "anyOf with null, a list of types, nullable": (
        "find",
        {
            "type": "object",
            "properties": {
                "name": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
                "age": {"type": ["integer", "null"]},
                "score": {"type": "number", "nullable": True},
            },
        },
        None,
        "def find(name: str | None = None, age: int | None = ..., score: float | None = ...) -> Any: ...",
    ),
    "$ref and $defs, as pydantic writes them": (
        "add_contact",
        {
            "$defs": {
                "Address": {
                    "type": "object",
                    "title": "Address",
                    "properties": {
                        "street": {"type": "string", "title": "Street"},
                        "zip": {"type": "string"},
                    },
                    "required": ["street"],
                },
                "Kind": {"enum": ["home", "work"], "type": "string", "title": "Kind"},
            },
            "type": "object",
            "properties": {
                "address": {"$ref": "#/$defs/Address"},
                "kind": {"$ref": "#/$defs/Kind", "default": "home"},
                "others": {"type": "array", "items": {"$ref": "#/$defs/Address"}},
            },
            "required": ["address"],
        },
        None,
        NOTE
        + """\
class Address(TypedDict):
    street: str
    zip: NotRequired[str]

"""
        + "def add_contact(address: Address, kind: Literal['home', 'work'] = 'home', "
        + "others: list[Address] = ...) -> Any: ...",
    ),
    "additionalProperties and an object without properties": (
        "set_labels",
        {
            "type": "object",
            "properties": {
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "extra": {"type": "object"},
                "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
            "required": ["labels"],
        },
        None,
        "def set_labels(labels: dict[str, str], extra: dict[str, Any] = ..., "
        "counts: dict[str, int] = ...) -> Any: ...",
    ),
    "hyphenated and keyword names": (
        "get-user.info",
        {
            "type": "object",
            "properties": {
                "user-id": {"type": "string", "description": "The id"},
                "class": {"type": "string"},
                "filter": {
                    "type": "object",
                    "properties": {
                        "first-name": {"type": "string", "description": "Given name"},
                        "from": {"type": "integer"},
                        "ok": {"type": "boolean"},
                    },
                    "required": ["first-name"],
                },
            },
            "required": ["user-id"],
        },
        None,
        NOTE
        + '''\
GetUserInfoFilter = TypedDict("GetUserInfoFilter", {
    "first-name": str,  # Given name
    "from": NotRequired[int],
    "ok": NotRequired[bool],
})

def get_user_info(user_id: str, class_: str = ..., filter: GetUserInfoFilter = ...) -> Any:
    """Args:
        user_id: The id
    """
    ...''',
    ),
    "empty schema": ("ping", {}, None, "def ping() -> Any: ..."),
    "object schema without properties": ("status", {"type": "object"}, None, "def status() -> Any: ..."),
    "output schema": (
        "get_forecast",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        {
            "type": "object",
            "properties": {
                "temperature": {"type": "number", "description": "Degrees"},
                "conditions": {"type": "string"},
                "alerts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"level": {"enum": ["low", "high"]}},
                        "required": ["level"],
                    },
                },
            },
            "required": ["temperature"],
        },
        NOTE
        + """\
class GetForecastResultAlertsItem(TypedDict):
    level: Literal['low', 'high']

class GetForecastResult(TypedDict):
    temperature: float  # Degrees
    conditions: NotRequired[str]
    alerts: NotRequired[list[GetForecastResultAlertsItem]]

def get_forecast(city: str) -> GetForecastResult: ...""",
    ),
    "wrapped output schema": (
        "count",
        {"type": "object", "properties": {}},
        {"type": "object", "properties": {"result": {"type": "integer"}}, "required": ["result"]},
        "def count() -> int: ...",
    ),
    "oneOf objects and const": (
        "pay",
        {
            "type": "object",
            "properties": {
                "method": {
                    "oneOf": [
                        {"type": "object", "properties": {"card": {"type": "string"}}, "required": ["card"]},
                        {"type": "object", "properties": {"iban": {"type": "string"}}, "required": ["iban"]},
                    ]
                },
                "mode": {"const": "live"},
            },
            "required": ["method"],
        },
        None,
        NOTE
        + """\
class PayMethodVariant1(TypedDict):
    card: str

class PayMethodVariant2(TypedDict):
    iban: str

def pay(method: PayMethodVariant1 | PayMethodVariant2, mode: Literal['live'] = ...) -> Any: ...""",
    ),
    "allOf merges objects": (
        "tag",
        {
            "type": "object",
            "properties": {
                "target": {
                    "allOf": [
                        {"$ref": "#/definitions/Base"},
                        {
                            "type": "object",
                            "properties": {"label": {"type": "string"}},
                            "required": ["label"],
                        },
                    ]
                }
            },
            "required": ["target"],
            "definitions": {
                "Base": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}
            },
        },
        None,
        NOTE
        + "class TagTarget(TypedDict):\n    id: int\n    label: str\n\n"
        + "def tag(target: TagTarget) -> Any: ...",
    ),
    "malformed parts are Any": (
        "odd",
        {
            "type": "object",
            "properties": {
                "a": {"type": "strange"},
                "b": 5,
                "c": {"$ref": "#/nowhere"},
                "d": {"items": {"type": "string"}},
                "e": {"enum": [1.5, "x"]},
                "f": True,
            },
            "required": "a",
        },
        None,
        "def odd(a: Any = ..., b: Any = ..., c: Any = ..., d: list[str] = ..., e: float | str = ..., "
        "f: Any = ...) -> Any: ...",
    ),
    "recursive $ref": (
        "tree",
        {
            "type": "object",
            "properties": {"root": {"$ref": "#/$defs/Node"}},
            "required": ["root"],
            "$defs": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                    },
                    "required": ["name"],
                }
            },
        },
        None,
        NOTE
        + """\
class Node(TypedDict):
    name: str
    children: NotRequired[list[dict[str, Any]]]

def tree(root: Node) -> Any: ...""",
    ),
}


@pytest.mark.parametrize("case", SCHEMAS.values(), ids=list(SCHEMAS))
def test_schemas_render_as_stubs(case: tuple[str, dict[str, Any], dict[str, Any] | None, str]) -> None:
    tool, input_schema, output_schema, expected = case
    assert schema_catalog(tool, input_schema, output_schema) == expected


def test_schema_stubs_are_valid_for_the_type_checker() -> None:
    functions = register(
        {python_name(tool, set()): schema_function(tool, inp, out) for tool, inp, out, _ in SCHEMAS.values()}
    )
    stubs = build_stubs(functions)
    compile(stubs, "stubs.py", "exec")
    # Every class once, even where two tools use classes of one name and shape.
    assert stubs.count("class Address(TypedDict):") == 1


def test_schema_signature_order_defaults_and_types() -> None:
    schema = {
        "type": "object",
        "properties": {
            "units": {"type": "string", "enum": ["c", "f"], "default": "c"},
            "city": {"type": "string", "description": "City"},
            "days": {"type": "integer"},
            "first-name": {"type": "string"},
            "when": {"type": "object", "properties": {"day": {"type": "integer"}}, "required": ["day"]},
        },
        "required": ["when", "city"],
    }
    built = signature_from_schema(
        "get_weather", schema, {"type": "object", "properties": {"t": {"type": "number"}}}
    )
    params = list(built.signature.parameters.values())
    assert [p.name for p in params] == ["city", "when", "units", "days", "first_name"]
    assert {p.kind for p in params} == {inspect.Parameter.POSITIONAL_OR_KEYWORD}
    assert [p.default for p in params] == [
        inspect.Parameter.empty,
        inspect.Parameter.empty,
        "c",
        OMITTED,
        OMITTED,
    ]
    assert params[0].annotation is str
    assert is_typeddict(params[1].annotation) and params[1].annotation.__name__ == "GetWeatherWhen"
    assert typing.get_origin(params[2].annotation) is Literal and typing.get_args(params[2].annotation) == (
        "c",
        "f",
    )
    returns = built.signature.return_annotation
    assert is_typeddict(returns) and returns.__optional_keys__ == frozenset({"t"})
    assert built.descriptions == {"city": "City"}
    assert built.properties["first_name"] == "first-name" and built.properties["city"] == "city"
    assert getattr(built.signature, "properties") == built.properties  # noqa: B009 - also on the signature
    # Arguments go back to the tool under the property names, without the omitted ones.
    assert built.arguments("Oslo", {"day": 1}, first_name="Ada") == {
        "city": "Oslo",
        "when": {"day": 1},
        "first-name": "Ada",
    }
    with pytest.raises(TypeError):
        built.arguments(days=3)  # `city` and `when` are missing


def _bound_by_inspect(built: SchemaSignature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        bound = built.signature.bind(*args, **kwargs)
    except TypeError as exc:
        return TypeError, str(exc)
    return {built.properties.get(k, k): v for k, v in bound.arguments.items() if v is not OMITTED}


_ARGUMENTS_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "first-name": {"type": "string"},
        "when": {"type": "integer"},
        "units": {"type": "string", "default": "c"},
        "days": {"type": "integer"},
        "self": {"type": "integer"},  # a parameter that is a name `arguments` must not take
    },
    "required": ["city", "first-name", "when"],
}


@hypothesis.settings(max_examples=400, deadline=None)
@hypothesis.given(
    args=st.lists(st.one_of(st.integers(), st.text(max_size=3), st.none(), st.just(OMITTED)), max_size=7),
    keywords=st.dictionaries(
        st.sampled_from(["city", "first_name", "first-name", "when", "units", "days", "other", "self"]),
        st.one_of(st.integers(), st.none(), st.just(OMITTED)),
        max_size=5,
    ),
)
def test_arguments_bind_as_inspect_does(args: list[Any], keywords: dict[str, Any]) -> None:
    """Whatever a call gives, `arguments` returns what binding with `inspect` gives (under
    the property names, without OMITTED), or raises the same TypeError; a property
    named `self` is a parameter like any other."""
    built = signature_from_schema("get-weather", _ARGUMENTS_SCHEMA)
    expected = _bound_by_inspect(built, tuple(args), keywords)
    got: Any
    try:
        got = built.arguments(*args, **keywords)
    except TypeError as exc:
        got = TypeError, str(exc)
    assert got == expected
    if isinstance(got, dict):
        assert list(typing.cast(dict[str, Any], got)) == list(typing.cast(dict[str, Any], expected))


def test_arguments_of_a_tool_without_parameters() -> None:
    built = signature_from_schema("ping", {"type": "object", "properties": {}})
    assert built.arguments() == {}
    with pytest.raises(TypeError, match="too many positional arguments"):
        built.arguments(1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'x'"):
        built.arguments(x=1)


def test_schema_types_are_real_types_pydantic_validates() -> None:
    built = signature_from_schema("t", SCHEMAS["nested object with an enum"][1])
    location = built.signature.parameters["location"].annotation
    adapter = pydantic.TypeAdapter(location)
    assert adapter.validate_python({"city": "Oslo"}) == {"city": "Oslo"}
    with pytest.raises(pydantic.ValidationError):
        adapter.validate_python({"city": "Oslo", "units": "kelvin"})


@pytest.mark.parametrize(
    "schema",
    [None, [], "object", {"properties": []}, {"properties": {"a": {"anyOf": "x"}}}, {"$ref": 3}, {"type": 7}],
)
def test_schemas_nothing_understands_never_raise(schema: Any) -> None:
    built = signature_from_schema("tool", schema, schema)
    assert isinstance(built, SchemaSignature) and isinstance(built.signature, inspect.Signature)
    assert all(p.annotation is Any for p in built.signature.parameters.values())


@pytest.mark.parametrize(
    ("name", "taken", "expected"),
    [
        ("get_weather", set[str](), "get_weather"),
        ("get-weather", set[str](), "get_weather"),
        ("ns.tool", set[str](), "ns_tool"),
        ("weather/v2 lookup!", set[str](), "weather_v2_lookup_"),
        ("class", set[str](), "class_"),
        ("None", set[str](), "None_"),
        ("3d-render", set[str](), "x_3d_render"),
        ("_private", set[str](), "private"),
        ("", set[str](), "x"),
        ("café", set[str](), "caf_"),
        ("get-weather", {"get_weather"}, "get_weather_2"),
        ("get.weather", {"get_weather", "get_weather_2"}, "get_weather_3"),
    ],
)
def test_python_name(name: str, taken: set[str], expected: str) -> None:
    taken = set(taken)  # a copy: the parameter's set is shared by every run of the test in a process
    before = set(taken)
    assert python_name(name, taken) == expected
    assert taken == before | {expected}
    assert expected.isidentifier()


@pytest.mark.parametrize(
    ("name", "taken", "expected"),
    [
        ("round", set[str](), "round_"),
        ("sum", set[str](), "sum_"),
        ("parallel_map", set[str](), "parallel_map_"),
        ("round", {"round_"}, "round__2"),
        ("input", set[str](), "input"),  # a builtin of Python that Monty lacks: free
        ("get-weather", set[str](), "get_weather"),
    ],
)
def test_python_name_of_a_tool_keeps_clear_of_the_sandbox_builtins(
    name: str, taken: set[str], expected: str
) -> None:
    taken = set(taken)
    assert python_name(name, taken, TAKEN_NAMES) == expected
    assert expected not in TAKEN_NAMES


def test_parameters_named_like_builtins_keep_their_names() -> None:
    """A keyword argument never reaches a builtin: `id`, `type`, `format` stay as they are."""
    built = signature_from_schema(
        "t",
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "type": {"type": "string"},
                "format": {"type": "string"},
            },
            "required": ["id"],
        },
    )
    assert list(built.signature.parameters) == ["id", "type", "format"]
    assert built.arguments(1, type="a") == {"id": 1, "type": "a"}


# -- through the type checker and the pre-flight check ------------------------------


def type_checked(code: str, tasks: Mapping[str, Callable[..., Any]] | list[Callable[..., Any]]) -> Any:
    return at.orchestrator_from_str(
        code, inputs={}, output=Any, tasks=tasks, plugin_config=at.SandboxedConfig(type_check=True)
    )()


def test_the_type_checker_reads_model_parameters() -> None:
    code = "save_customer({'name': 'Ada', 'address': {'street': 'Main 1', 'city': 'Oslo'}, 'tier': 'gold'})"
    assert type_checked(code, [save_customer])["tier"] == "gold"
    for wrong in (
        "save_customer({'name': 1, 'address': {'street': 'Main 1', 'city': 'Oslo'}})",
        "save_customer({'name': 'Ada', 'address': {'street': 'Main 1', 'city': 'Oslo'}, 'tier': 'bronze'})",
        "save_customer({'name': 'Ada'})",
        "save_customer('Ada')",
    ):
        with pytest.raises(at.TypeCheckError) as info:
            type_checked(wrong, [save_customer])
        assert "invalid-argument-type" in info.value.diagnostics


def test_the_type_checker_reads_a_returned_model() -> None:
    assert type_checked("get_address(1)['city']", [get_address]) == "Oslo"


WEATHER = SCHEMAS["nested object with an enum"][1]
ODD_NAMES = SCHEMAS["hyphenated and keyword names"][1]


def test_the_type_checker_reads_schema_parameters() -> None:
    tasks = {"get_weather": schema_function("get_weather", WEATHER)}
    code = "get_weather({'city': 'Oslo', 'units': 'fahrenheit'})"
    assert type_checked(code, tasks) == {"location": {"city": "Oslo", "units": "fahrenheit"}}
    for wrong in ("get_weather({'city': 3})", "get_weather({'city': 'Oslo', 'units': 'kelvin'})"):
        with pytest.raises(at.TypeCheckError):
            type_checked(wrong, tasks)
    # Functional-syntax TypedDicts keep keys that are not names; parameters map back.
    odd = {"get_user_info": schema_function("get-user.info", ODD_NAMES)}
    code = "get_user_info('u1', class_='admin', filter={'first-name': 'Ada', 'from': 3})"
    assert type_checked(code, odd) == {
        "user-id": "u1",
        "class": "admin",
        "filter": {"first-name": "Ada", "from": 3},
    }
    with pytest.raises(at.TypeCheckError):
        type_checked("get_user_info('u1', filter={'first-name': 3})", odd)


def preflighted(code: str, fn: Callable[..., Any]) -> Any:
    return at.orchestrator_from_str(
        code,
        inputs={},
        output=Any,
        tasks={"get_weather": fn},
        plugin_config=at.SandboxedConfig(preflight=True),
    )()


def test_the_preflight_check_refuses_wrong_literals_for_schema_types() -> None:
    calls: list[dict[str, Any]] = []
    schema = {
        "type": "object",
        "properties": {"location": WEATHER["properties"]["location"], "units": {"enum": ["c", "f"]}},
        "required": ["location"],
    }
    built = signature_from_schema("get_weather", schema)

    def get_weather(*args: Any, **kwargs: Any) -> str:
        calls.append(built.arguments(*args, **kwargs))
        return "sunny"

    get_weather.__signature__ = built.signature  # type: ignore[attr-defined]
    assert preflighted("get_weather({'city': 'Oslo'}, units='c')", get_weather) == "sunny"
    for wrong, expects in (
        ("get_weather({'city': 'Oslo'}, units='kelvin')", "Literal['c', 'f']"),
        ("get_weather('Oslo')", "dict (a GetWeatherLocation)"),
    ):
        with pytest.raises(at.TypeCheckError) as info:
            preflighted(wrong, get_weather)
        assert "invalid-argument-type" in info.value.diagnostics and expects in str(info.value)
    assert calls == [{"location": {"city": "Oslo"}, "units": "c"}]


def test_the_catalog_shows_the_classes_once_before_the_functions() -> None:
    runner = at.CodeRunner([save_customer, get_address])
    catalog = runner.catalog()
    assert catalog.startswith(NOTE + ADDRESS)
    assert catalog.count("class Address(TypedDict):") == 1
    assert (
        catalog.index("class Customer(")
        < catalog.index("def save_customer(")
        < catalog.index("def get_address(")
    )
    assert catalog in runner.description()


def test_a_schema_function_gets_only_the_arguments_passed() -> None:
    """Validation passes every default along; an optional parameter's `OMITTED` is
    dropped before the function sees it."""
    seen: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    built = signature_from_schema(
        "get_weather", WEATHER | {"properties": {**WEATHER["properties"], "days": {}}}
    )

    def get_weather(*args: Any, **kwargs: Any) -> str:
        seen.append((args, kwargs))
        return "sunny"

    get_weather.__signature__ = built.signature  # type: ignore[attr-defined]
    fn = register([get_weather])["get_weather"]
    assert fn.call is not get_weather  # a TypedDict parameter: validated
    assert preflighted("get_weather({'city': 'Oslo'})", get_weather) == "sunny"
    assert preflighted("get_weather(location={'city': 'Oslo'}, days=2)", get_weather) == "sunny"
    assert seen == [(({"city": "Oslo"},), {}), ((), {"location": {"city": "Oslo"}, "days": 2})]
