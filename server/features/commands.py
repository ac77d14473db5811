"""Commands: `workspace/executeCommand` runs the code action the user picked.

Each `starchat.<action>` command renders its prompt template (prompts/actions/) with the
target code — the selection, or the enclosing function or class — its language, path and
diagnostics, asks the model with a work-done progress bar (cancellable, like the request
itself), and then acts on the answer:

- Explain returns `{conversationId, text}`; the conversation can be continued with
  `starchat/chat`. A client that shows answers itself says so with the experimental
  capability `starchat.answerPanel`; other editors get the text as a message.
- Fix, Add docstring, Improve send `workspace/applyEdit` replacing exactly the target range
  with the code from the answer (no fences, original indentation).
- Write tests appends to, or creates, the test file beside the source.

When the answer holds no code, or the document changed while the model was writing, nothing
is edited and the user is told why. Every command returns `{applied, text, message?}`
(Explain: `{conversationId, text}`).
"""

import asyncio
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from starchat.prompts import ACTIONS, Action, extract_code
from starchat.server import methods
from starchat.server.actions import action_slots, action_turn, verb
from starchat.server.conversations import Conversation
from starchat.server.documents import Document
from starchat.server.edits import (
    UnitTestFile,
    confine_test_file,
    replace_edit,
    replacement,
    supports_document_changes,
    unit_test_edit,
)
from starchat.server.lsp.errors import UserInputError, guarded
from starchat.server.lsp.params import CommandArguments, parse
from starchat.server.lsp.progress import ProgressBar
from starchat.server.targets import Target
from starchat.server.turns import take_turn

if TYPE_CHECKING:
    from starchat.server.session import StarChatServer


def register(server: "StarChatServer") -> None:
    for name, action in ACTIONS.items():
        server.command(f"starchat.{name}")(_command(action))


def _command(action: Action) -> Any:
    @guarded(f"starchat.{action.name}")
    async def run(ls: "StarChatServer", params: types.ExecuteCommandParams) -> dict[str, Any]:
        return await run_action(ls, action, params)

    return run


async def run_action(
    ls: "StarChatServer", action: Action, params: types.ExecuteCommandParams
) -> dict[str, Any]:
    arguments = params.arguments or []
    if len(arguments) != 1:
        raise UserInputError(
            f"starchat.{action.name} takes one argument: {{uri, range, diagnostics?}}"
        )
    location = parse(CommandArguments, arguments[0], f"starchat.{action.name}")
    document, target, context = ls.locate(location)
    if not target.code.strip():
        raise UserInputError(
            f"Nothing to {verb(action)}: select some code or put the cursor inside a function"
        )
    slots, test = action_slots(document.uri, context)
    if action.result == "testFile":
        test = confine_test_file(test, document.uri, ls.workspace_roots())
    version, text = document.version, document.text
    conversation = ls.conversations.start() if action.result == "answer" else Conversation("")
    build = action_turn(action, slots)

    bar = ProgressBar(ls, params.work_done_token)
    await bar.begin(action.title, "waiting for the model…", cancels=asyncio.current_task())
    try:
        generated = 0

        def progress(_: str) -> None:
            nonlocal generated
            generated += 1
            bar.report(f"writing… ({generated} chunks)")

        answer = await take_turn(ls.host, ls.options, conversation, build, progress)
    finally:
        bar.end()

    if action.result == "answer":
        if not ls.client_capability("experimental", methods.CLIENT_CAPABILITY, "answerPanel"):
            ls.show(answer.text)
        return {"conversationId": conversation.id, "text": answer.text}
    if (
        document.version != version
        or document.text != text
        or ls.documents.find(document.uri) is not document
    ):
        return _not_applied(
            ls, action, answer.text, "the document changed while StarChat was writing; run it again"
        )
    if action.result == "replace":
        return await _replace(ls, action, document, target, context.language, answer.text)
    return await _write_tests(ls, action, test, context.language, answer.text)


async def _replace(
    ls: "StarChatServer",
    action: Action,
    document: Document,
    target: Target,
    language: str,
    answer: str,
) -> dict[str, Any]:
    text = replacement(answer, document, target, language)
    if text is None:
        return _not_applied(ls, action, answer, "its answer held no code block")
    edit = replace_edit(
        document, target.span, text, supports_document_changes(ls.client_capabilities)
    )
    return await _apply(ls, action, edit, answer)


async def _write_tests(
    ls: "StarChatServer", action: Action, test: UnitTestFile, language: str, answer: str
) -> dict[str, Any]:
    code = extract_code(answer, language)
    if code is None or not code.strip():
        return _not_applied(ls, action, answer, "its answer held no code block")
    edit = unit_test_edit(
        test, code, ls.documents.find(test.uri), ls.documents.encoding, ls.client_capabilities
    )
    return await _apply(ls, action, edit, answer)


async def _apply(
    ls: "StarChatServer", action: Action, edit: types.WorkspaceEdit, answer: str
) -> dict[str, Any]:
    result = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit, label=action.title)
    )
    if not result.applied:
        reason = result.failure_reason or "the editor did not apply the edit"
        return _not_applied(ls, action, answer, reason)
    return {"applied": True, "text": answer}


def _not_applied(ls: "StarChatServer", action: Action, answer: str, reason: str) -> dict[str, Any]:
    message = f"{action.title}: nothing was changed — {reason}."
    ls.show(message, types.MessageType.Warning)
    return {"applied": False, "text": answer, "message": message}
