"""One turn of a dialogue: fit the question and its code to the context window, stream the
answer, remember it. The one owner of the prompt budget: engines generate what they are given.

Shared by chat, the code-action commands and `starchat chat`. The budget: the answer may use
up to `maxNewTokens` but never more than half the window; the user turn (message plus editor
code) and then the history get the rest, the code cut first, the oldest turns dropped next.
Fitting renders the prompt many times, so it runs off the event loop. Stopping (a cancelled
request, a closed connection) closes the engine's stream, which ends decoding at the next
token; what was streamed so far is kept in the conversation, because the user saw it.

An answer cut by the limit is resumed by a turn without a new question: the model is given
the question again and its own unfinished answer as the start of its turn (assistant
prefill), so it goes on where it stopped; the conversation keeps the joined answer.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace

from starchat.engine import CacheSlot, Engine, GenerationRequest, Sampling, Usage, collect
from starchat.engine.sampling import Purpose, for_purpose
from starchat.prompts import Message
from starchat.server.conversations import Conversation
from starchat.server.model_host import ModelHost
from starchat.server.options import Options

BuildUser = Callable[[Callable[[str], int], int], str]
"""(count, budget) → the user turn: `count(text)` is the prompt's tokens with `text` as the
user turn; the text should keep it within `budget`."""


@dataclass(frozen=True)
class Budget:
    """How the context window is shared for one turn."""

    window: int
    """Tokens for prompt plus answer: the model's window, or less when the settings say so."""
    answer: int
    """The most tokens the answer may use."""

    @classmethod
    def of(cls, engine: Engine, max_new_tokens: int, context_tokens: int = 0) -> "Budget":
        window = engine.context_window
        if context_tokens:
            window = min(window, context_tokens)
        return cls(window, max_new_tokens)

    @property
    def prompt(self) -> int:
        """Tokens the prompt may use: the window less the answer's reserve (at most half)."""
        return self.window - min(self.answer, self.window // 2)


@dataclass(frozen=True)
class Turn:
    """What goes to the engine for one turn."""

    user: str
    messages: list[Message]
    dropped: int
    """Old messages left out (and forgotten) to fit the window."""
    max_new_tokens: int
    prefix: str = ""
    """The answer being resumed (the start of the model's turn); empty for a new question."""


def plan_turn(
    engine: Engine, conversation: Conversation, system: str, build_user: BuildUser, budget: Budget
) -> Turn:
    """The prompt for the next answer in `conversation`, within `budget`."""
    head: list[Message] = [{"role": "system", "content": system}] if system else []

    def count(text: str) -> int:
        return engine.count_tokens([*head, {"role": "user", "content": text}])

    user = build_user(count, budget.prompt)
    fitted = conversation.prompt(system, user, engine.count_tokens, budget.prompt)
    answer = min(budget.answer, budget.window - fitted.tokens)
    return Turn(user, fitted.messages, fitted.dropped, answer)


def plan_resume(engine: Engine, conversation: Conversation, system: str, budget: Budget) -> Turn:
    """The prompt that resumes the last answer in `conversation`, cut by the answer limit:
    its question, then the answer so far as the start of the model's turn."""
    fitted, prefix = conversation.resume(system, engine.count_tokens, budget.prompt)
    answer = min(budget.answer, budget.window - fitted.tokens)
    return Turn(fitted.messages[-1]["content"], fitted.messages, fitted.dropped, answer, prefix)


@dataclass(frozen=True)
class Answer:
    text: str
    usage: Usage
    dropped_messages: int


async def answer_turn(
    engine: Engine,
    conversation: Conversation,
    turn: Turn,
    sampling: Sampling,
    on_text: Callable[[str], None] = lambda _: None,
    lookup: bool = False,
    cache_mb: int = 0,
) -> Answer:
    """Stream the answer to `turn` and record it in `conversation`, whole or as far as it got.
    `lookup`: the answer will copy code from the prompt (GenerationRequest.lookup);
    `cache_mb` > 0: reuse and keep the conversation's key/value cache within that budget."""
    request = GenerationRequest(
        turn.messages,
        replace(sampling, max_new_tokens=turn.max_new_tokens),
        prefix=turn.prefix,
        lookup=lookup,
        cache=CacheSlot(conversation.id, cache_mb) if cache_mb else None,
    )
    pieces: list[str] = []

    def seen(text: str) -> None:
        pieces.append(text)
        on_text(text)

    answer = None
    try:
        answer = await collect(engine.generate(request), seen)
    finally:
        if pieces or answer is not None:
            text = "".join(pieces)
            usage = answer.usage if answer is not None else None
            cut = usage is not None and usage.finish_reason == "length"
            if turn.prefix:
                conversation.extend_answer(text, cut=cut)
            else:
                conversation.record(turn.user, text, cut=cut)
    assert answer.usage is not None, "every generation read to its end ends with its usage"
    return Answer(answer.text, answer.usage, turn.dropped)


async def take_turn(
    host: ModelHost,
    options: Options,
    conversation: Conversation,
    build_user: BuildUser | None,
    on_text: Callable[[str], None] = lambda _: None,
    on_trimmed: Callable[[int], None] = lambda _: None,
    *,
    copies_code: bool = False,
    purpose: Purpose = "chat",
) -> Answer:
    """One turn of the server's model, with the session's settings. `build_user` None:
    resume the conversation's last answer, which the answer limit cut. `copies_code`: the
    turn carries code the answer will largely repeat (a rewrite, a question about a
    selection), so prompt lookup pays when the settings allow it. `purpose`: "code" for
    answers that go into the user's files (engine/sampling.py: never a repetition penalty)."""
    system = options.system_text()
    async with host.session() as engine:
        budget = Budget.of(engine, options.max_new_tokens, options.context_tokens)
        if build_user is None:
            turn = await asyncio.to_thread(plan_resume, engine, conversation, system, budget)
        else:
            turn = await asyncio.to_thread(
                plan_turn, engine, conversation, system, build_user, budget
            )
        if turn.dropped:
            on_trimmed(turn.dropped)
        lookup = copies_code and options.prompt_lookup
        return await answer_turn(
            engine,
            conversation,
            turn,
            for_purpose(options.sampling(), purpose),
            on_text,
            lookup=lookup,
            cache_mb=options.kv_cache_mb,
        )
