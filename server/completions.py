"""Inline completions: the code between the text before the cursor and the text after it.

One path serves the editor (`textDocument/inlineCompletion`), `starchat prompt --complete`
and `starchat eval infilling`: the prefix and suffix are cut to their token budgets around
the cursor, rendered in the model's fill-in-the-middle format (prompts/fim.toml; left to
right from the prefix alone for a model with none), decoded greedily until the answer has
all the cursor can use (prompts/completion.py), and trimmed to fit what follows.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starchat.engine import CacheSlot, CompletionRequest, Engine, Health, Sampling, collect
from starchat.prompts.completion import Infill, enough, finish, shape_at
from starchat.prompts.fim import (
    FimFormat,
    format_for_model_name,
    format_for_tokens,
    named_format,
    with_header,
)
from starchat.server.redaction import redact

_TEMPLATE_ROOM = 32
"""Tokens left for the format's own tokens and a file-path header."""

_CHARS_PER_TOKEN_BOUND = 48
"""The prompt never holds more characters than this per budgeted token: a 5 MB file is not
copied to complete one line."""

_WINDOW_STEP = 1 << 16
"""The window's start moves in steps of this many characters, not with each keystroke."""

_GRID_LINES = 16
"""The prompt's code starts on a line whose number is a multiple of this: the start stays put
while the user types, so consecutive completions share their prompt up to the cursor (and
its cached keys and values), at the cost of at most this many lines of context."""


def around(text: str, start: int, end: int, budget: "Budget") -> tuple[str, str]:
    """The text before `start` and after `end` that a completion there may use: a bounded
    window (a 5 MB file is not copied), whose start moves in steps so that consecutive
    prompts share their start (see `stable_start`)."""
    bound = (budget.prefix_tokens + budget.suffix_tokens) * _CHARS_PER_TOKEN_BOUND
    low = max(0, start - bound) // _WINDOW_STEP * _WINDOW_STEP
    return text[low:start], text[end : end + bound]


def stable_start(prefix: str, before: str) -> str:
    """`before` — the end of `prefix` that fits the budget — begun at the next line whose
    number (counted in `prefix`) is a multiple of `_GRID_LINES`; `before` itself when it is
    all of `prefix` or no such line is in it."""
    start = len(prefix) - len(before)
    if start == 0:
        return before
    line = prefix.count("\n", 0, start)
    target = (line // _GRID_LINES + 1) * _GRID_LINES
    position = start
    for _ in range(target - line):
        found = prefix.find("\n", position)
        if found < 0:
            return before
        position = found + 1
    return prefix[position:]


@dataclass(frozen=True)
class Budget:
    """Tokens of the prompt for the code before and after the cursor, and of the answer."""

    prefix_tokens: int = 1536
    suffix_tokens: int = 512
    max_new_tokens: int = 64

    def within(self, window: int) -> "Budget":
        """This budget shrunk (prefix and suffix alike) to fit a `window`-token model."""
        room = window - self.max_new_tokens - _TEMPLATE_ROOM
        wanted = self.prefix_tokens + self.suffix_tokens
        if room <= 0:
            raise ValueError(f"a {window}-token window leaves no room for a completion")
        if wanted <= room:
            return self
        scale = room / wanted
        return Budget(
            max(1, int(self.prefix_tokens * scale)),
            int(self.suffix_tokens * scale),
            self.max_new_tokens,
        )


def resolve_format(choice: str, engine: Engine, model_name: str) -> FimFormat | None:
    """The format the `fimFormat` setting means for a loaded `engine`: "auto" asks its
    tokenizer (a served model: its name), "none" turns infilling off."""
    if choice == "none":
        return None
    tokens = engine.special_tokens()
    if choice != "auto":
        chosen: FimFormat | None = named_format(choice)
    elif tokens is not None:
        chosen = format_for_tokens(tokens)
    else:
        chosen = format_for_model_name(model_name)
    return with_header(chosen, tokens) if chosen is not None else None


def completion_request(
    engine: Engine,
    fmt: FimFormat | None,
    prefix: str,
    suffix: str,
    path: str | None,
    budget: Budget,
    cache: CacheSlot | None = None,
) -> CompletionRequest:
    """The request for the middle between `prefix` and `suffix`, each cut to its budget.
    `cache`: where the previous completion of the same document kept its keys and values."""
    budget = budget.within(engine.context_window)
    before = stable_start(prefix, engine.cut(prefix, budget.prefix_tokens, "end"))
    sampling = Sampling(max_new_tokens=budget.max_new_tokens, temperature=0.0)
    if fmt is None:
        return CompletionRequest(before, bos=True, sampling=sampling, cache=cache)
    after = engine.cut(suffix, budget.suffix_tokens, "start")
    return CompletionRequest(
        fmt.render(before, after, path),
        stop=fmt.stop,
        bos=fmt.bos,
        sampling=sampling,
        cache=cache,
    )


async def complete(
    engine: Engine,
    fmt: FimFormat | None,
    prefix: str,
    suffix: str,
    path: str | None,
    budget: Budget,
    stop_early: Callable[[], bool] = lambda: False,
    cache: CacheSlot | None = None,
) -> tuple[Infill | None, str]:
    """What to offer at the cursor (None: nothing worth showing), and the model's raw text.

    Decoding stops as soon as the text holds all the cursor can use, or when `stop_early()`
    (a newer request superseded this one). The prompt is tokenized off the event loop
    (tens of milliseconds per keystroke on a 1,536-token prefix)."""
    shape = shape_at(prefix, suffix)
    request = await asyncio.to_thread(
        completion_request, engine, fmt, prefix, suffix, path, budget, cache
    )
    answer = await collect(
        engine.complete(request), enough=lambda text: stop_early() or enough(shape, text)
    )
    return finish(shape, answer.text), answer.text


def completion_status(health: Health, fmt: FimFormat | None, choice: str) -> dict[str, Any]:
    """The `completion` part of `starchat/status`."""
    status: dict[str, Any] = {
        "state": health.state,
        "model": redact(health.model),
        "infilling": fmt is not None,
        "format": fmt.name if fmt is not None else None,
    }
    if health.message:
        status["message"] = redact(health.message)
    elif health.state == "ready" and fmt is None:
        status["message"] = (
            "fill-in-the-middle is off (fimFormat: none): completing from the code before "
            "the cursor only"
            if choice == "none"
            else f"{health.model} has no fill-in-the-middle tokens: completing from the code "
            "before the cursor only"
        )
    return status
