"""Server-side conversations: multi-turn chat history, trimmed to the context window.

A chat request without a `conversationId` starts a conversation; later requests name it and
the model sees the earlier turns. When prompt plus answer would not fit the model's context
window, the oldest exchanges are dropped (for good — the next turn would not fit them
either) and the client is told. The system prompt is not stored: it comes from the current
settings at each turn.
"""

import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from starchat.engine import PromptTooLongError
from starchat.prompts import Fitted, Message, fit_messages
from starchat.prompts import PromptTooLongError as BudgetError
from starchat.server.lsp.errors import UnknownConversationError

MAX_CONVERSATIONS = 200
"""Beyond this many, the least recently used conversation is forgotten."""


@dataclass
class Conversation:
    id: str
    history: list[Message] = field(default_factory=list)
    """Alternating user and assistant turns, oldest first, without the system prompt."""

    def prompt(
        self,
        system: str,
        user: str,
        count_tokens: Callable[[list[Message]], int],
        budget: int,
    ) -> Fitted:
        """The messages for the next answer, fitted to `budget` tokens; the old ones dropped
        to fit leave the history too."""
        head: list[Message] = [{"role": "system", "content": system}] if system else []
        question: Message = {"role": "user", "content": user}
        try:
            fitted = fit_messages([*head, *self.history, question], count_tokens, budget)
        except BudgetError as error:
            raise PromptTooLongError(
                f"The message does not fit the model's context window: {error}. Shorten it "
                "or select less code.",
                error.excess,
            ) from error
        del self.history[: fitted.dropped]
        return fitted

    def record(self, user: str, answer: str) -> None:
        self.history += [
            {"role": "user", "content": user},
            {"role": "assistant", "content": answer},
        ]


class ConversationStore:
    def __init__(self, limit: int = MAX_CONVERSATIONS) -> None:
        self._limit = limit
        self._conversations: OrderedDict[str, Conversation] = OrderedDict()

    def start(self) -> Conversation:
        conversation = Conversation(uuid.uuid4().hex)
        self._conversations[conversation.id] = conversation
        while len(self._conversations) > self._limit:
            self._conversations.popitem(last=False)
        return conversation

    def get(self, conversation_id: str) -> Conversation:
        try:
            self._conversations.move_to_end(conversation_id)
            return self._conversations[conversation_id]
        except KeyError:
            raise UnknownConversationError(
                f"There is no conversation {conversation_id!r} (it was deleted, or the server "
                "restarted); send the message without a conversationId to start a new one"
            ) from None

    def delete(self, conversation_id: str) -> bool:
        return self._conversations.pop(conversation_id, None) is not None
