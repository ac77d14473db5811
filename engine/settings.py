"""What an engine is asked to load, and the sampling each model family gets by default."""

from dataclasses import dataclass
from typing import Literal

from starchat.engine.base import Sampling

Backend = Literal["transformers", "openai"]


@dataclass(frozen=True)
class EngineSettings:
    """Which model to serve and where.

    `model`: a Hub id or local directory (transformers), or the served model name (openai);
    None serves the offline default model. `context_tokens` caps the context window below
    the model's own.
    """

    model: str | None = None
    backend: Backend = "transformers"
    backend_url: str | None = None
    api_key: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    context_tokens: int | None = None


STARCHAT_SAMPLING = Sampling(
    max_new_tokens=256, temperature=0.2, top_p=0.95, top_k=50, repetition_penalty=None
)
"""StarChat-alpha's model-card settings."""

DEFAULT_MODEL_SAMPLING = Sampling(
    max_new_tokens=256, temperature=0.2, top_p=0.9, top_k=50, repetition_penalty=1.1
)
"""SmolLM2-135M-Instruct: greedy decoding loops; chosen by bench/default_sampling.py."""


def merged(request: Sampling, defaults: Sampling) -> Sampling:
    """The request's settings, with the model's defaults where the request says None."""
    return Sampling(
        **{
            name: getattr(request, name)
            if getattr(request, name) is not None
            else getattr(defaults, name)
            for name in Sampling.__dataclass_fields__
        }
    )
