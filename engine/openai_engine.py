"""A served model behind an OpenAI-compatible API: vLLM, TGI, llama.cpp's server, OpenAI.

Streaming chat completions over server-sent events; closing the response on cancel lets the
serving engine abort the request. No tokenizer is at hand, so prompt sizes are estimated
(`_CHARS_PER_TOKEN`) to trim history, and the server's own usage figures are reported.
"""

import json
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx
from starchat.engine.base import (
    BackendUnavailableError,
    BadRequestError,
    Chunk,
    CompletionRequest,
    EngineError,
    FinishReason,
    GenerationRequest,
    Health,
    ModelNotFoundError,
    PromptTooLongError,
    Side,
    Usage,
)
from starchat.engine.sampling import DEFAULT_MAX_NEW_TOKENS, STARCHAT_SAMPLING, merged
from starchat.engine.settings import EngineSettings
from starchat.prompts import Message
from starchat.prompts.files import read_text

logger = logging.getLogger(__name__)

_CHARS_PER_TOKEN = 3.5
_DEFAULT_URL = "http://127.0.0.1:8000/v1"
_PREFILL = {"continue_final_message": True, "add_generation_prompt": False}
"""vLLM's and TGI's extra fields for an answer that starts with the request's last message
(assistant prefill): the template renders it open, with no end of turn after it."""


class OpenAIEngine:
    def __init__(self, settings: EngineSettings) -> None:
        url = (
            settings.backend_url or os.environ.get("STARCHAT_BACKEND_URL") or _DEFAULT_URL
        ).rstrip("/")
        self._base = url if url.endswith("/v1") else url + "/v1"
        self._shown = _without_credentials(self._base)
        """The URL as messages and the status show it: never a password embedded in it."""
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
        self._health = Health("loading", self._model or "(served model)", self._shown)
        self._refused: set[str] = set()
        """Extra fields (`top_k`, the prefill fields) this endpoint answered 400 to."""

    @property
    def context_window(self) -> int:
        return self._context_window

    def health(self) -> Health:
        return self._health

    def _fail(self, error: EngineError) -> EngineError:
        self._health = Health("error", self._health.model, self._shown, str(error))
        return error

    async def load(self) -> None:
        """Check the endpoint answers; learn the model name when none was configured."""
        if self._health.state == "ready":
            return
        try:
            response = await self._client.get(f"{self._base}/models")
        except httpx.HTTPError as error:
            raise self._fail(
                BackendUnavailableError(f"Cannot reach the backend at {self._shown}: {error}")
            ) from error
        if response.status_code >= 400:
            raise self._fail(
                BackendUnavailableError(
                    f"The backend at {self._shown} answered {response.status_code} to "
                    f"GET /models: {_error_text(response.text)}"
                )
            )
        served = [m.get("id") for m in response.json().get("data", []) if isinstance(m, dict)]
        if self._model is None:
            if not served:
                raise self._fail(ModelNotFoundError(f"{self._shown} serves no model"))
            self._model = str(served[0])
        self._health = Health("ready", self._model, self._shown)

    def count_tokens(self, messages: list[Message], prefix: str = "") -> int:
        chars = sum(len(m["content"]) + 8 for m in messages) + len(prefix)
        return int(chars / _CHARS_PER_TOKEN) + 1

    def render_prompt(self, messages: list[Message], prefix: str = "") -> str:
        """The request body: the serving engine applies the model's own template."""
        body: dict[str, Any] = {"model": self._model, "messages": _with_prefix(messages, prefix)}
        return json.dumps(body | (_PREFILL if prefix else {}), indent=2)

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Chunk | Usage, None]:
        await self.load()
        started = time.perf_counter()
        messages = request.messages
        estimate = self.count_tokens(messages, request.prefix)
        room = self._context_window - estimate
        if room < 1:
            raise PromptTooLongError(
                f"the prompt is about {estimate} tokens (estimated); the "
                f"{self._context_window}-token context window leaves no room for an answer",
                1 - room,
            )
        body = _request_body(self._model, messages, request, min(room, _max_new(request)))
        first: float | None = None
        last = started
        chunks = 0
        usage: dict[str, Any] = {}
        finish: FinishReason = "length"
        try:
            response = await self._open(body)
            try:
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
            finally:
                await response.aclose()
        except httpx.HTTPError as error:
            raise BackendUnavailableError(f"Lost the backend at {self._shown}: {error}") from error
        generated = int(usage.get("completion_tokens") or chunks)
        span = last - first if first is not None else 0.0
        yield Usage(
            prompt_tokens=int(usage.get("prompt_tokens") or estimate),
            generated_tokens=generated,
            time_to_first_token_s=first - started if first is not None else None,
            tokens_per_s=(generated - 1) / span if generated > 1 and span > 0 else None,
            finish_reason=finish,
        )

    def special_tokens(self) -> frozenset[str] | None:
        return None

    def cut(self, text: str, tokens: int, keep: Side) -> str:
        """Estimated: the served model's tokenizer is not at hand."""
        size = max(0, int(tokens * _CHARS_PER_TOKEN))
        return (text[-size:] if size else "") if keep == "end" else text[:size]

    async def complete(self, request: CompletionRequest) -> AsyncGenerator[Chunk | Usage, None]:
        """`POST /completions` with the raw prompt (how vLLM and TGI serve base models)."""
        await self.load()
        started = time.perf_counter()
        sampling = request.sampling
        body: dict[str, Any] = {
            "model": self._model,
            "prompt": request.prompt,
            "max_tokens": sampling.max_new_tokens or DEFAULT_MAX_NEW_TOKENS,
            "temperature": sampling.temperature or 0.0,
            "stream": True,
        }
        if sampling.temperature:
            body["top_p"] = sampling.top_p
        if request.stop:
            # Token names as the text a server matches (SentencePiece's "▁" is a space);
            # OpenAI's own API takes at most four.
            body["stop"] = [token.replace("▁", "").strip() for token in request.stop][:4]
        if request.seed is not None:
            body["seed"] = request.seed
        first: float | None = None
        chunks = 0
        finish: FinishReason = "length"
        usage: dict[str, Any] = {}
        try:
            response = await self._open(body, "completions")
            try:
                async for event in _sse_events(response):
                    usage = event.get("usage") or usage
                    for choice in event.get("choices") or []:
                        if choice.get("finish_reason"):
                            finish = "stop" if choice["finish_reason"] == "stop" else "length"
                        if text := choice.get("text") or "":
                            chunks += 1
                            first = first or time.perf_counter()
                            yield Chunk(text)
            finally:
                await response.aclose()
        except httpx.HTTPError as error:
            raise BackendUnavailableError(f"Lost the backend at {self._shown}: {error}") from error
        yield Usage(
            prompt_tokens=int(usage.get("prompt_tokens") or len(request.prompt) / _CHARS_PER_TOKEN),
            generated_tokens=int(usage.get("completion_tokens") or chunks),
            time_to_first_token_s=first - started if first is not None else None,
            tokens_per_s=None,
            finish_reason=finish,
        )

    async def _open(
        self, body: dict[str, Any], endpoint: str = "chat/completions"
    ) -> httpx.Response:
        """The streaming response. An extra field the endpoint refuses (OpenAI's own API
        refuses them all) is left out, then and from then on: `top_k` by sampling without
        it, the prefill fields by asking for the rest of the answer in a message."""
        body = _without(body, self._refused)
        request = self._client.build_request("POST", f"{self._base}/{endpoint}", json=body)
        response = await self._client.send(request, stream=True)
        if response.status_code < 400:
            return response
        text = (await response.aread()).decode("utf-8", "replace")
        await response.aclose()
        refused = _refused_field(response.status_code, body, text)
        if refused is not None:
            self._refused.add(refused)
            logger.warning(
                "%s does not accept %s; %s",
                self._shown,
                refused,
                "sampling without it"
                if refused == "top_k"
                else "a cut answer is continued by asking for the rest in a message",
            )
            return await self._open(body, endpoint)
        error_type = BadRequestError if response.status_code < 500 else EngineError
        raise error_type(
            f"The backend at {self._shown} answered {response.status_code}: {_error_text(text)}"
        )

    async def close(self) -> None:
        await self._client.aclose()


def _without_credentials(url: str) -> str:
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None)) if parsed.userinfo else url


def _max_new(request: GenerationRequest) -> int:
    return merged(request.sampling, STARCHAT_SAMPLING).max_new_tokens or DEFAULT_MAX_NEW_TOKENS


def _request_body(
    model: str | None, messages: list[Message], request: GenerationRequest, max_tokens: int
) -> dict[str, Any]:
    """The chat-completions body. `top_k` is not in OpenAI's API, but vLLM, TGI and
    llama.cpp's server accept it as an extra field; OpenAI itself rejects unknown fields,
    so it is sent only when a request asks for it (the server's settings always do)."""
    sampling = merged(request.sampling, STARCHAT_SAMPLING)
    body: dict[str, Any] = {
        "model": model,
        "messages": _with_prefix(messages, request.prefix),
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens,
        "temperature": sampling.temperature or 0.0,
    }
    if sampling.temperature:
        body["top_p"] = sampling.top_p
        if request.sampling.top_k:
            body["top_k"] = request.sampling.top_k
    if request.seed is not None:
        body["seed"] = request.seed
    if request.prefix:
        body |= _PREFILL
    return body


def _with_prefix(messages: list[Message], prefix: str) -> list[Message]:
    return [*messages, {"role": "assistant", "content": prefix}] if prefix else messages


def _refused_field(status: int, body: dict[str, Any], error: str) -> str | None:
    """The extra field a 400 (vLLM, OpenAI) or 422 (TGI) answer names, if the body has it."""
    if status not in (400, 422):
        return None
    return next((f for f in ("top_k", *_PREFILL) if f in body and f in error), None)


def _without(body: dict[str, Any], refused: set[str]) -> dict[str, Any]:
    """`body` less the extra fields the endpoint refused. Without prefill, the answer so far
    stays the last assistant message and a user message asks for the rest of it."""
    if "top_k" in refused:
        body = {k: v for k, v in body.items() if k != "top_k"}
    if "continue_final_message" in body and refused & _PREFILL.keys():
        body = {k: v for k, v in body.items() if k not in _PREFILL}
        resume: Message = {"role": "user", "content": read_text("continue.txt").strip()}
        body["messages"] = [*body["messages"], resume]
    return body


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
