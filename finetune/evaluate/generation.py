"""Asking a model through the same engine, dialogue format, system prompt and sampling as
the editor.

A model is a local directory or Hub id (transformers backend), the offline default when
none is given, or a model served behind an OpenAI-compatible URL (vLLM, TGI, OpenAI).
"""

import os
from collections.abc import Callable
from dataclasses import dataclass, replace

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
from starchat.engine.sampling import Purpose, for_purpose
from starchat.finetune.evaluate.errors import EvalError
from starchat.prompts import Message
from starchat.server.options import Options


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


def editor_system() -> str:
    """The system prompt the editor sends with its default settings ("": no system turn, so
    the model's own chat template puts its default there)."""
    return Options().system_text()


def editor_sampling(purpose: Purpose = "code") -> Sampling:
    """The decoding the editor asks for with its default settings, for answers of `purpose`."""
    return for_purpose(Options().sampling(), purpose)


def chat(user: str, system: str | None = None) -> list[Message]:
    """A one-question dialogue: the system turn as the editor sends it (`system` None: the
    editor's default system prompt; empty: none, as the editor sends none), then `user`."""
    system = editor_system() if system is None else system
    messages: list[Message] = [{"role": "system", "content": system}] if system else []
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
    sampling: Sampling | None = None,
    seed: int | None = None,
    enough: Callable[[str], bool] | None = None,
    lookup: bool = False,
) -> Answer:
    """The reply; generation stops early once `enough(text)` holds (token count then None).
    `sampling`: the other decoding settings (default: the model's). `lookup`: prompt-lookup
    decoding, as the editor asks for answers that copy code from the prompt (the same answer,
    token for token when greedy, in fewer forward passes).

    A question too long for the model's context is an empty answer with an `error`, so
    one long prompt does not end a run; any other engine failure does (`EvalError`).
    """
    decoding = replace(
        sampling or Sampling(), max_new_tokens=max_new_tokens, temperature=temperature
    )
    request = GenerationRequest(messages, decoding, seed=seed, lookup=lookup)
    try:
        answer = await collect(engine.generate(request), enough=enough or (lambda _: False))
    except PromptTooLongError as error:
        return Answer("", None, str(error))
    except EngineError as error:
        raise EvalError(str(error)) from error
    return Answer(answer.text, answer.usage.generated_tokens if answer.usage else None)
