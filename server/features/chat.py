"""Chat: `starchat/chat`, a custom request that streams its answer with standard LSP.

LSP has no chat, but it has partial results: a request that carries a `partialResultToken`
may be answered piece by piece with `$/progress` notifications for that token before the
final response. Here each notification carries `{text}` — the new text, in order — so any
LSP client library can show the answer as it is written; the final result holds the whole
text, the conversation id and the usage. `$/cancelRequest` stops the generation at the next
token. Conversations are kept by the server (`conversationId`) and trimmed to the context
window, oldest turns first; `starchat/contextTrimmed` tells the client when that happens.
`starchat/conversation/delete` forgets one.
"""

from typing import TYPE_CHECKING, Any

from lsprotocol import types
from starchat.prompts.actions import ActionSlots
from starchat.server import methods
from starchat.server.context import build_user_message
from starchat.server.lsp.errors import UserInputError, guarded
from starchat.server.lsp.params import ChatParams, DeleteConversationParams, EditorLocation, parse
from starchat.server.turns import take_turn

if TYPE_CHECKING:
    from starchat.server.session import StarChatServer


def register(server: "StarChatServer") -> None:
    @server.feature(methods.CHAT)
    @guarded("chat")
    async def chat(ls: "StarChatServer", params: Any) -> dict[str, Any]:
        request = parse(ChatParams, params, methods.CHAT)
        if not request.message.strip():
            raise UserInputError("The chat message is empty: type a question")
        editor = _editor(ls, request.context)
        conversation = (
            ls.conversations.get(request.conversation_id)
            if request.conversation_id is not None
            else ls.conversations.start()
        )
        token = request.partial_result_token

        def stream(text: str) -> None:
            if token is not None:
                ls.progress(types.ProgressParams(token, {"text": text}))

        def trimmed(dropped: int) -> None:
            ls.protocol.notify(
                methods.CONTEXT_TRIMMED,
                {"conversationId": conversation.id, "droppedMessages": dropped},
            )

        answer = await take_turn(
            ls.host,
            ls.options,
            conversation,
            lambda count, budget: build_user_message(request.message, editor, count, budget),
            stream,
            trimmed,
        )
        return {
            "conversationId": conversation.id,
            "text": answer.text,
            "usage": answer.usage.to_json(),
            "droppedMessages": answer.dropped_messages,
        }

    @server.feature(methods.CONVERSATION_DELETE)
    @guarded("conversation/delete")
    def delete(ls: "StarChatServer", params: Any) -> dict[str, bool]:
        request = parse(DeleteConversationParams, params, methods.CONVERSATION_DELETE)
        return {"deleted": ls.conversations.delete(request.conversation_id)}


def _editor(ls: "StarChatServer", location: EditorLocation | None) -> ActionSlots | None:
    if location is None:
        return None
    _, _, context = ls.locate(location)
    return context if context.code.strip() else None
