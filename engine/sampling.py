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
    repetition_penalty=1.0,
)
"""SmolLM2-135M-Instruct. Until issue 16 it had a repetition penalty of 1.1 against loops;
measured with the editor's prompts (bench/default_sampling.py, `starchat eval humaneval`,
README) the penalty cost more than it saved: HumanEval greedy on the first 40 tasks 0/40
with it, 6/40 without (it renamed the requested function: every token of the prompt is
penalised, its name too); chat answers ran to the length limit three times as often (38%
against 12%, temperature 0.2) with as few repeated lines; Fix and Improve kept the
function's name 88% of the time with it, 100% without."""


Purpose = Literal["chat", "code"]
"""What an answer is for: "chat" is prose for a person (chat, Explain); "code" is code that
goes into the user's files (Fix, Improve, Add docstring, Write tests) or is run (HumanEval)."""

PURPOSE_SAMPLING: dict[Purpose, Sampling] = {
    "chat": Sampling(),
    "code": Sampling(repetition_penalty=1.0),
}
"""What each purpose adds to the settings (fields the settings leave unset); the model's
defaults fill the rest. Code never gets a repetition penalty, whatever a model's defaults
say: it punishes every token the prompt already holds, so code that must reuse the names in
the question (the function, its arguments, the user's code) comes back renamed. Measured by
`starchat eval humaneval` and bench/default_sampling.py (README); chat keeps the model's
defaults (for the offline model the same measurement removed its penalty too)."""


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
