"""The cache reader's value and text bounds, exact for every opcode it reads.

The reader counts one value for each opcode that pushes one, and the bytes of text
each carries; it refuses an entry once either count is over its bound. These tests
count both independently, from `pickletools`' decoding of the same bytes, and check
that an entry is read at exactly its count and refused one below, for a value of
every kind the store writes (mutation-tested, see benchmarks/mutation.py)."""

from __future__ import annotations

import datetime
import decimal
import pickle
import pickletools
import struct
from typing import Any

import pytest

from agent_tools.task.cache import bounds as cache_bounds
from agent_tools.task.cache import store as cache_store

PUSHES = {
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "SHORT_BINBYTES",
    "BINBYTES",
    "BINBYTES8",
    "BININT1",
    "BININT2",
    "BININT",
    "LONG1",
    "LONG4",
    "BINFLOAT",
    "NONE",
    "NEWTRUE",
    "NEWFALSE",
    "EMPTY_DICT",
    "EMPTY_LIST",
    "EMPTY_SET",
    "EMPTY_TUPLE",
    "TUPLE1",
    "TUPLE2",
    "TUPLE3",
    "TUPLE",
    "FROZENSET",
    "STACK_GLOBAL",
    "REDUCE",
    "BINGET",
    "LONG_BINGET",
}
"""The opcodes that make one value each (the others mark, fill or frame)."""


def values_made(data: bytes) -> int:
    return sum(1 for op, _, _ in pickletools.genops(data) if op.name in PUSHES)


def text_carried(data: bytes) -> int:
    """The bytes of text the opcodes carry: a str's UTF-8, a bytes' length, an int's
    two's-complement bytes (entries here repeat no object, so no BINGET)."""
    total = 0
    for op, arg, _ in pickletools.genops(data):
        assert op.name not in ("BINGET", "LONG_BINGET"), "an oracle case that repeats an object"
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"):
            total += len(str(arg).encode("utf-8", "surrogatepass"))
        elif op.name in ("SHORT_BINBYTES", "BINBYTES", "BINBYTES8"):
            total += len(bytes(arg))  # type: ignore[arg-type]
        elif op.name in ("LONG1", "LONG4"):
            total += len(_long(int(arg)))  # type: ignore[arg-type]
    return total


def _long(n: int) -> bytes:
    """`n` as LONG1 and LONG4 carry it: little-endian two's complement, shortest."""
    return n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True) if n else b""


ONE_OF_EACH: list[Any] = [
    "short",
    "é" * 200,  # BINUNICODE: over 255 bytes
    b"b",
    b"x" * 300,  # BINBYTES
    7,
    300,  # BININT2
    70_000,
    -5,  # BININT
    2**40,  # LONG1
    -(2**2100),  # LONG4
    1.5,
    None,
    True,
    False,
    {},
    [],
    {"k": 1},  # SETITEM
    ["one"],  # APPEND
    [1, "two"],
    (),
    (1,),
    (1, 2),
    (1, 2, 3),
    (1, 2, 3, 4),  # MARK ... TUPLE
    set(),
    {1, 2},
    frozenset({3}),
    datetime.date(2026, 12, 2),
    datetime.datetime(2026, 12, 2, 6, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2), "CEST")),
    datetime.time(6, 0, tzinfo=datetime.UTC),
    datetime.timedelta(days=2, seconds=3, microseconds=4),
    decimal.Decimal("12.50"),
    set(range(20)),  # past MAX_SAME_HASH keys: the keys' hashes are counted
    {i: i for i in range(1001)},  # pickle writes the 1,001st item alone, with SETITEM
    {f"k{i}": i for i in range(20)},
    frozenset(range(20)),
    # every kind again, after others: a count that restarted at one value would be short
    [
        0,
        "two",
        "é" * 200,
        b"b",
        b"x" * 300,
        7,
        300,
        -5,
        2**40,
        -(2**2100),
        1.5,
        None,
        True,
        False,
        {},
        [],
        (),
        (1,),
        (1, 2),
        (1, 2, 3),
        (1, 2, 3, 4),
        set(),
        {1, 2},
        frozenset({3}),
        datetime.date(2026, 12, 2),
        datetime.timedelta(days=2),
        decimal.Decimal("12.50"),
    ],
]


def _ids(values: list[Any]) -> list[str]:
    """Plain ASCII test ids (a tool that runs tests by id must find them again)."""
    return [f"{i}-{type(v).__name__}" for i, v in enumerate(values)]


@pytest.mark.parametrize("value", ONE_OF_EACH, ids=_ids(ONE_OF_EACH))
def test_the_value_bound_counts_one_value_per_opcode_that_makes_one(
    value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = cache_store.dumps(value)
    made = values_made(data)
    monkeypatch.setattr(cache_bounds, "MAX_NODES", made)
    got = cache_store.loads(data)
    assert got == value
    assert type(got) is type(value)
    monkeypatch.setattr(cache_bounds, "MAX_NODES", made - 1)
    with pytest.raises(
        pickle.UnpicklingError, match=rf"over the reader's bounds \(\d+ opcodes, {made - 1} values"
    ):
        cache_store.loads(data)


TEXTUAL: list[Any] = [
    "short",
    "é" * 200,
    "\ud800 lone",  # a lone surrogate: its UTF-8 (surrogatepass) is three bytes
    b"b",
    b"x" * 300,
    2**40,
    -(2**2100),
    ["ab", b"cd", 2**70, "ef"],
    decimal.Decimal("3.14159"),
    datetime.date(2026, 1, 1),
    "\udc80" + "x" * 300,  # BINUNICODE with a lone surrogate
    # every kind again, after others: a count that restarted would be short
    ["ab", "é" * 200, b"cd", b"x" * 300, 2**70, -(2**2100), "\ud800", decimal.Decimal("2.5")],
]


@pytest.mark.parametrize("value", TEXTUAL, ids=_ids(TEXTUAL))
def test_the_text_bound_counts_the_bytes_each_opcode_carries(
    value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = cache_store.dumps(value)
    carried = text_carried(data)
    assert carried > 0
    monkeypatch.setattr(cache_bounds, "MAX_TEXT", carried)
    assert cache_store.loads(data) == value
    monkeypatch.setattr(cache_bounds, "MAX_TEXT", carried - 1)
    with pytest.raises(pickle.UnpicklingError, match=rf"values, {carried - 1} bytes\)"):
        cache_store.loads(data)


# --- a value read again from the memo (BINGET) counts as a value and as its text ----------------


def _entry(*ops: bytes) -> bytes:
    return b"\x80\x05" + b"".join(ops) + b"."


def _binget(index: int) -> bytes:
    return b"h" + bytes([index]) if index < 256 else b"j" + struct.pack("<I", index)


def _read_at(data: bytes, monkeypatch: pytest.MonkeyPatch, *, values: int, text: int) -> Any:
    """Read `data` with the bounds at exactly `values` and `text`; check that one less
    of either is refused."""
    for bound, at in (("MAX_NODES", values), ("MAX_TEXT", text)):
        monkeypatch.setattr(cache_bounds, bound, at - 1)
        with pytest.raises(pickle.UnpicklingError, match="over the reader's bounds"):
            cache_store.loads(data)
        monkeypatch.setattr(cache_bounds, bound, at)
    return cache_store.loads(data)


@pytest.mark.parametrize("index_width", ["BINGET", "LONG_BINGET"])
def test_a_str_read_again_counts_its_characters(index_width: str, monkeypatch: pytest.MonkeyPatch) -> None:
    word = "héllo"  # 5 characters, 6 bytes of UTF-8
    filler = (
        [b"\x8c\x01" + bytes([65 + i % 26]) + b"\x94" for i in range(300)]
        if index_width == "LONG_BINGET"
        else []
    )
    index = len(filler)
    raw = word.encode()
    data = _entry(
        b"(",
        *filler,
        b"\x8c" + bytes([len(raw)]) + raw + b"\x94",
        _binget(index),
        b"t",
    )
    got = _read_at(data, monkeypatch, values=len(filler) + 3, text=len(filler) + len(raw) + len(word))
    assert got[-2:] == (word, word)


def test_bytes_read_again_count_their_length(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _entry(b"C\x04abcd\x94", _binget(0), b"\x86")
    assert _read_at(data, monkeypatch, values=3, text=8) == (b"abcd", b"abcd")


def test_an_int_read_again_counts_its_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    big = 2**800  # 101 bytes as a LONG1; read again, bit_length // 8 = 100
    raw = _long(big)
    data = _entry(b"\x8a" + bytes([len(raw)]) + raw + b"\x94", _binget(0), b"\x86")
    assert _read_at(data, monkeypatch, values=3, text=len(raw) + 100) == (big, big)


def test_a_made_value_read_again_counts_the_text_it_was_made_from(monkeypatch: pytest.MonkeyPatch) -> None:
    number = decimal.Decimal("123456.789")
    data = cache_store.dumps([number, number])  # the second is a BINGET of the first
    names = len("decimal") + len("Decimal")
    text = names + 2 * len(str(number))
    ops = [op.name for op, _, _ in pickletools.genops(data)]
    assert "BINGET" in ops
    assert _read_at(data, monkeypatch, values=values_made(data), text=text) == [number, number]


def test_a_float_read_again_carries_no_text(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _entry(b"G" + struct.pack(">d", 2.5) + b"\x94", _binget(0), b"\x86")
    monkeypatch.setattr(cache_bounds, "MAX_TEXT", 0)
    assert cache_store.loads(data) == (2.5, 2.5)


# --- what the reader refuses, and the words it says it with --------------------------------------

PREFIX = "the result cache refuses this entry: "
TWICE = "referenced twice (a shared reference or a cycle)"

REFUSED: list[tuple[str, bytes, str]] = [
    (
        "list-twice",
        _entry(b"]\x94", _binget(0), b"\x86"),
        f"a list {TWICE}",
    ),
    (
        "dict-twice",
        _entry(b"}\x94", _binget(0), b"\x86"),
        f"a dict {TWICE}",
    ),
    (
        "set-twice",
        _entry(b"\x8f\x94", _binget(0), b"\x86"),
        f"a set {TWICE}",
    ),
    ("unknown-opcode", _entry(b"I1\n"), "pickle opcode b'I'"),
    ("protocol-6", b"\x80\x06N.", "pickle protocol 6"),
    ("after-stop", _entry(b"N") + b"N", "it does not end where its one value does"),
    ("two-values", _entry(b"NN"), "it does not end where its one value does"),
    ("open-mark", _entry(b"(N"), "it does not end where its one value does"),
    ("str-past-end", b"\x80\x05\x8c\x09abc", "a length past the end of the entry"),
    ("bytes4-past-end", b"\x80\x05B\x09\x00\x00\x00abc", "a length past the end of the entry"),
    ("tuple-of-nothing", _entry(b"N\x86"), "a tuple of values that are not there"),
    ("appends-on-dict", _entry(b"}(Ne"), "b'e' on a dict"),
    ("setitems-on-list", _entry(b"](NNu"), "b'u' on a list"),
    ("setitems-odd", _entry(b"}(NNNu"), "b'u' on a dict"),
    ("additems-on-list", _entry(b"](N\x90"), "b'\\x90' on a list"),
    ("appends-on-set", _entry(b"\x8f(Ne"), "b'e' on a set"),
    ("additems-on-dict", _entry(b"}(NN\x90"), "b'\\x90' on a dict"),
    ("append-to-dict", _entry(b"}Na"), "APPEND to a value that is not a list"),
    ("setitem-on-list", _entry(b"]NNs"), "SETITEM on a value that is not a dict"),
    ("global-of-bytes", _entry(b"C\x02osC\x06system\x93"), "STACK_GLOBAL of a name that is not a str"),
    ("global-bytes-name", _entry(b"\x8c\x02osC\x06system\x93"), "STACK_GLOBAL of a name that is not a str"),
    ("global-bytes-module", _entry(b"C\x02os\x8c\x06system\x93"), "STACK_GLOBAL of a name that is not a str"),
    (
        "decimal-of-a-bare-str",
        _entry(b"\x8c\x07decimal\x8c\x07Decimal\x93\x8c\x031.5R"),
        "REDUCE of something other than an allowed global",
    ),
    (
        "decimal-of-a-list",
        _entry(b"\x8c\x07decimal\x8c\x07Decimal\x93]\x8c\x031.5aR"),
        "REDUCE of something other than an allowed global",
    ),
    ("reduce-of-a-str", _entry(b"\x8c\x01a)R"), "REDUCE of something other than an allowed global"),
    (
        "decimal-of-an-int",
        _entry(b"\x8c\x07decimal\x8c\x07Decimal\x93K\x01\x85R"),
        "Decimal with arguments it is never pickled with",
    ),
    ("negative-long4", _entry(b"\x8b\xff\xff\xff\xff"), "a negative length"),
]


@pytest.mark.parametrize(("data", "why"), [(d, w) for _, d, w in REFUSED], ids=[n for n, _, _ in REFUSED])
def test_what_the_reader_refuses_it_names(data: bytes, why: str) -> None:
    with pytest.raises(pickle.UnpicklingError) as info:
        cache_store.loads(data)
    assert str(info.value) == PREFIX + why


def test_a_global_outside_the_allowed_ones_is_named_cut_short() -> None:
    data = _entry(b"\x8c\x02os\x8c\x06system\x93")
    with pytest.raises(pickle.UnpicklingError) as info:
        cache_store.loads(data)
    assert str(info.value) == "the result cache refuses global os.system"
    long_name = "m" * 300
    raw = long_name.encode()
    data = _entry(b"X" + struct.pack("<I", len(raw)) + raw, b"\x8c\x01f\x93")
    with pytest.raises(pickle.UnpicklingError) as info:
        cache_store.loads(data)
    assert str(info.value) == f"the result cache refuses global {'m' * 100}.f"


# --- opcodes pickle writes only for values of 4 GiB or more, or never: read all the same ---------

CRAFTED: list[tuple[str, bytes, Any, int]] = [
    ("BINBYTES8", _entry(b"\x8e" + struct.pack("<Q", 3) + b"abc"), b"abc", 3),
    ("BINUNICODE8", _entry(b"\x8d" + struct.pack("<Q", 2) + "é".encode()), "é", 2),
    ("BINUNICODE8-surrogate", _entry(b"\x8d" + struct.pack("<Q", 3) + b"\xed\xa0\x80"), "\ud800", 3),
    ("LONG4", _entry(b"\x8b\x02\x00\x00\x00\xff\x7f"), 0x7FFF, 2),
    ("LONG4-negative", _entry(b"\x8b\x01\x00\x00\x00\xff"), -1, 1),
]


@pytest.mark.parametrize(("data", "value", "text"), [c[1:] for c in CRAFTED], ids=[c[0] for c in CRAFTED])
def test_opcodes_pickle_writes_rarely_are_read_and_counted(
    data: bytes, value: Any, text: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    got = _read_at(data, monkeypatch, values=1, text=text)
    assert got == value
    assert type(got) is type(value)


@pytest.mark.parametrize(
    "data", [_entry(b"\x8b\x00\x00\x00\x00"), _entry(b"\x8a\x00")], ids=["LONG4", "LONG1"]
)
def test_an_int_of_no_bytes_is_zero(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_bounds, "MAX_TEXT", 0)
    assert cache_store.loads(data) == 0


def _int_op(n: int) -> bytes:
    raw = _long(n)
    return b"\x8a" + bytes([len(raw)]) + raw


def test_a_dict_item_set_alone_after_a_batch_is_counted_with_its_keys() -> None:
    """A crafted entry fills a dict with SETITEMS, then SETITEM: the keys' hashes are
    counted across both, so a ninth key of one hash is refused there too."""
    same_hash = [1 + k * (2**61 - 1) for k in range(9)]  # all hash to 1
    assert len({hash(k) for k in same_hash}) == 1
    batch = b"".join(_int_op(k) + b"N" for k in same_hash[:8])
    nine = _entry(b"}(" + batch + b"u", _int_op(same_hash[8]) + b"Ns")
    with pytest.raises(pickle.UnpicklingError) as info:
        cache_store.loads(nine)
    assert str(info.value) == PREFIX + "more than 8 keys of one dict or set share a hash"
    other = _entry(b"}(" + batch + b"u", _int_op(2) + b"Ns")
    assert cache_store.loads(other) == dict.fromkeys([*same_hash[:8], 2])


def _least_text(data: bytes, monkeypatch: pytest.MonkeyPatch) -> int:
    """The smallest MAX_TEXT that reads `data`."""
    low, high = 0, len(data) * 8
    while low < high:
        mid = (low + high) // 2
        monkeypatch.setattr(cache_bounds, "MAX_TEXT", mid)
        try:
            cache_store.loads(data)
        except pickle.UnpicklingError:
            low = mid + 1
        else:
            high = mid
    monkeypatch.setattr(cache_bounds, "MAX_TEXT", len(data) * 8)
    return low


NAMED = datetime.timezone(datetime.timedelta(hours=5, minutes=30), "Indian Standard Time")
MADE_VALUES: list[tuple[Any, int]] = [
    (datetime.datetime(2026, 12, 2, 6, 0, tzinfo=NAMED), len("Indian Standard Time")),
    (datetime.time(6, 0, tzinfo=NAMED), len("Indian Standard Time")),
    (decimal.Decimal("3.14159265358979"), len("3.14159265358979")),
    (datetime.datetime(2026, 12, 2, 6, 0), 0),
    (datetime.date(2026, 12, 2), 0),
    (datetime.timedelta(days=1, seconds=2), 0),
]


@pytest.mark.parametrize(("value", "weight"), MADE_VALUES, ids=_ids([v for v, _ in MADE_VALUES]))
def test_a_made_value_read_again_carries_the_text_of_its_arguments(
    value: Any, weight: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read again from the memo, a made value counts the text it was made from (a
    timezone's name, a Decimal's digits), however deep in its arguments, and no more."""
    once, twice = cache_store.dumps([value]), cache_store.dumps([value, value])
    assert _least_text(twice, monkeypatch) - _least_text(once, monkeypatch) == weight
    assert cache_store.loads(twice) == [value, value]


def test_an_entry_over_the_row_bound_is_refused_by_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    data = cache_store.dumps("x" * 20)
    monkeypatch.setattr(cache_bounds, "MAX_ROW_BYTES", len(data) - 1)
    with pytest.raises(pickle.UnpicklingError) as info:
        cache_store.loads(data)
    assert str(info.value) == PREFIX + f"{len(data)} bytes, over {len(data) - 1}"


@pytest.mark.parametrize(("data", "kind"), [(b"\x80\x05K", "IndexError"), (b"\x80\x05J\x01", "error")])
def test_a_malformed_entry_is_refused_naming_what_broke(data: bytes, kind: str) -> None:
    with pytest.raises(pickle.UnpicklingError) as info:
        cache_store.loads(data)
    assert str(info.value) == PREFIX + f"malformed ({kind})"


def test_a_value_the_reader_builds_is_still_checked_as_the_writer_checks_it() -> None:
    value: Any = 1
    for _ in range(cache_bounds.MAX_DEPTH + 1):
        value = [value]
    data = pickle.dumps(value, protocol=5)  # pickle writes it; the store's writer would not
    with pytest.raises(TypeError, match=rf"is nested more than {cache_bounds.MAX_DEPTH} containers deep"):
        cache_store.loads(data)
