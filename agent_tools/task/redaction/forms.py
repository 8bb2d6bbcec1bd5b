"""The forms a secret takes in text (as it is, inside a repr, inside JSON) and the
replacing of them, for str and bytes.
"""

from __future__ import annotations

import json
import re
import typing
from typing import Any

__all__ = ["encode", "pattern", "replace", "replace_bytes", "secret_forms"]


def _py_inner(text: str, quote: str, ascii_only: bool) -> str:
    """The inside of `repr(text)` (or `ascii(text)`) written between `quote`s."""
    show = ascii if ascii_only else repr
    out: list[str] = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == quote:
            out.append("\\" + quote)
        elif char in "'\"":
            out.append(char)
        else:
            out.append(show(char)[1:-1])
    return "".join(out)


def _bytes_inner(data: bytes, quote: str) -> str:
    """The inside of `repr(data)` written between `quote`s."""
    out: list[str] = []
    for byte in data:
        char = chr(byte)
        if char == "\\":
            out.append("\\\\")
        elif char == quote:
            out.append("\\" + quote)
        elif char in "'\"":
            out.append(char)
        else:
            out.append(repr(bytes([byte]))[2:-1])
    return "".join(out)


def encode(text: str) -> bytes | None:
    """`text` as UTF-8; a value read with surrogate escapes as its original bytes."""
    for handler in ("strict", "surrogateescape", "surrogatepass"):
        try:
            return text.encode("utf-8", handler)
        except UnicodeEncodeError:
            continue
    return None  # pragma: no cover - surrogatepass encodes every str


def _json_inners(text: str) -> set[str]:
    """The insides of `text` as a JSON string, as the usual encoders write it: escaped
    to ASCII or not. `pydantic_core.to_json` writes every str it accepts exactly as
    `json.dumps(..., ensure_ascii=False)` does (and refuses lone surrogates), so it adds
    no form of its own; tests/test_mutation_redaction.py checks this on every code point."""
    return {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}


def _repr_inners(text: str) -> set[str]:
    inners = {_py_inner(text, quote, ascii_only) for quote in "'\"" for ascii_only in (False, True)}
    data = encode(text)
    if data is not None:
        inners |= {_bytes_inner(data, quote) for quote in "'\""}
    return inners


def secret_forms(value: str) -> set[str]:
    """`value`, its repr-escaped and JSON-escaped forms, and those escaped once more."""
    reprs = _repr_inners(value)
    jsons = _json_inners(value)
    forms = {value} | reprs | jsons
    for inner in reprs:
        forms |= _json_inners(inner)
    for inner in jsons:
        forms |= _repr_inners(inner)
    return {form for form in forms if form}


@typing.overload
def pattern(items: list[str], group: bool = False) -> re.Pattern[str]: ...
@typing.overload
def pattern(items: list[bytes], group: bool = False) -> re.Pattern[bytes]: ...
def pattern(items: list[str] | list[bytes], group: bool = False) -> re.Pattern[Any]:
    """A pattern matching any of `items` (longest first), or nothing when there are none;
    with `group`, as a group (so `split` keeps what it matched)."""
    ordered: list[Any] = sorted(items, key=len, reverse=True)
    if isinstance(ordered[0] if ordered else "", bytes):
        body = b"|".join(re.escape(item) for item in ordered) or b"(?!)"
        return re.compile(b"(" + body + b")" if group else body)
    text = "|".join(re.escape(item) for item in ordered) or "(?!)"
    return re.compile(f"({text})" if group else text)


def replace(text: str, forms: list[tuple[str, str]], start: int = 0) -> str:
    """Replace each form (longest first) in `text`, never inside a replacement."""
    for i in range(start, len(forms)):
        form, replacement = forms[i]
        if form in text:
            return replacement.join(replace(part, forms, i + 1) for part in text.split(form))
    return text


def replace_bytes(data: bytes, forms: list[tuple[bytes, bytes]], start: int = 0) -> bytes:
    for i in range(start, len(forms)):
        form, replacement = forms[i]
        if form in data:
            return replacement.join(replace_bytes(part, forms, i + 1) for part in data.split(form))
    return data
