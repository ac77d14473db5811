"""Engines: where answers come from. `create_engine(settings)` picks the backend."""

from collections.abc import Callable

from starchat.engine.base import (
    Answer,
    BackendUnavailableError,
    BadRequestError,
    CacheSlot,
    Chunk,
    CompletionRequest,
    Engine,
    EngineError,
    GenerationRequest,
    Health,
    ModelLoadError,
    ModelNotFoundError,
    PromptTooLongError,
    Sampling,
    Usage,
    collect,
)
from starchat.engine.settings import EngineSettings


def create_engine(
    settings: EngineSettings, progress: Callable[[str], None] = lambda _: None
) -> Engine:
    """An engine for `settings`, not yet loaded: call `await engine.load()` (or just generate)."""
    if settings.backend == "openai":
        from starchat.engine.openai_engine import OpenAIEngine

        return OpenAIEngine(settings)
    from starchat.engine.transformers_engine import TransformersEngine

    return TransformersEngine(settings, progress)


__all__ = [
    "Answer",
    "BackendUnavailableError",
    "BadRequestError",
    "CacheSlot",
    "Chunk",
    "CompletionRequest",
    "Engine",
    "EngineError",
    "EngineSettings",
    "GenerationRequest",
    "Health",
    "ModelLoadError",
    "ModelNotFoundError",
    "PromptTooLongError",
    "Sampling",
    "Usage",
    "collect",
    "create_engine",
]
