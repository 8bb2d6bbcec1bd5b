"""The pre-flight check: refuse code that is evidently wrong before any host function
runs, in tens of microseconds, from the code's syntax tree and the registered
functions' signatures.

It stops what a model most often gets wrong and what would otherwise fail only
after earlier calls had their effects: a name that is defined nowhere (a misspelt
function, a builtin the sandbox lacks), a module the sandbox cannot import, and a
call to a registered function with too many or too few arguments, an unknown or
repeated keyword, or a literal argument of the wrong type (`get_customer("3")`
where the parameter is an `int`). Everything else runs as written: where the check
cannot be sure (a name bound in some branch, an argument that is not a literal, a
call through `*args`), it lets the code through. Monty's full type check
(`SandboxedConfig.type_check`) is the slower, stricter option.

The names and modules the sandbox has (`MONTY_BUILTINS`, `MONTY_MODULES`) are facts
about the installed Monty; `tests/test_preflight.py` checks them against it.
"""

from __future__ import annotations

import ast
import builtins
import collections.abc
import difflib
import functools
import importlib
import inspect
import re
import types
import typing
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from agent_tools.sandbox.builtin_names import MONTY_BUILTINS
from agent_tools.sandbox.functions import (
    BUILTIN_NAMES,
    MAP_DEFAULTS,
    MAP_KEYWORDS,
    HostFunction,
    is_record_class,
    map_signature,
    record_keys,
)

__all__ = [
    "CALLBACK_RULE",
    "MAP_FUNCTION_RULE",
    "MONTY_BUILTINS",
    "MONTY_MODULES",
    "MONTY_MODULE_NAMES",
    "Problem",
    "bound_names",
    "check_code",
]

MONTY_MODULES: frozenset[str] = frozenset({
    "asyncio", "base64", "binascii", "bisect", "collections", "copy", "csv", "dataclasses", "datetime",
    "decimal", "functools", "hashlib", "itertools", "json", "math", "os", "pathlib", "posixpath",
    "random", "re", "sys", "time", "tomllib", "typing", "unicodedata"
})  # fmt: skip
"""The modules the sandbox can import (pydantic-monty 1.4)."""

MONTY_MODULE_NAMES: dict[str, frozenset[str]] = {
    "asyncio": frozenset({"gather", "run", "sleep"}),
    "base64": frozenset({
        "MAXBINSIZE", "MAXLINESIZE", "a85decode", "a85encode", "b16decode", "b16encode", "b32decode",
        "b32encode", "b32hexdecode", "b32hexencode", "b64decode", "b64encode", "b85decode", "b85encode",
        "decodebytes", "encodebytes", "standard_b64decode", "standard_b64encode", "urlsafe_b64decode",
        "urlsafe_b64encode"
    }),
    "binascii": frozenset({
        "Error", "Incomplete", "a2b_base64", "a2b_hex", "a2b_qp", "a2b_uu", "b2a_base64", "b2a_hex",
        "b2a_qp", "b2a_uu", "crc32", "crc_hqx", "hexlify", "unhexlify"
    }),
    "bisect": frozenset({"bisect", "bisect_left", "bisect_right", "insort", "insort_left", "insort_right"}),
    "collections": frozenset({"Counter", "defaultdict", "deque", "namedtuple"}),
    "copy": frozenset({"copy", "deepcopy"}),
    "csv": frozenset({
        "Dialect", "DictReader", "DictWriter", "Error", "QUOTE_ALL", "QUOTE_MINIMAL", "QUOTE_NONE",
        "QUOTE_NONNUMERIC", "excel", "excel_tab", "field_size_limit", "get_dialect", "list_dialects",
        "reader", "unix_dialect", "writer"
    }),
    "dataclasses": frozenset({"FrozenInstanceError", "MISSING", "dataclass", "field", "is_dataclass"}),
    "datetime": frozenset({"date", "datetime", "time", "timedelta", "timezone"}),
    "decimal": frozenset({
        "BasicContext", "Clamped", "Context", "ConversionSyntax", "Decimal", "DecimalException",
        "DecimalTuple", "DefaultContext", "DivisionByZero", "DivisionImpossible", "DivisionUndefined",
        "ExtendedContext", "FloatOperation", "HAVE_CONTEXTVAR", "HAVE_THREADS", "Inexact", "InvalidContext",
        "InvalidOperation", "MAX_EMAX", "MAX_PREC", "MIN_EMIN", "MIN_ETINY", "Overflow", "ROUND_05UP",
        "ROUND_CEILING", "ROUND_DOWN", "ROUND_FLOOR", "ROUND_HALF_DOWN", "ROUND_HALF_EVEN", "ROUND_HALF_UP",
        "ROUND_UP", "Rounded", "Subnormal", "Underflow", "getcontext", "localcontext", "setcontext"
    }),
    "functools": frozenset({"cache", "lru_cache", "partial", "reduce"}),
    "hashlib": frozenset({
        "algorithms_available", "algorithms_guaranteed", "blake2b", "blake2s", "md5", "new", "pbkdf2_hmac",
        "sha1", "sha224", "sha256", "sha384", "sha3_224", "sha3_256", "sha3_384", "sha3_512", "sha512",
        "shake_128", "shake_256"
    }),
    "itertools": frozenset({
        "accumulate", "chain", "combinations", "combinations_with_replacement", "compress", "count",
        "cycle", "dropwhile", "filterfalse", "groupby", "islice", "pairwise", "permutations", "product",
        "repeat", "starmap", "takewhile", "tee", "zip_longest"
    }),
    "json": frozenset({"JSONDecodeError", "dump", "dumps", "load", "loads"}),
    "math": frozenset({
        "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "ceil", "comb", "copysign",
        "cos", "cosh", "degrees", "dist", "e", "erf", "erfc", "exp", "exp2", "expm1", "fabs", "factorial",
        "floor", "fmod", "frexp", "fsum", "gamma", "gcd", "hypot", "inf", "isclose", "isfinite", "isinf",
        "isnan", "isqrt", "lcm", "ldexp", "lgamma", "log", "log10", "log1p", "log2", "modf", "nan",
        "nextafter", "perm", "pi", "pow", "prod", "radians", "remainder", "sin", "sinh", "sqrt", "tan",
        "tanh", "tau", "trunc", "ulp"
    }),
    "pathlib": frozenset({"Path"}),
    "posixpath": frozenset({
        "abspath", "altsep", "basename", "commonpath", "commonprefix", "curdir", "defpath", "devnull",
        "dirname", "exists", "expanduser", "expandvars", "extsep", "getatime", "getctime", "getmtime",
        "getsize", "isabs", "isdir", "isfile", "islink", "ismount", "join", "lexists", "normcase",
        "normpath", "pardir", "pathsep", "realpath", "relpath", "samefile", "samestat", "sep", "split",
        "splitdrive", "splitext", "supports_unicode_filenames"
    }),
    "random": frozenset({
        "Random", "betavariate", "choice", "choices", "expovariate", "gammavariate", "gauss", "getrandbits",
        "getstate", "lognormvariate", "normalvariate", "paretovariate", "randbytes", "randint", "random",
        "randrange", "sample", "seed", "setstate", "shuffle", "triangular", "uniform", "vonmisesvariate",
        "weibullvariate"
    }),
    "re": frozenset({
        "A", "ASCII", "DOTALL", "I", "IGNORECASE", "M", "MULTILINE", "Match", "NOFLAG", "Pattern", "S",
        "compile", "error", "escape", "findall", "finditer", "fullmatch", "match", "search", "split", "sub"
    }),
    "sys": frozenset({
        "abiflags", "api_version", "argv", "base_exec_prefix", "base_prefix", "builtin_module_names",
        "byteorder", "copyright", "dont_write_bytecode", "exec_prefix", "executable", "flags", "float_info",
        "float_repr_style", "hexversion", "maxsize", "maxunicode", "platform", "platlibdir", "prefix",
        "pycache_prefix", "stderr", "stdout", "version", "version_info"
    }),
    "time": frozenset({
        "altzone", "asctime", "ctime", "daylight", "gmtime", "localtime", "mktime", "monotonic",
        "monotonic_ns", "perf_counter", "perf_counter_ns", "process_time", "process_time_ns", "sleep",
        "strftime", "strptime", "thread_time", "thread_time_ns", "time", "time_ns", "timezone", "tzname"
    }),
    "tomllib": frozenset({"TOMLDecodeError", "load", "loads"}),
    "typing": frozenset({
        "Annotated", "Any", "Callable", "ClassVar", "Dict", "Final", "FrozenSet", "Generator", "Generic",
        "Iterable", "Iterator", "List", "Literal", "Mapping", "Never", "NoReturn", "Optional", "Protocol",
        "Self", "Sequence", "Set", "TYPE_CHECKING", "Tuple", "Type", "TypeVar", "Union"
    }),
    "unicodedata": frozenset({
        "category", "combining", "is_normalized", "lookup", "name", "normalize", "unidata_version"
    }),
}  # fmt: skip
"""The names `from <module> import <name>` finds in each module the sandbox has (but
`os`, whose names reach the host): of the public names of CPython's module, those the
installed Monty has. `tests/test_preflight.py` checks both ways against it."""

_CALLBACK_BUILTINS = frozenset({"sorted", "max", "min", "map", "filter"})
"""Builtins that call a function they are given (`key=`, or `map`'s and `filter`'s first
argument) from where Monty cannot make a host call."""

MAP_FUNCTION_RULE = "unregistered-map-function"
"""The rule `parallel_map` given a lambda or a function of the code's own breaks."""

CALLBACK_RULE = "registered-call-in-callback"
"""The rule a registered function called back by a builtin breaks (see `_Checker.callbacks`)."""

_PYTHON_EXCEPTIONS = frozenset(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)


@dataclass(frozen=True)
class Problem:
    """One reason to refuse the code: where (1-based line and column, end column
    exclusive, in the code as given), the rule broken (named as Monty's type checker
    names it) and what to fix."""

    line: int
    column: int
    end_column: int | None
    code: str
    message: str

    def diagnostic(self) -> str:
        return f"code.py:{self.line}:{self.column}: error[{self.code}] {self.message}"


class _Scan:
    """What one walk of the syntax tree finds: the names the code binds anywhere
    (assignment, def, class, import, parameter, loop or `with` target, `except ... as`,
    pattern), the names it reads, its imports and its calls by name. The check is
    flow-insensitive: a name bound in any scope or branch counts as defined."""

    def __init__(self, tree: ast.AST) -> None:
        self.bound: set[str] = set()
        self.imported: set[str] = set()
        """Names bound by a plain `import` (`import json`, `import json as j`)."""
        self.attributes: list[ast.Attribute] = []
        """Attributes of a plain name (`asyncio.create_task`, `row.total`)."""
        self.defs: set[str] = set()
        """The names of the functions and classes the code defines (`def`, `class`)."""
        self.loads: list[ast.Name] = []
        self.imports: list[ast.Import | ast.ImportFrom] = []
        self.calls: list[ast.Call] = []
        self.trys: list[ast.Try | ast.TryStar] = []
        self.handlers: list[ast.ExceptHandler] = []
        self.annotations: list[ast.expr] = []
        """Annotations: Monty does not evaluate them, so their names need not exist."""
        self.type_checking: list[ast.If] = []
        """`if TYPE_CHECKING:` blocks: never run."""
        bound, loads, calls = self.bound, self.loads, self.calls
        stack: list[Any] = [tree]
        pop, push, extend = stack.pop, stack.append, stack.extend
        children = _CHILD_FIELDS
        while stack:  # ast.walk without its generators, and only where nodes can be
            node = pop()
            kind: type = type(node)  # pyright: ignore[reportUnknownVariableType]
            if kind is ast.Name:
                name = typing.cast(ast.Name, node)
                if type(name.ctx) is ast.Load:
                    loads.append(name)
                else:
                    bound.add(name.id)
                continue
            fields = children.get(kind)
            if fields is None:
                if node is None:  # a hole in a list field (`Dict.keys` for `**x`)
                    continue
                fields = children[kind] = _child_fields(kind)
            for field in fields:
                child = getattr(node, field)
                if type(child) is list:
                    extend(typing.cast(list[Any], child))
                elif child is not None:
                    push(child)
            if kind is ast.Call:
                calls.append(typing.cast(ast.Call, node))
            elif kind is ast.Attribute:
                if type(node.value) is ast.Name:
                    self.attributes.append(node)
            elif kind in _BINDERS:
                _BINDERS[kind](self, node)
        self.bound_otherwise: set[str] = set(bound) if self.imported else bound
        """Names bound by anything but a plain `import`: where a module's name means the
        module all through the code, and where it may not."""
        bound |= self.imported


def _bind_def(scan: _Scan, node: Any) -> None:
    scan.bound.add(node.name)
    scan.defs.add(node.name)
    if getattr(node, "returns", None) is not None:
        scan.annotations.append(node.returns)


def _bind_arg(scan: _Scan, node: Any) -> None:
    scan.bound.add(node.arg)
    if node.annotation is not None:
        scan.annotations.append(node.annotation)


def _bind_annotated(scan: _Scan, node: Any) -> None:
    scan.annotations.append(node.annotation)


def _bind_if(scan: _Scan, node: Any) -> None:
    test = node.test
    if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    ):
        scan.type_checking.append(node)


def _bind_import(scan: _Scan, node: Any) -> None:
    scan.imports.append(node)
    names = scan.imported if isinstance(node, ast.Import) else scan.bound
    for alias in node.names:
        names.add(alias.asname or alias.name.split(".")[0])


def _bind_handler(scan: _Scan, node: Any) -> None:
    scan.handlers.append(node)
    if node.name:
        scan.bound.add(node.name)


def _bind_try(scan: _Scan, node: Any) -> None:
    scan.trys.append(node)


def _bind_pattern(scan: _Scan, node: Any) -> None:
    if node.name:
        scan.bound.add(node.name)


def _bind_rest(scan: _Scan, node: Any) -> None:
    if node.rest:
        scan.bound.add(node.rest)


def _bind_names(scan: _Scan, node: Any) -> None:
    scan.bound.update(node.names)


_NOT_NODES = frozenset(
    {"ctx", "op", "ops", "id", "name", "arg", "attr", "module", "level", "names", "kind", "type_comment",
     "conversion", "is_async", "simple", "rest", "kwd_attrs", "asname", "tag"}
)  # fmt: skip
"""Fields that never hold a node worth visiting: names, flags, contexts, operators
(the bindings among them are read by `_BINDERS`)."""

_CHILD_FIELDS: dict[type, tuple[str, ...]] = {ast.Constant: ()}
"""Per node type, the fields that may hold nodes; filled as types are met."""


def _child_fields(kind: type) -> tuple[str, ...]:
    return tuple(f for f in getattr(kind, "_fields", ()) if f not in _NOT_NODES)


_BINDERS: dict[type, Any] = {
    ast.FunctionDef: _bind_def,
    ast.AsyncFunctionDef: _bind_def,
    ast.ClassDef: _bind_def,
    ast.arg: _bind_arg,
    ast.Import: _bind_import,
    ast.ImportFrom: _bind_import,
    ast.ExceptHandler: _bind_handler,
    ast.Try: _bind_try,
    ast.MatchAs: _bind_pattern,
    ast.MatchStar: _bind_pattern,
    ast.MatchMapping: _bind_rest,
    ast.Global: _bind_names,
    ast.Nonlocal: _bind_names,
    ast.AnnAssign: _bind_annotated,
    ast.If: _bind_if,
}
_BINDERS[ast.TryStar] = _bind_try


def bound_names(code: str) -> frozenset[str]:
    """The names `code` binds anywhere (empty when Python cannot parse it)."""
    try:
        return frozenset(_Scan(ast.parse(code)).bound)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return frozenset()


_DEFINED = MONTY_BUILTINS | BUILTIN_NAMES

_MAP_SIGNATURES = {name: map_signature(name) for name in MAP_DEFAULTS}
"""The builtin maps, with the keywords they take (`functions.MAP_DEFAULTS`)."""

_SUBMODULES = frozenset({"os.path"})
"""The only dotted module the sandbox imports (`collections.abc` is not there)."""

_NEWLINE = re.compile(r"\r\n|\r|\n")


def check_code(
    code: str,
    functions: Mapping[str, HostFunction],
    known: Collection[str] = (),
    limit: int = 10,
) -> list[Problem]:
    """The problems found in `code` (at most `limit`, in source order); empty when it
    may run. `known` names what else is defined: the inputs, and the names an earlier
    run left in a kept session. Code that Python's own parser cannot read is passed
    on: Monty's parser reports real syntax errors before anything runs, and accepts
    syntax newer than the host's Python."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    scan = _Scan(tree)
    bound = scan.bound
    unknown = [
        n for n in scan.loads if not (n.id in _DEFINED or n.id in bound or n.id in functions or n.id in known)
    ]
    calls = [
        c
        for c in scan.calls
        if isinstance(c.func, ast.Name)
        and c.func.id in functions
        and c.func.id not in bound
        and c.func.id not in known
    ]
    maps = [
        c
        for c in scan.calls
        if isinstance(c.func, ast.Name)
        and c.func.id in _MAP_SIGNATURES
        and any(k.arg is not None and k.arg not in MAP_KEYWORDS for k in c.keywords)
        and not (c.func.id in bound or c.func.id in functions or c.func.id in known)
    ]
    callbacks = [
        c
        for c in scan.calls
        if (
            isinstance(c.func, ast.Name)
            and c.func.id in _CALLBACK_BUILTINS
            and not (c.func.id in bound or c.func.id in functions or c.func.id in known)
        )
        or (isinstance(c.func, ast.Attribute) and c.func.attr == "sort" and "sort" not in bound)
    ]
    mapped = [
        c
        for c in scan.calls
        if isinstance(c.func, ast.Name)
        and c.func.id in _MAP_SIGNATURES
        and c.args
        and not (c.func.id in bound or c.func.id in functions or c.func.id in known)
        and _not_registered(c.args[0], functions, scan.defs)
    ]
    members = _missing_members(scan) if scan.attributes and scan.imported else []
    if unknown and scan.annotations:
        in_annotations = {id(n) for a in scan.annotations for n in ast.walk(a)}
        unknown = [n for n in unknown if id(n) not in in_annotations]
    if not (unknown or scan.imports or calls or maps or callbacks or mapped or members):
        return []
    checker = _Checker(code, functions, known, bound)
    problems = [
        *checker.check(scan, unknown, calls),
        *checker.map_keywords(maps),
        *checker.callbacks(callbacks),
        *checker.map_functions(mapped),
        *checker.members(members),
    ]
    problems.sort(key=lambda p: (p.line, p.column))
    return problems[:limit]


class _Checker:
    def __init__(
        self, code: str, functions: Mapping[str, HostFunction], known: Collection[str], bound: set[str]
    ) -> None:
        self.lines = _NEWLINE.split(code)  # as Python counts lines: not at \f or \u2028
        self.functions = functions
        self.known = known
        self.bound = bound

    @functools.cached_property
    def defined(self) -> frozenset[str]:
        """Every name the code may read: only the error path needs them together."""
        return _DEFINED | self.bound | frozenset(self.known) | frozenset(self.functions)

    def check(self, scan: _Scan, unknown: list[ast.Name], calls: list[ast.Call]) -> Iterator[Problem]:
        handler_names = {
            id(n)
            for h in scan.handlers
            if h.type is not None
            for n in ast.walk(h.type)
            if type(n) is ast.Name
        }
        for node in unknown:
            if not (node.id in _PYTHON_EXCEPTIONS and id(node) in handler_names):
                yield self._unknown_name(node)
        guarded: set[int] = _guarded_imports(scan.trys, scan.type_checking) if scan.imports else set()
        for node in scan.imports:
            if id(node) not in guarded:
                yield from self._imports(node)
        for node in calls:
            fn = self.functions[typing.cast(ast.Name, node.func).id]
            if fn.signature is not None:
                yield from self._call(node, fn, fn.signature)

    # -- positions -------------------------------------------------------------------

    def _column(self, line: int, offset: int) -> int:
        """1-based character column of a UTF-8 byte offset on a 1-based line."""
        text = self.lines[line - 1] if 1 <= line <= len(self.lines) else ""
        return len(text.encode()[:offset].decode(errors="ignore")) + 1

    def _problem(self, node: ast.AST, code: str, message: str) -> Problem:
        line = getattr(node, "lineno", 1)
        column = self._column(line, getattr(node, "col_offset", 0))
        end_line, end = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
        end_column = self._column(line, end) if end_line == line and end is not None else None
        return Problem(line, column, end_column, code, message)

    # -- names and modules -----------------------------------------------------------

    def _unknown_name(self, node: ast.Name) -> Problem:
        name = node.id
        close = difflib.get_close_matches(name, sorted(self.functions) or sorted(self.defined), n=1)
        if not close:
            close = difflib.get_close_matches(name, sorted(self.defined), n=1)
        if name in _PYTHON_EXCEPTIONS:
            extra = " (the sandbox does not have this exception; catch `Exception` or `OSError` instead)"
        elif close:
            extra = f"; did you mean `{close[0]}`?"
        else:
            extra = ""
        return self._problem(node, "unresolved-reference", f"Name `{name}` used when not defined{extra}")

    def _imports(self, node: ast.Import | ast.ImportFrom) -> Iterator[Problem]:
        if isinstance(node, ast.ImportFrom):
            modules = [("." * node.level) + (node.module or "")]
        else:
            modules = [alias.name for alias in node.names]
        for module in modules:
            if module == "__future__":
                continue
            top = module.split(".")[0]
            if (
                module.startswith(".")
                or top not in MONTY_MODULES
                or ("." in module and module not in _SUBMODULES)
            ):
                yield self._problem(
                    node,
                    "unresolved-import",
                    f"Cannot resolve imported module `{module.lstrip('.') or module}`",
                )
            elif isinstance(node, ast.ImportFrom):
                has = MONTY_MODULE_NAMES.get(module)
                missing = [] if has is None else [a.name for a in node.names if a.name not in has]
                for name in missing:
                    if name in _python_names(module):  # never `*`: no module has that name
                        yield self._problem(
                            node,
                            "unresolved-import",
                            f"Module `{module}` has no member `{name}` in the sandbox",
                        )

    # -- calls to the builtin maps ---------------------------------------------------

    def map_keywords(self, calls: list[ast.Call]) -> Iterator[Problem]:
        """A keyword `parallel_map` or `flyte_map` does not take (they take Flyte's:
        `concurrency`, `group_name`, `return_exceptions`)."""
        for node in calls:
            name = typing.cast(ast.Name, node.func).id
            for keyword in node.keywords:
                if keyword.arg is None or keyword.arg in MAP_KEYWORDS:
                    continue
                close = difflib.get_close_matches(keyword.arg, MAP_KEYWORDS, n=1, cutoff=0.5)
                guess = f"; did you mean `{close[0]}`?" if close else ""
                yield self._problem(
                    keyword,
                    "unknown-argument",
                    f"`{name}()` has no parameter `{keyword.arg}`{guess} "
                    f"(signature: `{_MAP_SIGNATURES[name]}`)",
                )

    def members(self, found: list[tuple[ast.Attribute, str]]) -> Iterator[Problem]:
        """`module.name` where the sandbox's module lacks `name` (see `_missing_members`)."""
        for node, module in found:
            yield self._problem(
                node, "unresolved-attribute", f"Module `{module}` has no member `{node.attr}` in the sandbox"
            )

    def map_functions(self, calls: list[ast.Call]) -> Iterator[Problem]:
        """`parallel_map` or `flyte_map` given what is evidently not a registered function
        (see `_not_registered`)."""
        for node in calls:
            name = typing.cast(ast.Name, node.func).id
            fn = node.args[0]
            if isinstance(fn, ast.Lambda):
                what = "its first argument is a lambda"
            elif isinstance(fn, ast.Name):
                what = f"its first argument is `{fn.id}`, a function the code defines"
            else:
                registered = ", ".join(sorted(self.functions)) or "none"
                what = f"{_shown(fn)} is not a registered function (registered: {registered})"
            yield self._problem(
                fn, MAP_FUNCTION_RULE, f"`{name}()` calls a registered function once per item; {what}"
            )

    # -- registered functions called back by a builtin --------------------------------

    def callbacks(self, calls: list[ast.Call]) -> Iterator[Problem]:
        """A registered function that a builtin would call back (`key=` of `sorted`,
        `max`, `min` or `list.sort`; the function of `map` or `filter`), by name or
        from a lambda: Monty cannot make a host call from inside such a callback (it
        fails there, after the calls before it had their effects)."""
        for node in calls:
            name = node.func.id if isinstance(node.func, ast.Name) else None
            builtin = f"{name}()" if name is not None else ".sort()"
            called = [k.value for k in node.keywords if k.arg == "key"]
            if name in ("map", "filter") and node.args:
                called.append(node.args[0])
            for callback in called:
                culprit = self._host_call_in(callback)
                if culprit is not None:
                    function, where = culprit
                    yield self._problem(
                        where,
                        CALLBACK_RULE,
                        f"`{function}` is a registered function, called back by `{builtin}` here: a "
                        "registered function cannot be called from inside a callback a builtin makes",
                    )

    def _registered(self, name: str) -> bool:
        return name in self.functions and name not in self.bound and name not in self.known

    def _host_call_in(self, callback: ast.expr) -> tuple[str, ast.AST] | None:
        """The registered function `callback` is, or the first one its lambda calls."""
        if isinstance(callback, ast.Name):
            return (callback.id, callback) if self._registered(callback.id) else None
        if isinstance(callback, ast.Lambda):
            for inner in ast.walk(callback.body):
                if (
                    isinstance(inner, ast.Call)
                    and isinstance(inner.func, ast.Name)
                    and self._registered(inner.func.id)
                ):
                    return inner.func.id, inner
        return None

    # -- calls to registered functions ---------------------------------------------

    def _call(self, node: ast.Call, fn: HostFunction, sig: inspect.Signature) -> Iterator[Problem]:
        params = [p for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        var_positional = any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values())
        var_keyword = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        starred = any(isinstance(a, ast.Starred) for a in node.args)
        double_starred = any(k.arg is None for k in node.keywords)
        where = f"`{fn.name}()`"
        assigned: dict[str, ast.expr] = {}
        args = [a for a in node.args if not isinstance(a, ast.Starred)]
        if not starred:
            for param, arg in zip(positional, args, strict=False):
                assigned[param.name] = arg
            if len(args) > len(positional) and not var_positional:
                extra = args[len(positional)]
                yield self._problem(
                    extra,
                    "too-many-positional-arguments",
                    f"{where} takes {_count(len(positional), 'positional argument')} but "
                    f"{len(args)} were given{_signature_note(fn)}",
                )
        by_name = {p.name: p for p in params}
        unknown: list[ast.keyword] = []
        for keyword in node.keywords:
            if keyword.arg is None:
                continue
            param = by_name.get(keyword.arg)
            if param is None or param.kind is param.POSITIONAL_ONLY:
                if not var_keyword:
                    unknown.append(keyword)
            elif keyword.arg in assigned:
                yield self._problem(
                    keyword,
                    "parameter-already-assigned",
                    f"{where} got `{keyword.arg}` both by position and by keyword",
                )
            else:
                assigned[keyword.arg] = keyword.value
        missing = (
            [p.name for p in params if p.default is p.empty and p.name not in assigned]
            if not (starred or double_starred)
            else []
        )
        for keyword in unknown:
            # A misspelt keyword leaves its parameter missing: say so once, here.
            names = missing or [p.name for p in params if p.kind is not p.POSITIONAL_ONLY]
            close = difflib.get_close_matches(str(keyword.arg), names, n=1, cutoff=0.5)
            guess = f"; did you mean `{close[0]}`?" if close else ""
            yield self._problem(
                keyword,
                "unknown-argument",
                f"{where} has no parameter `{keyword.arg}`{guess}{_signature_note(fn)}",
            )
        if missing and not unknown:
            yield self._problem(
                node,
                "missing-argument",
                f"{where} is missing {', '.join(f'`{m}`' for m in missing)}{_signature_note(fn)}",
            )
        for name, value in assigned.items():
            annotation = by_name[name].annotation
            if not _accepts(annotation, value):
                yield self._problem(
                    value,
                    "invalid-argument-type",
                    f"Argument `{name}` of function `{fn.name}` expects `{_describe(annotation)}`, "
                    f"found `{_shown(value)}`{_issue(annotation, value)}",
                )


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _signature_note(fn: HostFunction) -> str:
    head = fn.stub().split("\n", 1)[0].removesuffix(" ...").removesuffix(":").removeprefix("def ")
    return f" (signature: `{head}`)"


def _guarded_imports(trys: list[ast.Try | ast.TryStar], type_checking: list[ast.If]) -> set[int]:
    """Imports inside a `try` that catches ImportError (or anything broader), where the
    code is ready for the module to be missing, and under `if TYPE_CHECKING:`, which
    never runs."""
    guarded: set[int] = set()
    for node in type_checking:
        for statement in node.body:
            guarded |= {id(n) for n in ast.walk(statement) if isinstance(n, (ast.Import, ast.ImportFrom))}
    catching = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
    for node in trys:
        names: set[str] = set()
        bare = False
        for handler in node.handlers:
            if handler.type is None:
                bare = True
            else:
                names |= {n.id for n in ast.walk(handler.type) if isinstance(n, ast.Name)}
        if bare or names & catching:
            for statement in node.body:
                guarded |= {id(n) for n in ast.walk(statement) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return guarded


# -- literal arguments against annotations ---------------------------------------------

_NUMBERS = (bool, int, float, complex)
_SEQUENCE_DISPLAYS = (ast.List, ast.Tuple, ast.ListComp)
_SET_DISPLAYS = (ast.Set, ast.SetComp)
_DICT_DISPLAYS = (ast.Dict, ast.DictComp)
_MAPPINGS = (collections.abc.Mapping, collections.abc.MutableMapping)
_ITERABLES = (
    collections.abc.Iterable,
    collections.abc.Collection,
    collections.abc.Container,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Reversible,
    collections.abc.Set,
    collections.abc.MutableSet,
)


def _missing_members(scan: _Scan) -> list[tuple[ast.Attribute, str]]:
    """`module.name` read where `module` was bound by `import module` (or `as` a name)
    and by nothing else, and the sandbox's module lacks `name` though Python's has it;
    not inside a `try` (the code may be ready for it to be missing)."""
    modules: dict[str, str] = {}
    for node in scan.imports:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MONTY_MODULE_NAMES:
                    modules[alias.asname or alias.name] = alias.name
    found = [
        (node, modules[name])
        for node in scan.attributes
        if (name := typing.cast(ast.Name, node.value).id) in modules
        and type(node.ctx) is ast.Load
        and node.attr not in MONTY_MODULE_NAMES[modules[name]]
        and node.attr in _python_names(modules[name])
    ]
    if not found:
        return []
    in_try = {id(n) for t in scan.trys for statement in t.body for n in ast.walk(statement)}
    return [
        (node, module)
        for node, module in found
        if typing.cast(ast.Name, node.value).id not in scan.bound_otherwise and id(node) not in in_try
    ]


@functools.cache
def _python_names(module: str) -> frozenset[str]:
    """The public names of CPython's own `module`: a name the sandbox's module lacks is
    refused only if Python has it (so a name of Monty's own is never refused)."""
    try:
        return frozenset(n for n in dir(importlib.import_module(module)) if not n.startswith("_"))
    except Exception:
        return frozenset()


def _not_registered(fn: ast.expr, functions: Mapping[str, HostFunction], defs: set[str]) -> bool:
    """Whether the first argument of `parallel_map` is evidently not a registered
    function: a lambda, a function or class the code defines, or a string that names
    no registered function. Anything else (a registered name, a variable) may be one."""
    if isinstance(fn, ast.Lambda):
        return True
    if isinstance(fn, ast.Name):
        return fn.id in defs
    if isinstance(fn, ast.Constant) and isinstance(fn.value, str):
        return fn.value not in functions
    return False


def _literal_type(node: ast.expr) -> type | None:
    """The type of a literal argument, or None when it is not evident."""
    if isinstance(node, ast.Constant):
        return type(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = node.operand
        if isinstance(operand, ast.Constant) and isinstance(operand.value, _NUMBERS):
            return int if isinstance(operand.value, bool) else type(operand.value)
        return None
    if isinstance(node, ast.JoinedStr):
        return str
    if isinstance(node, (ast.List, ast.ListComp)):
        return list
    if isinstance(node, ast.Tuple):
        return tuple
    if isinstance(node, _SET_DISPLAYS):
        return set
    if isinstance(node, _DICT_DISPLAYS):
        return dict
    return None


def _accepts(annotation: Any, node: ast.expr) -> bool:
    """False only when the literal `node` evidently cannot be a value of `annotation`
    as the sandbox sees it (models, dataclasses and TypedDicts are dicts there)."""
    kind = _literal_type(node)
    if kind is None:
        return True
    tp = _unwrap(annotation)
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        return any(_accepts(arg, node) for arg in args)
    if origin is Literal:
        if not isinstance(node, ast.Constant):
            return kind is str and isinstance(node, ast.JoinedStr) and any(isinstance(a, str) for a in args)
        return any(type(a) is kind and a == node.value for a in args)
    if tp is None or tp is type(None):
        return kind is type(None)
    simple = _SIMPLE.get(tp)
    if simple is not None:
        return kind in simple
    if is_record_class(tp):
        return kind is dict and _record_issue(tp, node) is None
    base = origin or tp
    if base in (list, tuple):
        return kind in (list, tuple) and _elements_ok(base, args, node)
    if base in (set, frozenset):
        return kind is set and _elements_ok(base, args, node)
    if base is dict:
        return kind is dict and _items_ok(args, node)
    if base in _MAPPINGS:
        return kind is dict
    if base in _ITERABLES:
        return kind not in (*_NUMBERS, type(None))
    return True  # enums, datetimes, classes of the host: the host validates them


_SIMPLE: dict[Any, tuple[type, ...]] = {
    int: (int, bool),
    float: (int, float, bool),
    complex: (int, float, complex, bool),
    bool: (bool,),
    str: (str,),
    bytes: (bytes,),
}


def _unwrap(annotation: Any) -> Any:
    """The annotation with what does not restrict a literal taken off: no annotation,
    Any, object, a type variable or an unresolved name accept anything."""
    tp: Any = annotation
    while True:
        if get_origin(tp) is typing.Annotated:
            tp = get_args(tp)[0]
        elif hasattr(tp, "__supertype__"):  # typing.NewType
            tp = tp.__supertype__
        else:
            break
    if tp in (inspect.Parameter.empty, Any, object) or isinstance(tp, (typing.TypeVar, str)):
        return Any
    if isinstance(tp, type) and issubclass(tp, Enum):
        return Any
    return typing.cast(Any, tp)


def _record_issue(cls: type[Any], node: ast.expr) -> str | None:
    """What is evidently wrong with the dict display `node` given for the record class
    `cls` (a key's literal value of the wrong type, a required key left out), or None.
    Keys that are not string literals, and `**` expansions, leave a key's absence open."""
    if not isinstance(node, ast.Dict):
        return None
    given: dict[str, ast.expr] = {}
    complete = True
    for key, value in zip(node.keys, node.values, strict=True):
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            given[key.value] = value
        else:
            complete = False
    try:
        keys = record_keys(cls)
    except Exception:  # a class whose fields cannot be read: the host validates it
        return None
    for key, annotation, _ in keys:
        value = given.get(key)
        if value is not None and not _accepts(annotation, value):
            return f"key `{key}` expects `{_describe(_unwrap(annotation))}`, found `{_shown(value)}`"
    if complete:
        missing = [key for key, _, required in keys if required and key not in given]
        if missing:
            return f"missing key{'s' if len(missing) > 1 else ''} {', '.join(f'`{m}`' for m in missing)}"
    return None


def _issue(annotation: Any, node: ast.expr) -> str:
    """Why a refused literal does not fit, when a record class says more: `": ..."`."""
    tp = _unwrap(annotation)
    if is_record_class(tp) and _literal_type(node) is dict:
        why = _record_issue(tp, node)
        if why is not None:
            return f" ({why})"
    return ""


def _elements_ok(base: type, args: tuple[Any, ...], node: ast.expr) -> bool:
    if not isinstance(node, (ast.List, ast.Tuple, ast.Set)) or not args:
        return True
    elements = [e for e in node.elts if not isinstance(e, ast.Starred)]
    if len(elements) != len(node.elts):
        return True
    if base is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        if args == ((),):
            return not elements
        return len(args) == len(elements) and all(_accepts(a, e) for a, e in zip(args, elements, strict=True))
    return all(_accepts(args[0], e) for e in elements)


def _items_ok(args: tuple[Any, ...], node: ast.expr) -> bool:
    if not isinstance(node, ast.Dict) or len(args) != 2:
        return True
    key_type, value_type = args
    for key, value in zip(node.keys, node.values, strict=True):
        if key is None:  # a ** expansion
            continue
        if not (_accepts(key_type, key) and _accepts(value_type, value)):
            return False
    return True


def _describe(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return "Any"
    if isinstance(annotation, type) and not get_args(annotation):
        if is_record_class(annotation):
            name = annotation.__name__
            return f"dict ({'an' if name[:1].lower() in 'aeiou' else 'a'} {name})"
        return annotation.__name__
    text = repr(annotation).replace("typing.", "")
    return text


def _shown(node: ast.expr) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."
