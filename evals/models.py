"""The model an eval runs against: the offline oracle, or any pydantic-ai model,
optionally on an OpenAI-compatible server (vLLM, Ollama, llama.cpp, ...), with
retries on rate limits and server errors."""

from __future__ import annotations

import os

import tenacity
from pydantic_ai.exceptions import ModelAPIError, ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters, infer_model
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

__all__ = ["RetryingModel", "make_model"]

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


def _worth_retrying(exc: BaseException) -> bool:
    if isinstance(exc, ModelHTTPError):
        return exc.status_code in RETRY_STATUSES
    return isinstance(exc, (ModelAPIError, ConnectionError, TimeoutError))


class RetryingModel(WrapperModel):
    """Retries a request that failed with a rate limit, a server error or a lost
    connection, with exponential backoff (tenacity)."""

    def __init__(self, wrapped: Model, *, attempts: int = 6, max_wait: float = 60.0) -> None:
        super().__init__(wrapped)
        self.attempts = attempts
        self.max_wait = max_wait

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(_worth_retrying),
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=tenacity.wait_exponential(multiplier=1, max=self.max_wait),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self.wrapped.request(messages, model_settings, model_request_parameters)
        raise AssertionError("unreachable")  # pragma: no cover


def make_model(name: str, *, base_url: str | None = None, api_key_env: str | None = None) -> Model:
    """A pydantic-ai model from its name (`openai:gpt-4.1-mini`, ...). With `base_url`,
    an OpenAI-compatible server; `api_key_env` names the variable holding its key."""
    api_key = os.environ.get(api_key_env) if api_key_env else None
    if api_key_env and api_key is None:
        raise ValueError(f"--api-key-env {api_key_env}: that environment variable is not set")
    if base_url is not None:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        model_name = name.split(":", 1)[1] if ":" in name else name
        provider = OpenAIProvider(base_url=base_url, api_key=api_key or "not-needed")
        return RetryingModel(OpenAIChatModel(model_name, provider=provider))
    if api_key is not None and name.startswith("openai:"):
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        return RetryingModel(OpenAIChatModel(name.split(":", 1)[1], provider=OpenAIProvider(api_key=api_key)))
    return RetryingModel(infer_model(name))
