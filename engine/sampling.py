"""Sampling defaults, declared once: what each model family gets where a request (or a
setting) leaves a field unset. The server's options and the command line take theirs from
here."""

from typing import Literal

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


Purpose = Literal["chat", "code"]
"""What an answer is for: "chat" is prose for a person (chat, Explain); "code" is code that
goes into the user's files (Fix, Improve, Add docstring, Write tests) or is run (HumanEval)."""

PURPOSE_SAMPLING: dict[Purpose, Sampling] = {
    "chat": Sampling(),
    "code": Sampling(repetition_penalty=1.0),
}
"""What each purpose adds to the settings (fields the settings leave unset); the model's
defaults fill the rest. Measured by `starchat eval humaneval` and bench/default_sampling.py
(README): a repetition penalty punishes every token the prompt already holds, so code that
must reuse the names in the question (the function, its arguments, the user's code) comes
back renamed."""


def for_purpose(sampling: Sampling, purpose: Purpose) -> Sampling:
    """`sampling` (the settings' values win), with `purpose`'s defaults where it says None."""
    return merged(sampling, PURPOSE_SAMPLING[purpose])


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
