"""A served model behind an OpenAI-compatible API: vLLM, TGI, llama.cpp's server, OpenAI.

Streaming chat completions over server-sent events; closing the response on cancel lets the
serving engine abort the request. No tokenizer is at hand, so prompt sizes are estimated
(`_CHARS_PER_TOKEN`) to trim history, and the server's own usage figures are reported.
"""

import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starchat.engine.base import (
    BackendUnavailableError,
    BadRequestError,
    Chunk,
    EngineError,
    GenerationRequest,
    Health,
    ModelNotFoundError,
    PromptTooLongError,
    Sampling,
    Usage,
)
from starchat.engine.settings import STARCHAT_SAMPLING, EngineSettings, merged
from starchat.prompts import Message, fit_messages
from starchat.prompts import PromptTooLongError as _BudgetError

_CHARS_PER_TOKEN = 3.5
_DEFAULT_URL = "http://127.0.0.1:8000/v1"


class OpenAIEngine:
    def __init__(self, settings: EngineSettings) -> None:
        url = (
            settings.backend_url or os.environ.get("STARCHAT_BACKEND_URL") or _DEFAULT_URL
        ).rstrip("/")
        self._base = url if url.endswith("/v1") else url + "/v1"
        self._model = settings.model or os.environ.get("STARCHAT_OPENAI_MODEL")
        key = (
            settings.api_key
            or os.environ.get("STARCHAT_API_KEY")
            or os.environ.get("OPENAI_API_KEY")
        )
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=httpx.Timeout(10.0, read=300.0),
        )
        self._context_window = settings.context_tokens or 8192
        self._health = Health("loading", self._model or "(served model)", self._base)

    @property
    def context_window(self) -> int:
        return self._context_window

    def health(self) -> Health:
        return self._health

    def _fail(self, error: EngineError) -> EngineError:
        self._health = Health("error", self._health.model, self._base, str(error))
        return error

    async def load(self) -> None:
        """Check the endpoint answers; learn the model name when none was configured."""
        if self._health.state == "ready":
            return
        try:
            response = await self._client.get(f"{self._base}/models")
        except httpx.HTTPError as error:
            raise self._fail(
                BackendUnavailableError(f"Cannot reach the backend at {self._base}: {error}")
            ) from error
        if response.status_code >= 400:
            raise self._fail(
                BackendUnavailableError(
                    f"The backend at {self._base} answered {response.status_code} to "
                    f"GET /models: {_error_text(response.text)}"
                )
            )
        served = [m.get("id") for m in response.json().get("data", []) if isinstance(m, dict)]
        if self._model is None:
            if not served:
                raise self._fail(ModelNotFoundError(f"{self._base} serves no model"))
            self._model = str(served[0])
        self._health = Health("ready", self._model, self._base)

    def count_tokens(self, messages: list[Message]) -> int:
        return int(sum(len(m["content"]) + 8 for m in messages) / _CHARS_PER_TOKEN) + 1

    def render_prompt(self, messages: list[Message]) -> str:
        """The request body: the serving engine applies the model's own template."""
        return json.dumps({"model": self._model, "messages": messages}, indent=2)

    def sampling_defaults(self) -> Sampling:
        return STARCHAT_SAMPLING

    def fit(self, messages: list[Message], max_new_tokens: int) -> tuple[list[Message], int]:
        budget = self._context_window - max_new_tokens
        try:
            return fit_messages(messages, self.count_tokens, budget)
        except _BudgetError as error:
            raise PromptTooLongError(f"{error} (estimated)", error.excess) from error

    def generate(self, request: GenerationRequest) -> AsyncIterator[Chunk | Usage]:
        return self._generate(request)

    async def _generate(self, request: GenerationRequest) -> AsyncIterator[Chunk | Usage]:
        await self.load()
        started = time.perf_counter()
        sampling = merged(request.sampling, STARCHAT_SAMPLING)
        max_new = sampling.max_new_tokens or 256
        messages, dropped = self.fit(request.messages, max_new)
        body: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max_new,
            "temperature": sampling.temperature or 0.0,
        }
        if sampling.temperature:
            body["top_p"] = sampling.top_p
        if request.seed is not None:
            body["seed"] = request.seed
        first: float | None = None
        last = started
        chunks = 0
        usage: dict[str, Any] = {}
        finish = "length"
        try:
            async with self._client.stream(
                "POST", f"{self._base}/chat/completions", json=body
            ) as response:
                if response.status_code >= 400:
                    text = (await response.aread()).decode("utf-8", "replace")
                    error_type = BadRequestError if response.status_code < 500 else EngineError
                    raise error_type(
                        f"The backend at {self._base} answered {response.status_code}: "
                        f"{_error_text(text)}"
                    )
                async for event in _sse_events(response):
                    usage = event.get("usage") or usage
                    for choice in event.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content") or ""
                        if choice.get("finish_reason"):
                            finish = "stop" if choice["finish_reason"] == "stop" else "length"
                        if text:
                            chunks += 1
                            last = time.perf_counter()
                            first = first or last
                            yield Chunk(text)
        except httpx.HTTPError as error:
            raise BackendUnavailableError(f"Lost the backend at {self._base}: {error}") from error
        generated = int(usage.get("completion_tokens") or chunks)
        span = last - first if first is not None else 0.0
        yield Usage(
            prompt_tokens=int(usage.get("prompt_tokens") or self.count_tokens(messages)),
            generated_tokens=generated,
            time_to_first_token_s=first - started if first is not None else None,
            tokens_per_s=(generated - 1) / span if generated > 1 and span > 0 else None,
            finish_reason=finish,  # type: ignore[arg-type]
            dropped_messages=dropped,
        )

    async def close(self) -> None:
        await self._client.aclose()


async def _sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON payloads of `data:` lines until `[DONE]`; an `error` payload raises."""
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except json.JSONDecodeError as error:
            raise EngineError(f"The backend sent malformed data: {data[:200]}") from error
        if "error" in event:
            raise EngineError(f"The backend reported: {_error_text(json.dumps(event))}")
        yield event


def _error_text(body: str) -> str:
    """The message inside an OpenAI-style error body, or the body itself, shortened."""
    try:
        error = json.loads(body).get("error", body)
        message = error.get("message", error) if isinstance(error, dict) else error
    except (json.JSONDecodeError, AttributeError):
        message = body
    return str(message).strip()[:500]
