"""Server-side conversations: multi-turn chat history, trimmed to the context window.

A chat request without a `conversationId` starts a conversation; later requests name it and
the model sees the earlier turns. When prompt plus answer would not fit the model's context
window, the oldest exchanges are dropped (for good — the next turn would not fit them
either) and the client is told. The system prompt is not stored: it comes from the current
settings at each turn.

A client that kept the history itself (the VS Code panel does, across window reloads and
server restarts) seeds a new conversation with it; an answer cut by the answer limit can be
resumed, the model going on from its own unfinished text.
"""

import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from starchat.engine import PromptTooLongError
from starchat.prompts import Fitted, Message, fit_messages
from starchat.prompts import PromptTooLongError as BudgetError
from starchat.server.lsp.errors import UnknownConversationError, UserInputError

MAX_CONVERSATIONS = 200
"""Beyond this many, the least recently used conversation is forgotten."""

MAX_SEED_MESSAGES = 200
MAX_SEED_CHARS = 400_000
"""A seeded history is refused beyond these: some 100,000 tokens, more than a code model's
window holds (the first turn trims it to the window anyway), so a client cannot make the
server hold more than its ordinary conversations would."""


@dataclass
class Conversation:
    id: str
    history: list[Message] = field(default_factory=list)
    """Alternating user and assistant turns, oldest first, without the system prompt."""
    cut: bool = False
    """The last answer was cut by the answer limit, so it may be resumed. A seeded history's
    last answer counts as cut: the client, which saw how it ended, asks to resume it."""

    def prompt(
        self,
        system: str,
        user: str,
        count_tokens: Callable[[list[Message]], int],
        budget: int,
    ) -> Fitted:
        """The messages for the next answer, fitted to `budget` tokens; the old ones dropped
        to fit leave the history too."""
        return self._fit(system, self.history, user, count_tokens, budget)

    def resume(
        self, system: str, count_tokens: Callable[[list[Message], str], int], budget: int
    ) -> tuple[Fitted, str]:
        """The messages that led to the last answer, fitted to `budget` tokens with the answer
        so far (the prefix the model goes on from), and that answer."""
        self.check_resumable()
        *earlier, question, answer = self.history
        prefix = answer["content"]
        try:
            fitted = self._fit(
                system, earlier, question["content"], lambda m: count_tokens(m, prefix), budget
            )
        except PromptTooLongError as error:
            raise PromptTooLongError(
                "The question and the answer so far fill the model's context window: the "
                "answer cannot go on. Ask for the rest in a new message.",
                error.excess,
            ) from error
        return fitted, prefix

    def check_resumable(self) -> None:
        if not self.history:
            raise UserInputError("This conversation has no answer to continue yet")
        if not self.cut:
            raise UserInputError(
                "The last answer was not cut by the answer limit (maxNewTokens): there is "
                "nothing to continue; send a message instead"
            )

    def _fit(
        self,
        system: str,
        earlier: list[Message],
        user: str,
        count_tokens: Callable[[list[Message]], int],
        budget: int,
    ) -> Fitted:
        head: list[Message] = [{"role": "system", "content": system}] if system else []
        question: Message = {"role": "user", "content": user}
        try:
            fitted = fit_messages([*head, *earlier, question], count_tokens, budget)
        except BudgetError as error:
            raise PromptTooLongError(
                f"The message does not fit the model's context window: {error}. Shorten it "
                "or select less code.",
                error.excess,
            ) from error
        del self.history[: fitted.dropped]
        return fitted

    def record(self, user: str, answer: str, *, cut: bool = False) -> None:
        self.history += [
            {"role": "user", "content": user},
            {"role": "assistant", "content": answer},
        ]
        self.cut = cut

    def extend_answer(self, more: str, *, cut: bool = False) -> None:
        """Join `more` to the last answer (the one resumed)."""
        last = self.history[-1]
        self.history[-1] = {"role": "assistant", "content": last["content"] + more}
        self.cut = cut


def check_history(history: list[Message]) -> None:
    """A client's history must be a dialogue this server could have held: user and
    assistant turns alternating, the user first, ending with an answer; and not too big."""
    if len(history) > MAX_SEED_MESSAGES:
        raise UserInputError(
            f"history: {len(history)} messages; at most {MAX_SEED_MESSAGES} are accepted "
            "(send the newest)"
        )
    chars = sum(len(m["content"]) for m in history)
    if chars > MAX_SEED_CHARS:
        raise UserInputError(
            f"history: {chars:,} characters; at most {MAX_SEED_CHARS:,} are accepted (send "
            "the newest turns)"
        )
    for index, message in enumerate(history):
        expected = "user" if index % 2 == 0 else "assistant"
        if message["role"] != expected:
            raise UserInputError(
                f"history[{index}]: expected a {expected} message (user and assistant turns "
                f"alternate, oldest first, the user first), got {message['role']}"
            )
    if len(history) % 2:
        raise UserInputError(
            f"history[{len(history) - 1}]: the last message must be an assistant answer "
            "(leave out a question that has none)"
        )


class ConversationStore:
    def __init__(self, limit: int = MAX_CONVERSATIONS) -> None:
        self._limit = limit
        self._conversations: OrderedDict[str, Conversation] = OrderedDict()

    def start(self, history: list[Message] | None = None) -> Conversation:
        """A new conversation; with `history` (checked), one that goes on from it."""
        if history:
            check_history(history)
        conversation = Conversation(uuid.uuid4().hex, list(history or []), cut=bool(history))
        self._conversations[conversation.id] = conversation
        while len(self._conversations) > self._limit:
            self._conversations.popitem(last=False)
        return conversation

    def resume(self, conversation_id: str | None, history: list[Message] | None) -> Conversation:
        """The conversation named; else (no id, or an id the server no longer knows and the
        client's `history`) one seeded with `history`, or a new one."""
        if conversation_id is not None and (history is None or conversation_id in self):
            return self.get(conversation_id)
        return self.start(history)

    def get(self, conversation_id: str) -> Conversation:
        try:
            self._conversations.move_to_end(conversation_id)
            return self._conversations[conversation_id]
        except KeyError:
            raise UnknownConversationError(
                f"There is no conversation {conversation_id!r} (it was deleted, or the server "
                "restarted); send the message without a conversationId to start a new one, "
                "or with the conversation's `history` to go on from it"
            ) from None

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._conversations

    def delete(self, conversation_id: str) -> bool:
        return self._conversations.pop(conversation_id, None) is not None
