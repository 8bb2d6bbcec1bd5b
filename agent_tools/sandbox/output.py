"""What the sandboxed code prints: collected up to the cap, redacted before it is cut."""

from __future__ import annotations

from collections.abc import Callable

from agent_tools.base.events import Printed
from agent_tools.sandbox.emit import Emitter

__all__ = ["Output"]


class Output:
    """Collects what the code prints, up to `cap` bytes (UTF-8); the first batch past
    the cap keeps what fits and calls `overflow` once.

    With `secrets`, it keeps as many bytes more as the longest secret and redacts the
    whole before cutting it to `cap`: cutting first could keep the start of a secret.
    If the stream was stopped at the cap while a secret was being printed, the start
    of that secret that did arrive is dropped too."""

    def __init__(
        self,
        cap: int,
        overflow: Callable[[], None],
        redact: Callable[[str], str] | None = None,
        secrets: tuple[str, ...] = (),
        emitter: Emitter | None = None,
    ) -> None:
        self._emitter = emitter
        self._cap = cap
        self._room = cap  # before the overflow fires
        self._slack = max((len(v.encode()) for v in secrets), default=0) if redact else 0
        self._parts: list[str] = []
        self._overflow = overflow
        self._redact = redact
        self._secrets = secrets
        self._over = False

    def __call__(self, stream: str, text: str) -> None:
        if self._over:
            return
        size = len(text.encode("utf-8", "surrogatepass"))
        if size <= self._room:
            self._parts.append(text)
            self._room -= size
            if self._emitter is not None:
                self._emitter(Printed, text=self._emitter.text(text), stream=stream)
            return
        keep = self._room + self._slack  # the slack only ever holds what is cut below
        fits = text.encode("utf-8", "surrogatepass")[:keep].decode("utf-8", "ignore")
        self._parts.append(fits)
        if self._emitter is not None and fits:
            self._emitter(Printed, text=self._emitter.text(fits), stream=stream)
        self._over = True
        self._overflow()

    @property
    def output(self) -> str:
        text = "".join(self._parts)
        if self._redact is None:
            return text
        text = self._redact(text)
        data = text.encode("utf-8", "surrogatepass")
        if len(data) > self._cap:
            text = data[: self._cap].decode("utf-8", "ignore")
        if self._over:
            text = _drop_secret_start(text, self._secrets)
        return text


def _drop_secret_start(text: str, secrets: tuple[str, ...]) -> str:
    """`text` less a tail that is the start of a secret (a stream cut mid-secret)."""
    for secret in secrets:
        for size in range(min(len(secret) - 1, len(text)), 1, -1):
            if text.endswith(secret[:size]):
                return text[:-size]
    return text
