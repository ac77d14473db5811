"""Fitting a dialogue into a token budget: the oldest turns go first, never the question."""

from collections.abc import Callable

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


def fit_messages(
    messages: list[Message], count_tokens: Callable[[list[Message]], int], budget: int
) -> tuple[list[Message], int]:
    """Drop the oldest exchanges until the rendered prompt fits `budget` tokens.

    The system turn and the last message (the question) are kept; earlier turns are dropped
    oldest first, a user turn together with the answer that followed it. Returns the kept
    messages and how many were dropped. Raises PromptTooLongError when even the system turn
    plus the question exceed the budget.
    """
    system = [m for m in messages[:1] if m["role"] == "system"]
    history = messages[len(system) : -1]
    question = messages[-1:]
    dropped = 0
    while True:
        kept = system + history + question
        used = count_tokens(kept)
        if used <= budget:
            return kept, dropped
        if not history:
            raise PromptTooLongError(used - budget, budget)
        cut = 1
        while cut < len(history) and history[cut]["role"] != "user":
            cut += 1
        history = history[cut:]
        dropped += cut
