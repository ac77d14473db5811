"""One turn of a dialogue: fit the question and its code to the context window, stream the
answer, remember it.

Shared by chat and the code-action commands. The budget: the answer may use up to
`maxNewTokens` but never more than half the window; the user turn (message plus editor code)
and then the history get the rest, the code cut first, the oldest turns dropped next.
Stopping (a cancelled request, a closed connection) closes the engine's stream, which ends
decoding at the next token; what was streamed so far is kept in the conversation, because
the user saw it.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

from starchat.engine import Chunk, GenerationRequest, Usage
from starchat.prompts import Message
from starchat.server.conversations import Conversation
from starchat.server.model_host import ModelHost
from starchat.server.options import Options

BuildUser = Callable[[Callable[[str], int], int], str]
"""(count, budget) → the user turn: `count(text)` is the prompt's tokens with `text` as the
user turn; the text should keep it within `budget`."""


@dataclass(frozen=True)
class Answer:
    text: str
    usage: Usage
    dropped_messages: int


async def take_turn(
    host: ModelHost,
    options: Options,
    conversation: Conversation,
    build_user: BuildUser,
    on_text: Callable[[str], None] = lambda _: None,
    on_trimmed: Callable[[int], None] = lambda _: None,
) -> Answer:
    async with host.session() as engine:
        window = options.context_window(engine.context_window)
        reserve = min(options.max_new_tokens, window // 2)
        budget = window - reserve
        system = options.system_text()
        head: list[Message] = [{"role": "system", "content": system}] if system else []

        def count(text: str) -> int:
            return engine.count_tokens([*head, {"role": "user", "content": text}])

        user = build_user(count, budget)
        messages, dropped = conversation.prompt(system, user, engine.count_tokens, budget)
        if dropped:
            on_trimmed(dropped)
        room = window - engine.count_tokens(messages)
        sampling = replace(options.sampling(), max_new_tokens=min(options.max_new_tokens, room))
        pieces: list[str] = []
        usage: Usage | None = None
        stream = engine.generate(GenerationRequest(messages, sampling))
        try:
            async for item in stream:
                if isinstance(item, Chunk):
                    pieces.append(item.text)
                    on_text(item.text)
                else:
                    usage = item
        finally:
            # Closing the stream is what stops decoding when this turn ends early.
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
            if pieces or usage is not None:
                conversation.record(user, "".join(pieces))
    assert usage is not None, "every generation ends with its usage"
    return Answer("".join(pieces), replace(usage, dropped_messages=dropped), dropped)
