"""Keeping secret values out of everything a run leaves behind.

The code may read a secret (`os.getenv`) and pass it to a registered function,
which needs the real value. Everything recorded about the run (printed output,
host-call arguments and results, the result, errors and their whole chain of
causes, reports) gets each secret value replaced by `[secret NAME]`.

A secret is matched as it is and in the escaped forms it takes when a value
holding it is shown: inside a `repr` (either quote style, `ascii`, the bytes
repr) and inside JSON (`json.dumps` with and without `ensure_ascii`,
`pydantic_core.to_json`), and those forms escaped once more.

Values are walked in two passes: the first finds which parts hold a secret
(every distinct object once, cycles included), the second copies only those
parts, each distinct one once, and shares the rest unchanged. Models,
dataclasses and other objects are copied with their fields redacted; an object
that cannot be copied that way, or whose `repr` still shows a secret, becomes a
string stand-in, `[redacted TypeName]`. An exception whose text holds a secret
is copied (same class, redacted args and attributes, its own chain redacted),
or, failing that, replaced by a `RedactedError` (a `RedactedFatalToolError`
for a `FatalToolError`, which must stay one).

The text redaction must also apply before anything cuts a repr short (a cut
secret no longer matches): the run sets `errors.redacting(redactor.text)`, which
`errors.short_repr` applies to the whole repr first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent_tools.base.errors import SandboxError
from agent_tools.base.record import RunRecord
from agent_tools.task.redaction.forms import encode, pattern, replace, replace_bytes, secret_forms
from agent_tools.task.redaction.objects import RedactedError, RedactedFatalToolError, standin_exception
from agent_tools.task.redaction.walk import Walk

__all__ = ["RedactedError", "RedactedFatalToolError", "Redactor"]


# -- the forms a secret takes --------------------------------------------------------------


# -- the redactor ---------------------------------------------------------------------------


class Redactor:
    """Replaces the values of `secrets` (env var name -> value) wherever they occur."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        forms: dict[str, str] = {}  # form -> replacement
        # Longest value first, so a secret that contains another is replaced whole.
        for name, value in sorted(secrets.items(), key=lambda item: -len(item[1])):
            if value:
                for form in secret_forms(value):
                    forms.setdefault(form, f"[secret {name}]")
        self._forms = sorted(forms.items(), key=lambda pair: -len(pair[0]))
        """(form, replacement), longest first."""
        byte_forms = {b: r.encode() for f, r in self._forms if (b := encode(f)) is not None}
        self._byte_forms = sorted(byte_forms.items(), key=lambda pair: -len(pair[0]))
        replacements = sorted({r for _, r in self._forms})
        # One search for all forms (patterns that match nothing without secrets), and
        # one for the replacements, which are left alone: redacting twice changes nothing.
        self._search = pattern([f for f, _ in self._forms]).search
        self._search_bytes = pattern([f for f, _ in self._byte_forms]).search
        self._marks = pattern(replacements, group=True)
        self._byte_marks = pattern([r.encode() for r in replacements], group=True)

    def __bool__(self) -> bool:
        return bool(self._forms)

    # -- texts

    def text(self, text: str) -> str:
        """`text` with every form of every secret replaced by `[secret NAME]`. This is
        the function for `errors.redacting`."""
        if self._search(text) is None:
            return text
        parts = self._marks.split(str(text))  # text, mark, text, ...
        return "".join(part if i % 2 else self._replace(part) for i, part in enumerate(parts))

    def _replace(self, text: str) -> str:
        if self._search(text) is None:
            return text
        return replace(text, [pair for pair in self._forms if pair[0] in text])

    def contains(self, text: str) -> bool:
        """Whether `text` holds any form of any secret (outside a replacement)."""
        if self._search(text) is None:
            return False
        if self._marks.search(text) is None:
            return True
        return any(self._search(part) is not None for part in self._marks.split(text)[::2])

    def redact_bytes(self, data: bytes) -> bytes:
        """`data` with every form of every secret (UTF-8) replaced."""
        if self._search_bytes(data) is None:
            return data
        parts = self._byte_marks.split(bytes(data))
        return b"".join(part if i % 2 else self._replace_bytes(part) for i, part in enumerate(parts))

    def _replace_bytes(self, data: bytes) -> bytes:
        if self._search_bytes(data) is None:
            return data
        return replace_bytes(data, [pair for pair in self._byte_forms if pair[0] in data])

    def contains_bytes(self, data: bytes) -> bool:
        if self._search_bytes(data) is None:
            return False
        if self._byte_marks.search(data) is None:
            return True
        return any(self._search_bytes(part) is not None for part in self._byte_marks.split(data)[::2])

    # -- values

    def value(self, value: Any) -> Any:
        """`value` with secrets replaced everywhere in it: the parts that hold one are
        copied (containers, models, dataclasses and other objects keep their type where
        they can), the rest is shared unchanged; `value` itself is not modified."""
        if not self._forms:
            return value
        walk = Walk(self)
        walk.scan(value)
        return walk.top(value)

    def exception(self, exc: BaseException) -> BaseException:
        """`exc`, or a copy of its class with secrets replaced in its args, attributes and
        its whole `__cause__` / `__context__` chain (else a `RedactedError` stand-in)."""
        result = self.value(exc)
        return result if isinstance(result, BaseException) else standin_exception(exc, str(result))

    def error(self, err: SandboxError) -> None:
        """Redact an error in place: its texts, its fields, its args, its record (in
        place) and the whole chain of its causes (copies where they hold a secret)."""
        if not self._forms:
            return
        walk = Walk(self)
        walk.scan(err)
        walk.claim(err)
        walk.error_in_place(err)

    def record(self, record: RunRecord) -> None:
        """Redact a run record in place: printed output, result, every call's arguments,
        result and error, traceback, frames, and every attempt's error."""
        if not self._forms:
            return
        walk = Walk(self)
        walk.scan(record)
        walk.claim(record)
        walk.record_in_place(record)


# -- the walk -------------------------------------------------------------------------------
