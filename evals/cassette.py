"""Record a model's traffic once, replay it offline.

A run against a real model costs money and is not reproducible; a replayed run is free,
needs no network or API key, and scores the same recorded answers again: after a grader
changed, in CI, or to check the harness itself. `RecordingModel` wraps the real model
and writes every request it saw with the response it got; `ReplayModel` answers the
same requests from that file, in order.

A cassette is one JSON file per task, mode and repetition (see `cassette_path`):

```json
{"version": 1, "model_name": "gpt-4.1-mini", "system": "openai",
 "exchanges": [{"request": [...ModelMessage...], "response": {...ModelResponse...}}]}
```

Messages and responses go through pydantic-ai's own `ModelMessagesTypeAdapter`, so
everything a response holds survives the round trip, its usage (token counts) included:
a replayed run reports the tokens of the recorded one.

Replay plays the responses back whatever the requests are. The tools still run, so
when their results differ from the recording (a domain function changed) the model's
recorded next step may no longer fit; `ReplayModel.divergences` lists the requests that
differ from the recorded ones, and `strict=True` makes that an error.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelRequest, ModelResponse
from pydantic_ai.models import CompletedStreamedResponse, Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.profiles import ModelProfile
from pydantic_ai.settings import ModelSettings

__all__ = [
    "CASSETTE_VERSION",
    "CassetteError",
    "RecordingModel",
    "ReplayModel",
    "cassette_path",
    "unplayable_cassettes",
]

CASSETTE_VERSION = 1


class CassetteError(RuntimeError):
    """A cassette is missing, unreadable, exhausted, or (strict replay) does not match the run."""


def cassette_path(directory: Path, task_id: str, mode: str, repeat: int) -> Path:
    """Where the cassette of one task, mode and repetition lives: `DIR/<task_id>/<mode>-<repeat>.json`.

    One file per run keeps recordings independent: re-recording one task (or running
    tasks concurrently) never touches another's file.
    """
    for name, value in (("task_id", task_id), ("mode", mode)):
        if not value or "/" in value or "\\" in value or value in {".", ".."}:
            raise ValueError(f"{name} {value!r} cannot be part of a cassette path")
    return Path(directory) / task_id / f"{mode}-{repeat}.json"


def unplayable_cassettes(
    directory: Path, runs: list[tuple[str, str, int]]
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Which of the cassettes `runs` (task id, mode, repetition) need cannot be replayed from
    `directory`: (the missing files, the files that are not valid cassettes with why), both in the
    order of `runs`. Checked before a replay starts, so it stops at once rather than failing run
    after run."""
    missing: list[Path] = []
    invalid: list[tuple[Path, str]] = []
    for task_id, mode, repeat in runs:
        path = cassette_path(directory, task_id, mode, repeat)
        if not path.is_file():
            missing.append(path)
            continue
        try:
            ReplayModel(path)
        except CassetteError as error:
            invalid.append((path, str(error)))
    return missing, invalid


def _dump_messages(messages: list[ModelMessage]) -> list[Any]:
    return ModelMessagesTypeAdapter.dump_python(messages, mode="json")


def _load_response(data: Any) -> ModelResponse:
    (message,) = ModelMessagesTypeAdapter.validate_python([data])
    if not isinstance(message, ModelResponse):
        raise TypeError(f"expected a response, got a {message.kind}")
    return message


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`.

    A run interrupted mid-write (Ctrl-C, a crash) then leaves the previous complete
    cassette, never a truncated JSON file that replay would choke on.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RecordingModel(WrapperModel):
    """Forwards every request to `wrapped` and records it, with its response, in `path`.

    The file is rewritten whole after each response, so it is complete (valid JSON, every
    exchange so far) at any moment; recording starts afresh, replacing an older cassette
    at the same path on the first response.
    """

    def __init__(self, wrapped: Model, path: Path) -> None:
        super().__init__(wrapped)
        self.path = Path(path)
        self.exchanges: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _record(self, messages: list[ModelMessage], response: ModelResponse) -> None:
        exchange = {"request": _dump_messages(messages), "response": _dump_messages([response])[0]}
        with self._lock:
            self.exchanges.append(exchange)
            _write_atomically(
                self.path,
                {
                    "version": CASSETTE_VERSION,
                    "model_name": self.wrapped.model_name,
                    "system": self.wrapped.system,
                    "exchanges": self.exchanges,
                },
            )

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        self._record(messages, response)
        return response

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncGenerator[StreamedResponse]:
        """A streamed response is recorded once the caller is done with it, as the response it built."""
        async with self.wrapped.request_stream(
            messages, model_settings, model_request_parameters, run_context
        ) as stream:
            yield stream
            self._record(messages, stream.get())


def _request_fingerprint(messages: list[ModelMessage]) -> list[tuple[str, str, str]]:
    """What the model was told last: the parts of the final request, without ids or timestamps."""
    last = next((m for m in reversed(messages) if isinstance(m, ModelRequest)), None)
    if last is None:
        return []
    dumped = _dump_messages([last])[0]
    return [
        (
            str(part.get("part_kind", "")),
            str(part.get("tool_name", "")),
            json.dumps(part.get("content"), sort_keys=True, default=str),
        )
        for part in dumped.get("parts", [])
    ]


class ReplayModel(Model):
    """Answers each request with the next recorded response of the cassette at `path`; no network.

    The model name and system are the recorded model's, so a replayed run is labelled
    with the model that actually produced the answers.

    Args:
        path: the cassette, as `RecordingModel` wrote it.
        strict: raise `CassetteError` when a request differs from the recorded one (the
            last message's parts: kinds, tool names, contents); by default the difference
            is only noted in `divergences`.
    """

    def __init__(self, path: Path, *, strict: bool = False) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CassetteError(f"cassette {self.path} not found: record this run first (with a real model)")
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            exchanges = data["exchanges"]
            self._responses = [_load_response(e["response"]) for e in exchanges]
            self._requests: list[Any] = [e.get("request", []) for e in exchanges]
        except (ValueError, KeyError, TypeError) as error:
            raise CassetteError(f"cassette {self.path} is not a valid cassette: {error}") from error
        self._model_name = str(data.get("model_name") or "replay")
        self._system = str(data.get("system") or "replay")
        self.strict = strict
        self.position = 0
        """How many responses have been played."""
        self.divergences: list[str] = []
        """One note per request that differed from the recorded one."""
        self._lock = threading.Lock()
        # Like FunctionModel: accept any output mode, since the recorded model decided already.
        super().__init__(
            profile=ModelProfile(supports_json_schema_output=True, supports_json_object_output=True)
        )

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def system(self) -> str:
        return self._system

    @property
    def remaining(self) -> int:
        """Responses not played yet: a complete replay ends at 0."""
        return len(self._responses) - self.position

    def _next(self, messages: list[ModelMessage]) -> ModelResponse:
        with self._lock:
            index = self.position
            if index >= len(self._responses):
                raise CassetteError(
                    f"cassette {self.path} exhausted: it holds {len(self._responses)} responses and the run "
                    f"made request {index + 1}; the run no longer matches the recording, record it again"
                )
            self.position += 1
        recorded = list(ModelMessagesTypeAdapter.validate_python(self._requests[index]))
        if _request_fingerprint(recorded) != _request_fingerprint(messages):
            note = f"request {index + 1} differs from the recorded one"
            if self.strict:
                raise CassetteError(f"cassette {self.path}: {note}")
            self.divergences.append(note)
        # A fresh copy each time: the agent may annotate the response it gets.
        return _load_response(_dump_messages([self._responses[index]])[0])

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        self.prepare_request(model_settings, model_request_parameters)
        return self._next(messages)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncGenerator[StreamedResponse]:
        """A streamed run replays too: the recorded response, as synthesized stream events."""
        _, model_request_parameters = self.prepare_request(model_settings, model_request_parameters)
        response = self._next(messages)
        yield CompletedStreamedResponse(
            response, model_request_parameters=model_request_parameters, replay_events=True
        )
