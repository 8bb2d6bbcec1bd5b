"""The bounds of the cache's reader and writer, in one place. Code reads them as
`bounds.NAME` at call time, so a test can lower one with monkeypatch.
"""

from __future__ import annotations

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_OPS",
    "MAX_ROW_BYTES",
    "MAX_SAME_HASH",
    "MAX_TEXT",
    "PICKLE_PROTOCOL",
]


PICKLE_PROTOCOL = 5
"""Fixed rather than HIGHEST_PROTOCOL so every Python that shares the file can read it."""

MAX_ROW_BYTES = 64 * 1024 * 1024
"""The largest entry read or written, in bytes. The store does not know a template's
`max_inline_io_bytes` (10 MiB by default, measured as JSON), so this is a fixed
bound above it: a longer row is refused without being loaded, a larger result is
not stored."""

MAX_NODES = 1_000_000
"""The most values one entry may hold, counting every occurrence of a shared string
(each value the reader pushes). Bounds the reader's work and memory, and the work
of whatever walks the result next (measuring it, validating it)."""

MAX_OPS = 3 * MAX_NODES
"""The most pickle opcodes one entry may have: the pickler writes at most three per
value (a list of empty frozensets takes that many)."""

MAX_TEXT = MAX_ROW_BYTES
"""The most bytes of str, bytes and int payload one entry may expand to, counting
every occurrence of a shared one: a row of a few KB must not stand for a value of
terabytes once a later step encodes it."""

MAX_DEPTH = 256
"""How many containers deep a stored value may nest: the sandbox's default
`max_stack_depth`, deeper than any result it hands back by default. Well below
Python's recursion limit (the pickler takes two levels of it per list or dict),
so pickling the value, hashing a tuple key, comparing or encoding the value
cannot exhaust the stack."""

MAX_SAME_HASH = 8
"""The most keys of one dict (or elements of one set) with one hash value. Plain
values almost never have two; an entry crafted with thousands (ints a multiple of
2**61 - 1 apart, or tuples built to collide) would make building the dict take
quadratic time."""
