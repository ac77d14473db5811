"""What an engine is asked to load."""

from dataclasses import dataclass
from typing import Literal

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
    compile: bool = False
    """CUDA: decode with a static cache compiled by torch.compile (compiled at load)."""
