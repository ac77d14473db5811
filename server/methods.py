"""The custom protocol, declared once on the server side.

Mirrored in clients/vscode/src/common/protocol.ts; a test compares the two.

Everything beyond standard LSP lives under the `starchat/` namespace; commands are
`starchat.<action>` and run through `workspace/executeCommand`.
"""

from starchat.prompts import ACTIONS

CHAT = "starchat/chat"
"""Request. Params `{message, conversationId?, context?: {uri, range?, diagnostics?, cursor?,
files?}, partialResultToken?, history?, continue?}`; result `{conversationId, text, usage,
droppedMessages, references}` (`usage`: `{promptTokens, generatedTokens, timeToFirstToken,
tokensPerSecond, finishReason: "stop"|"length"|"cancelled", cachedTokens}`; "length": the
answer was cut by `maxNewTokens`; `cachedTokens`: prompt tokens reused from the previous turn's
key/value cache). With a `partialResultToken`, `$/progress` notifications for that token carry
`{text}` (new text, in order).

- `conversationId` absent: a new conversation. Unknown to the server (deleted, or the server
  restarted): error `unknown_conversation`, unless `history` is given.
- `history`: `[{role: "user"|"assistant", content: string}]`, oldest first, the user first,
  alternating, ending with an assistant answer; at most 200 messages and 400,000 characters.
  Used only when `conversationId` is absent or unknown: the server starts a conversation
  seeded with it (trimmed to the window like any history, oldest turns first) and returns its
  new `conversationId`. Otherwise it is ignored. Invalid → InvalidParams naming the message
  (`history[3]: …`).
- `continue: true`: resume the last answer of the conversation (`conversationId`, or a seeded
  `history`), which `maxNewTokens` cut; `message` and `context` are not used and may be
  empty. The model is given the question again and its unfinished answer as the start of
  its own turn, and goes on from there. `text` (and the streamed text) is only the new text;
  the conversation's history holds the joined answer, and if it is cut again it can be
  continued again. The last answer of a seeded history counts as cut (the client saw it
  end). InvalidParams when there is no conversation, or its last answer was not cut.
- `context.range` absent: the whole document, cut (when it does not fit the prompt budget)
  around `context.cursor` (LSP Position): as many lines above the cursor's line as below,
  with a note above and below saying how many lines were left out; without `cursor`, from
  the top. `range` empty: the enclosing function or class; not empty: the selection (no
  `cursor` needed). `context.diagnostics` (LSP Diagnostic[]) absent: those the client last
  sent with a code-action request.
- `references`: `[{uri, range}]`, the code from the workspace index that went with the
  message, best first: the chunks of the `context.files` the user named (URIs), then those
  the message (and its selection) finds, never the context's own document, whole chunks
  within `workspaceContextTokens` (0: none) and after the question and its code."""

CONVERSATION_DELETE = "starchat/conversation/delete"
"""Request. Params `{conversationId}`; result `{deleted: boolean}`."""

STATUS = "starchat/status"
"""Request (no params) and notification (server → client on every change):
`{state: "loading"|"ready"|"error", model, device, message?, index, completion}`; `index` is
the workspace index: `{state: "off"|"indexing"|"ready", files, chunks, capped?}`;
`completion` is the model inline completions use (standard `textDocument/inlineCompletion`):
`{state, model, infilling: boolean, format: string|null, message?}` — `infilling` false means
it completes from the code before the cursor only (`message` says why)."""

CONTEXT_TRIMMED = "starchat/contextTrimmed"
"""Notification (server → client): `{conversationId, droppedMessages}` when history was trimmed
to fit the context window."""

REQUESTS = (CHAT, CONVERSATION_DELETE, STATUS)
NOTIFICATIONS = (STATUS, CONTEXT_TRIMMED)

COMMANDS = tuple(f"starchat.{name}" for name in ACTIONS)
"""Commands carried by code actions (`workspace/executeCommand`). Arguments: one object
`[{uri, range, diagnostics?, conversationId?, partialResultToken?, history?}]`: `range` empty
means the enclosing function or class (where there is no code, the command fails with
InvalidParams and nothing is offered there); `conversationId` continues that conversation
(unknown: error `unknown_conversation`, unless `history` is given: then, as for chat, a new
conversation seeded with it), absent starts one; with `partialResultToken` the answer
streams as `$/progress {text}`, as chat does.

Results: `starchat.explain` → `{conversationId, text, usage, references}`; the rewrites (`fix`,
`addDocstring`, `improve`, `writeTests`) → `{applied, text, message?, conversationId, usage,
references, rejected?: {reason, edit}, testUri?}`. `references` (`[{uri, range}]`): for
Explain, Fix and Write tests, where the workspace index found the definitions of names the code
uses, sent with the prompt (chat's budget); otherwise empty. The edit goes through
`workspace/applyEdit`, with a change annotation `{label: "StarChat: <verb>", needsConfirmation:
true, description}` on every text edit (and file creation) when the client supports change
annotations and the option `edits.preview` is on; `applied: false` then means the user
discarded it. `rejected`: the answer failed validation (does not parse, changed code when only
a docstring was asked, lost a name the target defines, tests that redefine the code or assert
nothing), nothing was applied, `reason` is one sentence for the user and `edit` the
WorkspaceEdit (without annotations) the client may apply after the user chose "Apply anyway".
`writeTests` also returns `testUri` (the test file) and asks the client to open it with
`window/showDocument` when it supports that (otherwise `window/showMessage` names it)."""

CLIENT_CAPABILITY = "starchat"
"""Key under the client's `capabilities.experimental`: `{answerPanel: true}` says the client
shows Explain's answer itself, so the server does not also send it as `window/showMessage`."""
