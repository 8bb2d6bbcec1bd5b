"""The result cache: the `Cache` setting, run keys, and the SQLite store."""

from __future__ import annotations

import collections
import datetime
import decimal
import os
import pickle
import sqlite3
import subprocess
import sys
import textwrap
import threading
import typing
import zoneinfo
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_tools.task.cache import (
    Cache,
    CacheStore,
    cache_key,
    default_cache_path,
    get_store,
    normalize_cache,
    set_cache_path,
)
from agent_tools.task.cache import bounds as cache_bounds
from agent_tools.task.cache import store as cache_store

# --- Cache and normalize_cache --------------------------------------------------------------------


def test_cache_defaults() -> None:
    c = Cache()
    assert (c.behavior, c.version, c.ignored_inputs, c.salt) == ("auto", None, (), "")


def test_cache_normalises_ignored_inputs() -> None:
    assert Cache(ignored_inputs="request_id").ignored_inputs == ("request_id",)
    assert Cache(ignored_inputs=("a", "b")).ignored_inputs == ("a", "b")
    as_list: Any = ["a", "b"]
    assert Cache(ignored_inputs=as_list).ignored_inputs == ("a", "b")


@pytest.mark.parametrize("behavior", ["auto", "override", "disable"])
def test_cache_accepts_each_behavior(behavior: Any) -> None:
    assert Cache(behavior=behavior).behavior == behavior


def test_cache_is_frozen_and_hashable() -> None:
    c = Cache(version="1", ignored_inputs="x")
    with pytest.raises(AttributeError):
        c.version = "2"  # type: ignore[misc]
    assert hash(c) == hash(Cache(version="1", ignored_inputs=("x",)))


def test_cache_rejects_a_bad_behavior_naming_it() -> None:
    bad: Any = "always"
    with pytest.raises(ValueError, match="'always'") as info:
        Cache(behavior=bad)
    assert "'auto'" in str(info.value) and "'disable'" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"behavior": 1}, "behavior"),
        ({"version": 2}, "version"),
        ({"salt": None}, "salt"),
        ({"ignored_inputs": 3}, "ignored_inputs"),
        ({"ignored_inputs": ("a", 1)}, "ignored_inputs"),
        ({"ignored_inputs": {"a"}}, "ignored_inputs"),
    ],
)
def test_cache_rejects_bad_types(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(TypeError, match=f"Cache.{field}"):
        Cache(**kwargs)


CHOICES = "'auto', 'override', 'disable'"
BEHAVIOR = f"Cache.behavior must be one of {CHOICES}, got"
CACHE = f"cache must be one of {CHOICES} or a Cache(...), got"


def bad(value: object) -> Any:
    """`value`, passed where the type checker would not allow it."""
    return value


@pytest.mark.parametrize(
    ("make", "kind", "message"),
    [
        (lambda: Cache(behavior=bad(1)), TypeError, f"{BEHAVIOR} 1"),
        (lambda: Cache(behavior=bad("always")), ValueError, f"{BEHAVIOR} 'always'"),
        (lambda: Cache(version=bad(2)), TypeError, "Cache.version must be a str or None, got 2"),
        (lambda: Cache(salt=bad(None)), TypeError, "Cache.salt must be a str, got None"),
        (
            lambda: Cache(ignored_inputs=bad(["a", 1])),
            TypeError,
            "Cache.ignored_inputs must be a str or a tuple of str (input names), got ['a', 1]",
        ),
        (lambda: normalize_cache("on"), ValueError, f"{CACHE} 'on'"),
        (lambda: normalize_cache(1), TypeError, f"{CACHE} 1 (int)"),
    ],
    ids=["behavior-type", "behavior-value", "version", "salt", "ignored_inputs", "cache-value", "cache-type"],
)
def test_a_bad_cache_setting_is_named_in_full(make: Any, kind: type[Exception], message: str) -> None:
    with pytest.raises(kind) as info:
        make()
    assert type(info.value) is kind
    assert str(info.value) == message


def test_cache_settings_that_are_fine_are_kept() -> None:
    assert Cache(version="v3").version == "v3"
    assert Cache(version=None, salt="s").salt == "s"
    assert Cache(ignored_inputs=bad([])).ignored_inputs == ()
    kept = Cache(ignored_inputs=bad(["a", "b"])).ignored_inputs
    assert kept == ("a", "b") and type(kept) is tuple


@pytest.mark.parametrize("behavior", ["auto", "override", "disable"])
def test_normalize_cache_turns_a_string_into_a_cache(behavior: str) -> None:
    assert normalize_cache(behavior) == Cache(behavior=behavior)  # type: ignore[arg-type]


def test_normalize_cache_passes_a_cache_through() -> None:
    c = Cache(behavior="override", version="v2", ignored_inputs="x", salt="s")
    assert normalize_cache(c) is c


def test_normalize_cache_rejects_a_bad_string() -> None:
    with pytest.raises(ValueError, match=r"cache must be one of 'auto', 'override', 'disable'.*'on'"):
        normalize_cache("on")


@pytest.mark.parametrize("value", [True, None, 1, ["auto"], {"behavior": "auto"}])
def test_normalize_cache_rejects_other_types(value: object) -> None:
    with pytest.raises(TypeError, match=r"cache must be one of .* or a Cache\(\.\.\.\), got ") as info:
        normalize_cache(value)
    assert type(value).__name__ in str(info.value)


# --- cache_key ------------------------------------------------------------------------------------

_BASE: dict[str, Any] = {
    "source": "add(x, y)",
    "inputs": {"x": 1, "y": [1, 2], "request_id": "r-1"},
    "output_type": "int",
    "functions": {"add": "(a: int, b: int) -> int", "sub": "(a: int, b: int) -> int"},
    "cache": Cache(version="1", ignored_inputs="request_id", salt="pepper"),
}


def key(**changes: Any) -> str:
    return cache_key(**{**_BASE, **changes})


def test_cache_key_is_a_stable_sha256_hex() -> None:
    k = key()
    assert len(k) == 64 and int(k, 16) >= 0
    assert key() == k
    assert key(inputs=dict(_BASE["inputs"]), functions=dict(_BASE["functions"])) == k


_PINNED_TZ = datetime.timezone(datetime.timedelta(hours=2), "CEST")
_PINNED_INPUTS: dict[str, Any] = {
    "none": None,
    "yes": True,
    "no": False,
    "int": -12345678901234567890,
    "float": 0.1,
    "str": "héllo \ud800",
    "bytes": b"\x00\xff",
    "list": [1, [2, "3"]],
    "tuple": (1, (2.5,)),
    "dict": {"b": 2, "a": {"c": None}},
    "frozen": frozenset({1, "x"}),
    "set": {3, 4},
    "datetime": datetime.datetime(2026, 12, 2, 4, 30, 15, 123456, tzinfo=_PINNED_TZ, fold=1),
    "date": datetime.date(2026, 12, 2),
    "time": datetime.time(23, 59, 1, 5, tzinfo=_PINNED_TZ),
    "delta": datetime.timedelta(days=-1, seconds=5, microseconds=7),
    "decimal": decimal.Decimal("3.1400"),
    "request_id": "ignored",
}


def test_cache_key_format_is_pinned() -> None:
    """Results stored by one release are found by the next: the key of a fixed run,
    with a value of every kind the key encodes, is this digest. A change to the
    encoding must change `keys._KEY_FORMAT`, and then this digest, on purpose."""
    digest = cache_key(
        source="total(xs)",
        inputs=_PINNED_INPUTS,
        output_type="int",
        functions={"total": "(xs: list[int]) -> int"},
        cache=Cache(version="7", ignored_inputs="request_id", salt="pepper"),
        env_vars={"MODE": "prod"},
        secrets=[("token", "API_TOKEN", "s3cret")],
    )
    assert digest == "51ec32226f01591fb1a4e3a9b6edac7afbdfa2a08c23abec946f1c2a6c855974"


@pytest.mark.parametrize(
    "changes",
    [
        {"source": "add(x, y) "},
        {"inputs": {"x": 2, "y": [1, 2], "request_id": "r-1"}},
        {"inputs": {"x": 1, "y": [1, 2, 3], "request_id": "r-1"}},
        {"inputs": {"x": 1, "y": [1, 2], "z": 0, "request_id": "r-1"}},
        {"inputs": {"x": 1, "request_id": "r-1"}},
        {"output_type": "float"},
        {"functions": {"add": "(a: int, b: int) -> float", "sub": "(a: int, b: int) -> int"}},
        {"functions": {"plus": "(a: int, b: int) -> int", "sub": "(a: int, b: int) -> int"}},
        {"functions": {"add": "(a: int, b: int) -> int"}},
        {"cache": Cache(version="2", ignored_inputs="request_id", salt="pepper")},
        {"cache": Cache(version=None, ignored_inputs="request_id", salt="pepper")},
        {"cache": Cache(version="1", ignored_inputs="request_id", salt="salt")},
        {"cache": Cache(version="1", ignored_inputs=(), salt="pepper")},
    ],
    ids=[
        "source",
        "input-value",
        "nested-input-value",
        "extra-input",
        "missing-input",
        "output-type",
        "function-signature",
        "function-name",
        "function-removed",
        "version",
        "no-version",
        "salt",
        "ignored-input-no-longer-ignored",
    ],
)
def test_cache_key_changes_with_what_decides_the_result(changes: dict[str, Any]) -> None:
    assert key(**changes) != key()


def test_cache_key_ignores_ignored_inputs() -> None:
    assert key(inputs={"x": 1, "y": [1, 2], "request_id": "r-2"}) == key()
    assert key(inputs={"x": 1, "y": [1, 2]}) == key()


def test_cache_key_tolerates_unknown_ignored_names() -> None:
    c = Cache(version="1", ignored_inputs=("request_id", "gone"), salt="pepper")
    assert key(cache=c) == key()


def test_cache_key_behavior_is_not_part_of_the_key() -> None:
    """`override` rewrites the entry `auto` reads: both must use the same key."""
    c = Cache(behavior="override", version="1", ignored_inputs="request_id", salt="pepper")
    assert key(cache=c) == key()


def test_cache_key_ignores_dict_and_set_order() -> None:
    a = {"d": {"a": 1, "b": 2}, "s": {"x", "y", "z"}, "f": frozenset({3, 1, 2})}
    b = {"f": frozenset({2, 3, 1}), "s": {"z", "y", "x"}, "d": {"b": 2, "a": 1}}
    assert key(inputs=a) == key(inputs=b)
    assert key(functions={"sub": "(a: int, b: int) -> int", "add": "(a: int, b: int) -> int"}) == key()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1.0),
        (1, True),
        (1.0, True),
        (0, False),
        (0, None),
        ("", None),
        ("1", 1),
        (b"a", "a"),
        ([1], (1,)),
        ([], ()),
        ({1}, frozenset({1})),
        ({1}, [1]),
        ({"a": 1}, [("a", 1)]),
        (["ab"], ["a", "b"]),
        ([[1], 2], [1, [2]]),
        (0.0, -0.0),
        (decimal.Decimal("1.0"), decimal.Decimal("1.00")),
        (decimal.Decimal("1"), 1),
        (datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2)),
        (
            datetime.datetime(2024, 1, 2, 3, tzinfo=datetime.UTC),
            datetime.datetime(2024, 1, 2, 4, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
        ),
        (datetime.timedelta(days=1), datetime.timedelta(seconds=1)),
        (datetime.time(1, 2), datetime.time(1, 2, tzinfo=datetime.UTC)),
    ],
)
def test_cache_key_tells_values_of_different_types_apart(a: Any, b: Any) -> None:
    assert key(inputs={"x": a}) != key(inputs={"x": b})


def test_cache_key_tells_input_names_apart() -> None:
    assert key(inputs={"x": 1, "y": 2}) != key(inputs={"x": 2, "y": 1})
    assert key(inputs={"xy": 1}) != key(inputs={"x": "y1"})


def test_cache_key_equal_plain_values_of_every_kind_agree() -> None:
    def value() -> dict[str, Any]:
        return {
            "n": None,
            "b": True,
            "i": 10**40,
            "f": 1.5,
            "s": "é\u2603",
            "y": b"\x00\xff",
            "l": [1, [2, (3,)]],
            "d": {"k": {1: "one", (1, 2): frozenset({"a"})}},
            "set": {1, 2},
            "dt": datetime.datetime(2024, 5, 6, 7, 8, 9, 10, tzinfo=datetime.UTC),
            "date": datetime.date(2024, 5, 6),
            "t": datetime.time(7, 8),
            "td": datetime.timedelta(hours=5),
            "dec": decimal.Decimal("3.14"),
        }

    assert key(inputs=value()) == key(inputs=value())
    changed = value()
    changed["d"]["k"][(1, 2)] = frozenset({"b"})
    assert key(inputs=changed) != key(inputs=value())


def test_cache_key_is_the_same_in_another_process() -> None:
    """Set and dict ordering vary with the hash seed; the key must not."""
    inputs = {"s": {"alpha", "beta", "gamma", "delta"}, "d": {"p": 1, "q": 2}}
    script = textwrap.dedent(
        """
        from agent_tools.task.cache import Cache, cache_key
        inputs = {"s": {"alpha", "beta", "gamma", "delta"}, "d": {"q": 2, "p": 1}}
        print(cache_key(source="s", inputs=inputs, output_type="int", functions={}, cache=Cache()))
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    here = cache_key(source="s", inputs=inputs, output_type="int", functions={}, cache=Cache())
    assert out.stdout.strip() == here


def test_cache_key_rejects_a_value_that_is_not_plain_data() -> None:
    with pytest.raises(TypeError, match=r"input 'x'.*object"):
        key(inputs={"x": object()})
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(TypeError, match="input 'x' is cyclic"):
        key(inputs={"x": cyclic})


# --- CacheStore -----------------------------------------------------------------------------------

PLAIN_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -(10**40),
    1.5,
    float("inf"),
    "",
    "héllo \u2603",
    b"",
    b"\x00\x01\xff",
    [],
    [1, "a", None],
    (),
    (1, (2, (3,))),
    {},
    {"a": 1, 2: "b", (1, 2): [3], None: {"x": {1, 2}}},
    set(),
    {1, "a", (1, 2)},
    frozenset({1, frozenset({2})}),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 6),
    datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
    datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=-5), "EST")),
    datetime.date(2024, 2, 29),
    datetime.time(23, 59, 59, 999999),
    datetime.time(1, 2, tzinfo=datetime.timezone(datetime.timedelta(minutes=90))),
    datetime.timedelta(days=-1, microseconds=5),
    decimal.Decimal("3.140"),
    decimal.Decimal("-Infinity"),
    {
        "nested": [{"when": datetime.date(2020, 1, 1), "amount": decimal.Decimal("9.99")}],
        "tags": frozenset({"x"}),
        "raw": (b"bytes", {1.0, 2.5}),
    },
]


@pytest.fixture
def store(tmp_path: Path) -> CacheStore:
    return CacheStore(tmp_path / "results.sqlite3")


def test_store_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c.sqlite3"
    s = CacheStore(path)
    assert s.path == path and path.exists()


def test_store_path_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = CacheStore("rel.sqlite3")
    assert s.path == tmp_path / "rel.sqlite3"


def test_store_uses_wal_mode(store: CacheStore) -> None:
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("value", PLAIN_VALUES, ids=lambda v: type(v).__name__)
def test_store_round_trips_plain_values(store: CacheStore, value: Any) -> None:
    store.put("k", value)
    hit, got = store.get("k")
    assert hit is True
    assert got == value and type(got) is type(value)
    if isinstance(value, datetime.datetime | datetime.time):
        assert got.tzinfo == value.tzinfo
        assert got.tzname() == value.tzname()  # type: ignore[union-attr]


def test_store_round_trip_keeps_nested_types(store: CacheStore) -> None:
    value = {"t": (1, [2, (3,)]), "s": {frozenset({1})}, "f": 1.0, "i": 1, "b": True}
    store.put("k", value)
    _, got = store.get("k")
    assert type(got["t"]) is tuple and type(got["t"][1]) is list and type(got["t"][1][1]) is tuple
    assert type(next(iter(got["s"]))) is frozenset
    assert [type(got[k]) for k in ("f", "i", "b")] == [float, int, bool]


def test_store_miss(store: CacheStore) -> None:
    assert store.get("absent") == (False, None)


def test_store_hit_on_a_stored_none_is_not_a_miss(store: CacheStore) -> None:
    store.put("k", None)
    assert store.get("k") == (True, None)


def test_store_put_replaces(store: CacheStore) -> None:
    store.put("k", 1)
    store.put("k", {"second": 2})
    assert store.get("k") == (True, {"second": 2})
    assert len(store) == 1


def test_store_records_created_at(store: CacheStore) -> None:
    store.put("k", 1)
    with sqlite3.connect(store.path) as conn:
        (created,) = conn.execute("SELECT created_at FROM results WHERE key = 'k'").fetchone()
    assert abs(created - datetime.datetime.now().timestamp()) < 60


def test_store_delete_clear_len(store: CacheStore) -> None:
    assert len(store) == 0
    for i in range(5):
        store.put(f"k{i}", i)
    assert len(store) == 5
    store.delete("k2")
    store.delete("never-there")
    assert len(store) == 4
    assert store.get("k2") == (False, None)
    assert store.get("k3") == (True, 3)
    store.clear()
    assert len(store) == 0
    assert store.get("k3") == (False, None)


def test_store_entries_persist_across_instances(tmp_path: Path) -> None:
    CacheStore(tmp_path / "c.sqlite3").put("k", [1, 2])
    assert CacheStore(tmp_path / "c.sqlite3").get("k") == (True, [1, 2])


class Custom:
    pass


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (Custom(), "Custom"),
        ({"a": [Custom()]}, "Custom"),
        (bytearray(b"x"), "bytearray"),
        (collections.OrderedDict[str, int](a=1), "OrderedDict"),
        (1 + 2j, "complex"),
        ({"when": datetime.datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo("UTC"))}, "ZoneInfo"),
        (len, "builtin_function_or_method"),
    ],
)
def test_store_put_rejects_values_that_are_not_plain_data(
    store: CacheStore, value: Any, type_name: str
) -> None:
    with pytest.raises(TypeError, match=type_name):
        store.put("k", value)
    assert len(store) == 0


def test_store_put_rejects_a_cycle(store: CacheStore) -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(TypeError, match="cyclic"):
        store.put("k", cyclic)


def _write_raw(path: Path, key: str, data: object) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT OR REPLACE INTO results VALUES (?, ?, 0)", (key, data))


class RunsShell:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (self.command,))  # pyright: ignore[reportDeprecated]


class EvalsCode:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (eval, ("__import__('os').getpid()",))


def test_malicious_pickle_is_refused_and_does_not_run(store: CacheStore, tmp_path: Path) -> None:
    # The payload is real: an ordinary unpickle runs the command.
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(RunsShell(f"touch {proof}")))
    assert proof.exists()

    marker = tmp_path / "pwned"
    _write_raw(store.path, "k", pickle.dumps(RunsShell(f"touch {marker}")))
    assert len(store) == 1
    assert store.get("k") == (False, None)
    assert not marker.exists()
    assert len(store) == 0  # the refused entry is gone


@pytest.mark.parametrize(
    "data",
    [
        pickle.dumps(EvalsCode()),
        pickle.dumps(EvalsCode(), protocol=0),
        pickle.dumps(Custom()),
        pickle.dumps(collections.OrderedDict(a=1)),
        pickle.dumps(bytearray(b"x")),
        b"not a pickle at all",
        b"",
        pickle.dumps([1, 2, 3])[:-3],
        "text, not bytes",
    ],
    ids=[
        "eval",
        "eval-proto0",
        "custom-class",
        "ordered-dict",
        "bytearray",
        "garbage",
        "empty",
        "truncated",
        "text",
    ],
)
def test_corrupt_or_refused_entries_are_misses_and_deleted(store: CacheStore, data: object) -> None:
    _write_raw(store.path, "bad", data)
    store.put("good", "fine")
    assert store.get("bad") == (False, None)
    assert store.get("good") == (True, "fine")
    assert len(store) == 1


def test_unpickler_refuses_globals_directly() -> None:
    with pytest.raises(pickle.UnpicklingError, match=r"(os|posix)\.system"):
        cache_store.loads(pickle.dumps(RunsShell("true")))  # pyright: ignore[reportPrivateUsage]


# --- concurrency ----------------------------------------------------------------------------------


def test_threads_share_a_store(store: CacheStore) -> None:
    threads, ops = 8, 50
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            barrier.wait()
            for i in range(ops):
                value = {"thread": t, "i": i, "items": [t] * (i % 5)}
                store.put(f"{t}-{i}", value)
                store.put("shared", t)
                assert store.get(f"{t}-{i}") == (True, value)
                hit, shared = store.get("shared")
                assert hit and shared in range(threads)
                len(store)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert len(store) == threads * ops + 1
    assert store.get("7-49") == (True, {"thread": 7, "i": 49, "items": [7] * 4})


def test_threads_with_their_own_stores(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            s = CacheStore(path)
            for i in range(50):
                s.put(f"{t}-{i}", (t, i))
                assert s.get(f"{t}-{i}") == (True, (t, i))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert len(CacheStore(path)) == 400


def _python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_second_process_reads_what_this_one_wrote(store: CacheStore) -> None:
    value = {"when": datetime.date(2024, 1, 2), "n": decimal.Decimal("1.5"), "s": frozenset({1})}
    store.put("from-parent", value)
    out = _python(
        """
        import sys
        from agent_tools.task.cache import CacheStore
        print(repr(CacheStore(sys.argv[1]).get("from-parent")))
        """,
        str(store.path),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == repr((True, value))


def test_this_process_reads_what_a_second_one_wrote(store: CacheStore) -> None:
    assert store.get("from-child") == (False, None)
    out = _python(
        """
        import sys, datetime
        from agent_tools.task.cache import CacheStore
        CacheStore(sys.argv[1]).put("from-child", {"t": (1, b"x"), "at": datetime.time(5, 6)})
        """,
        str(store.path),
    )
    assert out.returncode == 0, out.stderr
    assert store.get("from-child") == (True, {"t": (1, b"x"), "at": datetime.time(5, 6)})


def test_processes_write_concurrently(store: CacheStore) -> None:
    script = textwrap.dedent(
        """
        import sys
        from agent_tools.task.cache import CacheStore
        s = CacheStore(sys.argv[1])
        for i in range(50):
            s.put(f"{sys.argv[2]}-{i}", [sys.argv[2], i])
            assert s.get(f"{sys.argv[2]}-{i}") == (True, [sys.argv[2], i])
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(store.path), f"p{n}"], stderr=subprocess.PIPE)
        for n in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
    assert len(store) == 200
    assert store.get("p3-49") == (True, ["p3", 49])


# --- default path and the process-wide store ------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("AGENT_TOOLS_CACHE_PATH", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    yield monkeypatch
    set_cache_path(None)


def test_default_cache_path_under_home(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert default_cache_path() == tmp_path / "home" / ".cache" / "agent-tools" / "results.sqlite3"


def test_default_cache_path_honours_xdg_cache_home(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "agent-tools" / "results.sqlite3"


def test_default_cache_path_ignores_an_empty_or_relative_xdg(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home_default = tmp_path / "home" / ".cache" / "agent-tools" / "results.sqlite3"
    clean_env.setenv("XDG_CACHE_HOME", "")
    assert default_cache_path() == home_default
    clean_env.setenv("XDG_CACHE_HOME", "relative/dir")
    assert default_cache_path() == home_default


def test_default_cache_path_honours_agent_tools_cache_path(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    clean_env.setenv("AGENT_TOOLS_CACHE_PATH", str(tmp_path / "mine.db"))
    assert default_cache_path() == tmp_path / "mine.db"


def test_store_without_a_path_uses_the_default(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("AGENT_TOOLS_CACHE_PATH", str(tmp_path / "env" / "c.sqlite3"))
    assert CacheStore().path == tmp_path / "env" / "c.sqlite3"
    assert (tmp_path / "env" / "c.sqlite3").exists()


def test_get_store_is_lazy_shared_and_follows_set_cache_path(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_cache_path(None)
    clean_env.setenv("AGENT_TOOLS_CACHE_PATH", str(tmp_path / "default.sqlite3"))
    assert not (tmp_path / "default.sqlite3").exists()
    first = get_store()
    assert first.path == tmp_path / "default.sqlite3"
    assert get_store() is first

    set_cache_path(tmp_path / "other.sqlite3")
    other = get_store()
    assert other is not first and other.path == tmp_path / "other.sqlite3"
    other.put("k", 1)
    assert first.get("k") == (False, None)

    set_cache_path(None)
    assert get_store().path == tmp_path / "default.sqlite3"


def test_get_store_from_many_threads_returns_one_store(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_cache_path(None)
    clean_env.setenv("AGENT_TOOLS_CACHE_PATH", str(tmp_path / "c.sqlite3"))
    barrier = threading.Barrier(8)
    seen: list[CacheStore] = []

    def grab() -> None:
        barrier.wait()
        seen.append(get_store())

    workers = [threading.Thread(target=grab) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(seen) == 8 and all(s is seen[0] for s in seen)


# --- what the store says of a value it will not keep ------------------------------------------------


class Thing:
    """Not plain data."""


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (Thing(), "value"),
        ([Thing()], "value[0]"),
        ({"a": [1, Thing()]}, "value['a'][1]"),
        ({1: {2: Thing()}}, "value[1][2]"),
        ({Thing(): 1}, "value (a key)"),
        ({(1, Thing()): 2}, "value (a key)[1]"),
        ({"x": frozenset([Thing()])}, "value['x'] (an element)"),
        ({"k" * 78: Thing()}, "value['" + "k" * 78 + "']"),  # a key whose repr is 80 characters
        ({"k" * 79: Thing()}, "value[<a str key>]"),  # 81: named by its type instead
    ],
    ids=["top", "list", "dict-list", "nested-dicts", "key", "in-a-key", "set-element", "key-80", "key-81"],
)
def test_a_value_the_store_refuses_is_named_by_where_it_sits(
    store: CacheStore, value: Any, where: str
) -> None:
    with pytest.raises(TypeError) as info:
        store.put("k", value)
    assert str(info.value).startswith(f"{where}: a value of type Thing cannot be stored in the result cache")
    assert store.get("k") == (False, None)


def test_a_refused_value_is_named_without_the_secret_it_holds(store: CacheStore) -> None:
    # one secret is a prefix of the other: the longer is replaced first, whole
    # (named and listed so that neither their names' order nor the mapping's is the right one)
    secrets = {"A_SHORT": "hunter", "B_LONG": "hunter2-extra", "QUOTED": "it's\nme"}
    value = {"hunter2-extra": {"it's\nme": Thing()}}
    with pytest.raises(TypeError) as info:
        store.put("k", value, secrets=secrets)
    message = str(info.value)
    assert message.startswith("value['[secret B_LONG]'][\"[secret QUOTED]\"]: a value of type Thing")
    assert "hunter" not in message and "extra" not in message and "me" not in message.split(":")[0]


def test_secrets_with_surrogates_are_found_in_what_would_be_stored(store: CacheStore) -> None:
    # os.environ holds undecodable bytes as surrogate escapes (\udcff for the byte 0xff)
    escaped = "ab\udcffcd"
    with pytest.raises(TypeError, match="holds the value of secret RAW"):
        store.put("k", b"key=ab\xffcd", secrets={"RAW": escaped})  # the host's own bytes
    with pytest.raises(TypeError, match="holds the value of secret RAW"):
        store.put("k", f"key={escaped}", secrets={"RAW": escaped})  # the str, as pickle writes it
    lone = "x\ud800y"  # not a surrogate escape: found as pickle writes the str only
    with pytest.raises(TypeError, match="holds the value of secret LONE"):
        store.put("k", f"<{lone}>", secrets={"LONE": lone})
    store.put("k", "nothing secret here", secrets={"RAW": escaped, "LONE": lone})
    assert store.get("k") == (True, "nothing secret here")
    assert cache_store.holds_secret(cache_store.dumps(["ab", "cd"]), {"RAW": escaped}) is None
    with pytest.raises(TypeError, match="secret RAW"):
        cache_store.dumps(["key", escaped], {"RAW": escaped})


def test_cache_keys_of_secrets_with_surrogates_tell_values_apart() -> None:
    def with_secret(value: str) -> str:
        return cache_key(
            source="1", inputs={}, output_type="int", functions={}, cache=Cache(), secrets=[("k", "E", value)]
        )

    assert with_secret("a\udcff") != with_secret("a\udcfe")
    assert with_secret("a\udcff") == with_secret("a\udcff")


def test_inputs_after_an_ignored_one_still_decide_the_key() -> None:
    def k(b: int) -> str:
        return cache_key(
            source="b",
            inputs={"a": "request-1", "b": b},
            output_type="int",
            functions={},
            cache=Cache(ignored_inputs="a"),
        )

    assert k(1) != k(2)


def test_a_store_shows_its_path(tmp_path: Path) -> None:
    path = tmp_path / "shown.sqlite3"
    assert repr(CacheStore(path)) == f"CacheStore({str(path)!r})"


# --- the reader's and writer's bounds, at their exact values ---------------------------------------


def test_entries_are_written_with_pickle_protocol_5() -> None:
    assert cache_store.dumps([1, "a", b"b"])[:2] == b"\x80\x05"


def test_the_opcode_bound_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    data = cache_store.dumps([1, 2, 3])  # PROTO FRAME EMPTY_LIST MEMOIZE MARK BININT1 x3 APPENDS STOP
    monkeypatch.setattr(cache_bounds, "MAX_OPS", 10)
    assert cache_store.loads(data) == [1, 2, 3]
    monkeypatch.setattr(cache_bounds, "MAX_OPS", 9)
    with pytest.raises(pickle.UnpicklingError, match=r"over the reader's bounds \(9 opcodes"):
        cache_store.loads(data)


def test_the_row_size_bound_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    size = len(cache_store.dumps(b"x" * 100))
    monkeypatch.setattr(cache_bounds, "MAX_ROW_BYTES", size)
    assert cache_store.loads(cache_store.dumps(b"x" * 100)) == b"x" * 100
    with pytest.raises(TypeError) as info:
        cache_store.dumps(b"x" * 101)
    assert str(info.value) == f"the value takes {size + 1} bytes, over the result cache's {size}"


def _nested_tuple(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = (value,)
    return value


def test_tuples_nested_to_the_depth_bound_are_read_and_deeper_ones_refused() -> None:
    # written by pickle itself: the store's own writer refuses the deeper one before pickling
    deepest = _nested_tuple(cache_bounds.MAX_DEPTH)
    assert cache_store.loads(pickle.dumps(deepest, protocol=5)) == deepest
    assert cache_store.loads(pickle.dumps(((), ((),), (1, ())), protocol=5)) == ((), ((),), (1, ()))
    with pytest.raises(pickle.UnpicklingError) as info:
        cache_store.loads(pickle.dumps(_nested_tuple(cache_bounds.MAX_DEPTH + 1), protocol=5))
    assert str(info.value) == "the result cache refuses this entry: tuples nested more than 256 deep"


def test_the_same_hash_bound_is_exact() -> None:
    step = 2**61 - 1  # ints this far apart share a hash
    most = {i * step: i for i in range(cache_bounds.MAX_SAME_HASH)} | {"other": 0}
    assert cache_store.loads(cache_store.dumps(most)) == most
    too_many = {i * step: i for i in range(cache_bounds.MAX_SAME_HASH + 1)}
    with pytest.raises(TypeError, match="more than 8 keys of one dict or set share a hash"):
        cache_store.dumps(too_many)
    with pytest.raises(pickle.UnpicklingError, match="more than 8 keys of one dict or set share a hash"):
        cache_store.loads(pickle.dumps(too_many, protocol=5))


def test_lengths_are_read_at_their_full_width() -> None:
    # BINBYTES8: an 8-byte length; one past 4 GiB must not be read as its low 4 bytes (3)
    ok = b"\x80\x05\x8e" + (3).to_bytes(8, "little") + b"abc."
    assert cache_store.loads(ok) == b"abc"
    huge = b"\x80\x05\x8e" + (2**32 + 3).to_bytes(8, "little") + b"abc."
    with pytest.raises(pickle.UnpicklingError) as info:
        cache_store.loads(huge)
    assert str(info.value) == "the result cache refuses this entry: a length past the end of the entry"


def test_a_payload_that_ends_the_entry_is_read_and_the_missing_stop_refused() -> None:
    # SHORT_BINUNICODE of 3 bytes that run to the very end: the length is within the
    # entry, the entry just has no STOP
    with pytest.raises(pickle.UnpicklingError) as info:
        cache_store.loads(b"\x80\x05\x8c\x03abc")
    assert "a length past the end" not in str(info.value)
    with pytest.raises(pickle.UnpicklingError, match="a length past the end of the entry"):
        cache_store.loads(b"\x80\x05\x8c\x04abc")


def test_what_a_stored_value_may_not_be_is_said_in_full(store: CacheStore) -> None:
    with pytest.raises(TypeError) as info:
        store.put("k", {"when": [Thing()]})
    assert str(info.value) == (
        "value['when'][0]: a value of type Thing cannot be stored in the result cache; plain data "
        "only (None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset, datetime, "
        "date, time, timedelta, Decimal)"
    )
    zoned = datetime.datetime(2026, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    with pytest.raises(TypeError) as info:
        store.put("k", {"at": [zoned]})
    assert str(info.value) == (
        "value['at'][0]: a datetime with tzinfo of type ZoneInfo cannot be stored in the result "
        "cache; use a datetime.timezone (or convert to UTC)"
    )


def test_a_good_value_put_while_a_bad_row_is_dropped_survives(store: CacheStore) -> None:
    store.put("k", 1)
    with sqlite3.connect(store.path) as raw:  # a row the store cannot read: not a blob
        raw.execute("UPDATE results SET value = 'not a blob' WHERE key = 'k'")
    raw.close()
    conn = store._connection()  # pyright: ignore[reportPrivateUsage]
    other = CacheStore(store.path)

    def race(statement: str) -> None:
        # another store puts a good value just before this one drops the bad row
        if statement.upper().startswith("DELETE FROM RESULTS"):  # however the SQL is spelt
            other.put("k", 2)

    conn.set_trace_callback(race)
    try:
        assert store.get("k") == (False, None)
    finally:
        conn.set_trace_callback(None)
    assert store.get("k") == (True, 2)


def _old_file(path: Path, rows: int) -> None:
    """A store's file set back to the format before this one, holding `rows` entries."""
    CacheStore(path).put("seed", 0)
    raw = sqlite3.connect(path, isolation_level=None)
    for i in range(rows):
        raw.execute("INSERT OR REPLACE INTO results VALUES (?, ?, 0)", (f"old{i}", cache_store.dumps(i)))
    raw.execute(f"PRAGMA user_version = {cache_store._STORE_FORMAT - 1}")  # pyright: ignore[reportPrivateUsage]
    raw.close()


def test_an_upgrade_raced_by_another_store_keeps_that_stores_new_entries(tmp_path: Path) -> None:
    """Two stores open an old file at once: the second to take the write lock reads the
    version again and deletes nothing, so what the first wrote since survives."""
    path = tmp_path / "raced.sqlite3"
    _old_file(path, 3)
    conn = sqlite3.connect(path, isolation_level=None)
    other = sqlite3.connect(path, isolation_level=None)

    def race(statement: str) -> None:
        if statement.upper() == "BEGIN IMMEDIATE":  # the other store upgrades first, then writes
            other.execute("DELETE FROM results")
            other.execute(f"PRAGMA user_version = {cache_store._STORE_FORMAT}")  # pyright: ignore[reportPrivateUsage]
            other.execute("INSERT INTO results VALUES ('fresh', ?, 0)", (cache_store.dumps("kept"),))

    conn.set_trace_callback(race)
    try:
        cache_store._upgrade(conn)  # pyright: ignore[reportPrivateUsage]
    finally:
        conn.set_trace_callback(None)
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    assert version == cache_store._STORE_FORMAT  # pyright: ignore[reportPrivateUsage]
    assert conn.execute("SELECT key FROM results").fetchall() == [("fresh",)]
    conn.close()
    other.close()
    assert CacheStore(path).get("fresh") == (True, "kept")


class _FailingDelete:
    """A connection whose DELETE fails as a full disk would; everything else goes through."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql.upper().startswith("DELETE"):
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, *args)


def test_an_upgrade_that_fails_rolls_back_and_raises_its_own_error(tmp_path: Path) -> None:
    path = tmp_path / "full.sqlite3"
    _old_file(path, 4)
    conn = sqlite3.connect(path, isolation_level=None)
    failing: Any = _FailingDelete(conn)
    with pytest.raises(sqlite3.OperationalError, match=r"^database or disk is full$"):
        cache_store._upgrade(failing)  # pyright: ignore[reportPrivateUsage]
    assert not conn.in_transaction  # the write lock is let go: other stores can go on
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    assert version == cache_store._STORE_FORMAT - 1  # pyright: ignore[reportPrivateUsage]
    assert conn.execute("SELECT COUNT(*) FROM results").fetchone() == (5,)
    conn.close()
    store = CacheStore(path)  # the next store to open it upgrades it
    assert len(store) == 0
    store.put("new", 1)
    assert CacheStore(path).get("new") == (True, 1)


SHARED = (
    "is cyclic or shared: this {} occurs twice in the value, "
    "and the result cache stores only values where no container does"
)


def _shared() -> list[tuple[Any, str]]:
    empty: list[Any] = []
    one = (1,)
    inner: dict[str, Any] = {}
    return [
        ([empty, empty], "value[0] " + SHARED.format("list")),
        ([one, one], "value[0] " + SHARED.format("tuple")),
        ({"a": inner, "b": inner}, "value['a'] " + SHARED.format("dict")),
    ]


@pytest.mark.parametrize("case", range(3), ids=["empty-list", "tuple", "empty-dict"])
def test_a_container_stored_twice_is_refused_even_empty(case: int) -> None:
    value, message = _shared()[case]
    with pytest.raises(TypeError) as info:
        cache_store.dumps(value)
    assert str(info.value) == message


def test_the_empty_tuple_may_occur_twice() -> None:
    assert cache_store.loads(cache_store.dumps([(), ()])) == [(), ()]


def _nested_list(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_the_writers_depth_bound_is_exact() -> None:
    bound = cache_bounds.MAX_DEPTH
    assert cache_store.loads(cache_store.dumps(_nested_list(bound))) == _nested_list(bound)
    with pytest.raises(TypeError) as info:
        cache_store.dumps(_nested_list(bound + 1))
    assert str(info.value) == f"value{'[0]' * bound} is nested more than {bound} containers deep to store"


def _values_in(value: Any) -> int:
    """Every value in `value`, itself and a dict's keys included."""
    if isinstance(value, dict):
        items = typing.cast(dict[Any, Any], value)
        return 1 + sum(_values_in(k) + _values_in(v) for k, v in items.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return 1 + sum(_values_in(v) for v in typing.cast(Iterable[Any], value))
    return 1


def test_the_writers_value_bound_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    value = [[1, 2], (3, 4, 5), {"a": 1, "b": [6]}, {7, 8}, "text"]
    count = _values_in(value)
    assert count == 18
    monkeypatch.setattr(cache_bounds, "MAX_NODES", count)
    cache_store.dumps(value)
    monkeypatch.setattr(cache_bounds, "MAX_NODES", count - 1)
    with pytest.raises(TypeError) as info:
        cache_store.dumps(value)
    assert str(info.value) == f"the value holds more than {count - 1} values, over the result cache's bound"
