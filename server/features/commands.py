"""Commands: `workspace/executeCommand` runs the code action the user picked.

Each `starchat.<action>` command renders its prompt template (prompts/actions/) with the
target code — the selection, or the enclosing function or class — its language, path and
diagnostics, and asks the model in a conversation: the one named by `conversationId` (the
chat panel's, so earlier turns stay), else a new one. The answer streams as `$/progress
{text}` for the argument's `partialResultToken`, like chat, under a work-done progress bar
(cancellable, like the request itself). Then:

- Explain returns `{conversationId, text, usage}`. A client that shows answers itself says
  so with the experimental capability `starchat.answerPanel`; other editors get the text as
  a message.
- Fix, Add docstring, Improve and Write tests build their edit (rewrites.py), check it
  (validation.py) and send it with `workspace/applyEdit`: as a change that asks for
  confirmation — the editor's diff preview — where the client supports change annotations
  and `edits.preview` is on. An edit that fails a check is not sent: the result carries
  `rejected: {reason, edit}` and the user is told why.
- Write tests opens the test file (`window/showDocument`) and names it (`testUri`).

The target is followed through the edits the user makes meanwhile: typing elsewhere shifts
it, typing in it (or deleting it) discards the answer with a message, never the user's text.
"""

import asyncio
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from lsprotocol.converters import get_converter
from starchat.prompts import ACTIONS, Action
from starchat.server import methods
from starchat.server.actions import action_slots, action_turn
from starchat.server.context import relative_path
from starchat.server.conversations import Conversation
from starchat.server.documents import Document, Tracked
from starchat.server.edits import EditStyle, UnitTestFile, confine_test_file
from starchat.server.lsp.errors import UserInputError, guarded
from starchat.server.lsp.params import CommandArguments, history_messages, parse
from starchat.server.lsp.progress import ProgressBar
from starchat.server.references import Referencing
from starchat.server.rewrites import Proposal, Unusable, propose_rewrite, propose_tests
from starchat.server.targets import Target
from starchat.server.turns import Answer, BuildUser, take_turn

if TYPE_CHECKING:
    from starchat.server.session import StarChatServer

_converter = get_converter()


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
            f"starchat.{action.name} takes one argument: {{uri, range, diagnostics?, "
            "conversationId?, partialResultToken?}"
        )
    location = parse(CommandArguments, arguments[0], f"starchat.{action.name}")
    document, target, context = ls.locate(location)
    if not target.code.strip():
        raise UserInputError(
            f"{action.title}: there is no code here; select some code or put the cursor inside "
            "a function"
        )
    slots, test = action_slots(document.uri, context)
    if action.result == "testFile":
        test = confine_test_file(test, document.uri, ls.workspace_roots())
    conversation = _conversation(ls, location)
    build: BuildUser = action_turn(action, slots)
    referencing = None
    if action.uses_definitions:
        build = referencing = Referencing(
            build,
            lambda _user: ls.workspace_index.definitions(target.code, [document.uri]),
            ls.options.workspace_context_tokens,
        )
    with document.track(target.span) as tracked:
        answer = await _ask(
            ls, action, conversation, build, params.work_done_token, location.partial_result_token
        )
    result = {
        "conversationId": conversation.id,
        "text": answer.text,
        "usage": answer.usage.to_json(),
        "references": [r.to_json() for r in referencing.kept] if referencing else [],
    }
    if action.result == "answer":
        if not ls.has_answer_panel():
            ls.show(answer.text)
        return result
    edit = _Edit(ls, action, context.language, answer.text)
    if action.result == "testFile":
        return result | await edit.tests(test, target.code)
    return result | await edit.rewrite(document, target, tracked)


def _conversation(ls: "StarChatServer", location: CommandArguments) -> Conversation:
    """The conversation named, else one seeded with the client's `history`, else a new one
    (as chat's requests)."""
    return ls.conversations.resume(location.conversation_id, history_messages(location.history))


async def _ask(
    ls: "StarChatServer",
    action: Action,
    conversation: Conversation,
    build: BuildUser,
    work_done_token: types.ProgressToken | None,
    partial_result_token: int | str | None,
) -> Answer:
    """The model's answer, streamed to the partial-result token, under a progress bar."""
    bar = ProgressBar(ls, work_done_token)
    await bar.begin(action.title, "waiting for the model…", cancels=asyncio.current_task())
    written: list[str] = []

    def stream(text: str) -> None:
        written.append(text)
        bar.report(f"writing… {len(''.join(written).split())} words")
        if partial_result_token is not None:
            ls.progress(types.ProgressParams(partial_result_token, {"text": text}))

    def trimmed(dropped: int) -> None:
        ls.protocol.notify(
            methods.CONTEXT_TRIMMED, {"conversationId": conversation.id, "droppedMessages": dropped}
        )

    try:
        return await take_turn(
            ls.host,
            ls.options,
            conversation,
            build,
            stream,
            trimmed,
            copies_code=action.result == "replace",
            purpose="chat" if action.result == "answer" else "code",
        )
    finally:
        bar.end()


class _Edit:
    """One answer's way to the document: build, check, apply (or say why not)."""

    def __init__(self, ls: "StarChatServer", action: Action, language: str, answer: str) -> None:
        self.ls, self.action, self.language, self.answer = ls, action, language, answer
        self.style = EditStyle.of(ls.client_capabilities, action.title, ls.options.edits_preview)

    async def rewrite(self, document: Document, target: Target, tracked: Tracked) -> dict[str, Any]:
        try:
            current = self._still_there(document, target, tracked)
            proposal = propose_rewrite(
                self.action, document, current, self.language, self.answer, self.style
            )
        except Unusable as error:
            return self._not_applied(str(error))
        return await self._apply(proposal)

    async def tests(self, test: UnitTestFile, target_code: str) -> dict[str, Any]:
        ls = self.ls
        try:
            proposal = propose_tests(
                test,
                self.language,
                self.answer,
                ls.documents.find(test.uri),
                target_code,
                ls.documents.encoding,
                self.style,
            )
        except Unusable as error:
            return self._not_applied(str(error))
        outcome = await self._apply(proposal)
        if not outcome["applied"]:
            return outcome
        where = relative_path(test.uri, ls.workspace_roots())
        message = f"{self.action.title}: the tests are in {where}."
        if ls.client_capability("window", "show_document", "support"):
            await ls.window_show_document_async(types.ShowDocumentParams(test.uri, take_focus=True))
        else:
            ls.show(message)
        return outcome | {"testUri": test.uri, "message": message}

    def _still_there(self, document: Document, target: Target, tracked: Tracked) -> Target:
        """The target where it is now, if the user's edits meanwhile left it intact."""
        if self.ls.documents.find(document.uri) is not document:
            raise Unusable("the document was closed while StarChat was writing")
        span = tracked.span
        if tracked.lost or document.text[span.start : span.end] != target.code:
            raise Unusable("the code it was about changed while StarChat was writing; run it again")
        return Target(span, target.code, target.kind)

    async def _apply(self, proposal: Proposal) -> dict[str, Any]:
        if proposal.problem is not None:
            reason = proposal.problem[0].upper() + proposal.problem[1:] + "."
            outcome = self._not_applied(proposal.problem)
            return outcome | {
                "rejected": {"reason": reason, "edit": _converter.unstructure(proposal.plain)}
            }
        result = await self.ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(proposal.edit, label=self.action.title)
        )
        if result.applied:
            return {"applied": True}
        if self.style.annotation is not None and not result.failure_reason:
            return {"applied": False, "message": f"{self.action.title}: discarded."}
        return self._not_applied(result.failure_reason or "the editor did not apply the edit")

    def _not_applied(self, reason: str) -> dict[str, Any]:
        message = f"{self.action.title}: nothing was changed — {reason}."
        if not self.ls.has_answer_panel():  # a panel shows the result's message itself
            self.ls.show(message, types.MessageType.Warning)
        return {"applied": False, "message": message}
