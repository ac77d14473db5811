"""Fitting a dialogue into a token budget: the oldest turns go first, never the question."""

from collections.abc import Callable
from typing import NamedTuple

from starchat.prompts.dialogue import Message


class PromptTooLongError(ValueError):
    """The system prompt and the question alone do not fit."""

    def __init__(self, excess: int, budget: int) -> None:
        super().__init__(
            f"the message is {excess} tokens longer than the {budget} tokens the context "
            "window leaves for the prompt"
        )
        self.excess = excess
        self.budget = budget


class Fitted(NamedTuple):
    messages: list[Message]
    dropped: int
    """How many of the oldest messages were left out."""
    tokens: int
    """The prompt's tokens with the kept messages, as `count_tokens` measured them."""


def fit_messages(
    messages: list[Message], count_tokens: Callable[[list[Message]], int], budget: int
) -> Fitted:
    """Drop the oldest exchanges until the rendered prompt fits `budget` tokens.

    The system turn and the last message (the question) are kept; earlier turns are dropped
    oldest first, a user turn together with the answer that followed it. Raises
    PromptTooLongError when even the system turn plus the question exceed the budget.
    """
    system = [m for m in messages[:1] if m["role"] == "system"]
    history = messages[len(system) : -1]
    question = messages[-1:]
    dropped = 0
    while True:
        kept = system + history + question
        used = count_tokens(kept)
        if used <= budget:
            return Fitted(kept, dropped, used)
        if not history:
            raise PromptTooLongError(used - budget, budget)
        cut = 1
        while cut < len(history) and history[cut]["role"] != "user":
            cut += 1
        history = history[cut:]
        dropped += cut
