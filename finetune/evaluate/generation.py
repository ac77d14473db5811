"""Asking a model through the same engine, dialogue format and system prompt as the editor.

A model is a local directory or Hub id (transformers backend), the offline default when
none is given, or a model served behind an OpenAI-compatible URL (vLLM, TGI, OpenAI).
"""

import os
from collections.abc import Callable
from dataclasses import dataclass

from starchat.engine import (
    Engine,
    EngineError,
    EngineSettings,
    GenerationRequest,
    PromptTooLongError,
    Sampling,
    collect,
    create_engine,
)
from starchat.engine.default_model import DEFAULT_MODEL_NAME
from starchat.finetune.evaluate.errors import EvalError
from starchat.prompts import Message, system_prompt
from starchat.server.options import DEFAULT_SYSTEM_PROMPT as CHAT_SYSTEM_PROMPT


@dataclass(frozen=True)
class ModelSpec:
    """Which model answers: `name` None is the offline default; `url` selects the openai backend."""

    name: str | None = None
    url: str | None = None
    api_key: str | None = None

    @property
    def label(self) -> str:
        """The model as results record it: an absolute path for local folders."""
        local = os.path.abspath(os.path.expanduser(self.name)) if self.name else None
        name = local if local and os.path.isdir(local) else self.name or DEFAULT_MODEL_NAME
        return f"{name} @ {self.url}" if self.url else name

    def create(self) -> Engine:
        """The engine, not loaded yet (torch loads only when a local model does)."""
        if self.url:
            return create_engine(
                EngineSettings(
                    model=self.name, backend="openai", backend_url=self.url, api_key=self.api_key
                )
            )
        return create_engine(EngineSettings(model=self.name))


def chat(user: str, system: str | None = CHAT_SYSTEM_PROMPT) -> list[Message]:
    """A one-question dialogue, with the editor's system prompt unless `system` is None."""
    messages: list[Message] = []
    if system is not None:
        messages.append({"role": "system", "content": system_prompt(system)})
    messages.append({"role": "user", "content": user})
    return messages


async def load(engine: Engine, what: str) -> None:
    """Load `engine`, turning engine failures (no such model, endpoint down) into messages."""
    try:
        await engine.load()
    except EngineError as error:
        raise EvalError(f"{what}: {error}") from error


@dataclass(frozen=True)
class Answer:
    """A model's reply; `error` says why it is empty when the question did not fit."""

    text: str
    generated_tokens: int | None
    error: str | None = None


async def ask(
    engine: Engine,
    messages: list[Message],
    *,
    max_new_tokens: int,
    temperature: float,
    seed: int | None = None,
    enough: Callable[[str], bool] | None = None,
) -> Answer:
    """The reply; generation stops early once `enough(text)` holds (token count then None).

    A question too long for the model's context is an empty answer with an `error`, so
    one long prompt does not end a run; any other engine failure does (`EvalError`).
    """
    request = GenerationRequest(
        messages, Sampling(max_new_tokens=max_new_tokens, temperature=temperature), seed=seed
    )
    try:
        answer = await collect(engine.generate(request), enough=enough or (lambda _: False))
    except PromptTooLongError as error:
        return Answer("", None, str(error))
    except EngineError as error:
        raise EvalError(str(error)) from error
    return Answer(answer.text, answer.usage.generated_tokens if answer.usage else None)
