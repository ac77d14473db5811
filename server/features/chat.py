"""Chat: `starchat/chat`, a custom request that streams its answer with standard LSP.

LSP has no chat, but it has partial results: a request that carries a `partialResultToken`
may be answered piece by piece with `$/progress` notifications for that token before the
final response. Here each notification carries `{text}` — the new text, in order — so any
LSP client library can show the answer as it is written; the final result holds the whole
text, the conversation id and the usage. `$/cancelRequest` stops the generation at the next
token. Conversations are kept by the server (`conversationId`) and trimmed to the context
window, oldest turns first; `starchat/contextTrimmed` tells the client when that happens.
`starchat/conversation/delete` forgets one. A client that keeps its history (across a
reload or a server restart) sends it with an id the server no longer knows, and the
conversation goes on from it; `continue` resumes an answer the answer limit cut.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from starchat.prompts.actions import ActionSlots
from starchat.server import methods
from starchat.server.context import build_user_message
from starchat.server.conversations import Conversation
from starchat.server.lsp.errors import UserInputError, guarded
from starchat.server.lsp.params import (
    ChatContext,
    ChatParams,
    DeleteConversationParams,
    history_messages,
    parse,
)
from starchat.server.references import Reference, Referencing
from starchat.server.turns import BuildUser, take_turn

if TYPE_CHECKING:
    from starchat.server.session import StarChatServer


def register(server: "StarChatServer") -> None:
    @server.feature(methods.CHAT)
    @guarded("chat")
    async def chat(ls: "StarChatServer", params: Any) -> dict[str, Any]:
        request = parse(ChatParams, params, methods.CHAT)
        build = None if request.continue_ else _user_turn(ls, request)
        referencing = (
            Referencing(build, _finder(ls, request), ls.options.workspace_context_tokens)
            if build
            else None
        )
        conversation = _conversation(ls, request)
        if request.continue_:
            conversation.check_resumable()
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
            referencing,
            stream,
            trimmed,
            copies_code=request.context is not None,
        )
        return {
            "conversationId": conversation.id,
            "text": answer.text,
            "usage": answer.usage.to_json(),
            "droppedMessages": answer.dropped_messages,
            "references": [r.to_json() for r in referencing.kept] if referencing else [],
        }

    @server.feature(methods.CONVERSATION_DELETE)
    @guarded("conversation/delete")
    def delete(ls: "StarChatServer", params: Any) -> dict[str, bool]:
        request = parse(DeleteConversationParams, params, methods.CONVERSATION_DELETE)
        return {"deleted": ls.conversations.delete(request.conversation_id)}


def _user_turn(ls: "StarChatServer", request: ChatParams) -> BuildUser:
    if not request.message.strip():
        raise UserInputError("The chat message is empty: type a question")
    editor, cursor_line = _editor(ls, request.context)
    return lambda count, budget: build_user_message(
        request.message, editor, count, budget, cursor_line
    )


def _finder(ls: "StarChatServer", request: ChatParams) -> Callable[[str], list[Reference]]:
    """What the workspace index finds for this message: the files the user named, then the
    chunks that match the message (and its selection), never the document already shown."""
    context = request.context
    shown = [context.uri] if context is not None else []
    named = (context.files if context is not None else None) or []
    selection = context is not None and context.range is not None

    def find(user: str) -> list[Reference]:
        query = user if selection else request.message
        return ls.workspace_index.references(query, shown, named)

    return find


def _conversation(ls: "StarChatServer", request: ChatParams) -> Conversation:
    """The conversation named, else one seeded with the client's `history`, else a new one."""
    if request.continue_ and request.conversation_id is None and not request.history:
        raise UserInputError(
            "continue resumes an answer of a conversation: send its conversationId (or its history)"
        )
    return ls.conversations.resume(request.conversation_id, history_messages(request.history))


def _editor(ls: "StarChatServer", location: ChatContext | None) -> tuple[ActionSlots | None, int]:
    """The context of the message and the line of its code to centre it on: the cursor's
    when the whole file is sent, else the top."""
    if location is None:
        return None, 0
    _, found, context = ls.locate(location)
    if not context.code.strip():
        return None, 0
    cursor = location.cursor
    if found.kind != "document" or cursor is None:
        return context, 0
    return context, cursor.line
