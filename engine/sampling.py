"""Sampling defaults, declared once: what each model family gets where a request (or a
setting) leaves a field unset. The server's options and the command line take theirs from
here."""

from starchat.engine.base import Sampling

DEFAULT_MAX_NEW_TOKENS = 256

STARCHAT_SAMPLING = Sampling(
    max_new_tokens=DEFAULT_MAX_NEW_TOKENS,
    temperature=0.2,
    top_p=0.95,
    top_k=50,
    repetition_penalty=None,
)
"""StarChat-alpha's model-card settings."""

DEFAULT_MODEL_SAMPLING = Sampling(
    max_new_tokens=DEFAULT_MAX_NEW_TOKENS,
    temperature=0.2,
    top_p=0.9,
    top_k=50,
    repetition_penalty=1.1,
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
