"""The custom protocol, declared once on the server side.

Mirrored in clients/vscode/src/common/protocol.ts; a test compares the two.

Everything beyond standard LSP lives under the `starchat/` namespace; commands are
`starchat.<action>` and run through `workspace/executeCommand`.
"""

from starchat.prompts import ACTIONS

CHAT = "starchat/chat"
"""Request. Params `{message, conversationId?, context?: {uri, range?, diagnostics?}}`; result
`{conversationId, text, usage, droppedMessages}`. With a `partialResultToken`, `$/progress`
notifications for that token carry `{text}` (new text, in order). `context.range` absent: the
whole document; empty: the enclosing function or class. `context.diagnostics` (LSP
Diagnostic[]) absent: those the client last sent with a code-action request."""

CONVERSATION_DELETE = "starchat/conversation/delete"
"""Request. Params `{conversationId}`; result `{deleted: boolean}`."""

STATUS = "starchat/status"
"""Request (no params) and notification (server → client on every change):
`{state: "loading"|"ready"|"error", model, device, message?, index}`; `index` is the
workspace index: `{state: "off"|"indexing"|"ready", files, chunks, capped?}`."""

CONTEXT_TRIMMED = "starchat/contextTrimmed"
"""Notification (server → client): `{conversationId, droppedMessages}` when history was trimmed
to fit the context window."""

REQUESTS = (CHAT, CONVERSATION_DELETE, STATUS)
NOTIFICATIONS = (STATUS, CONTEXT_TRIMMED)

COMMANDS = tuple(f"starchat.{name}" for name in ACTIONS)
"""Commands carried by code actions (`workspace/executeCommand`). Arguments: one object
`[{uri, range, diagnostics?, conversationId?, partialResultToken?}]`: `range` empty means the
enclosing function or class (where there is no code, the command fails with InvalidParams
and nothing is offered there); `conversationId` continues that conversation (unknown:
error `unknown_conversation`), absent starts one; with `partialResultToken` the answer
streams as `$/progress {text}`, as chat does.

Results: `starchat.explain` → `{conversationId, text, usage}`; the rewrites (`fix`,
`addDocstring`, `improve`, `writeTests`) → `{applied, text, message?, conversationId, usage,
rejected?: {reason, edit}, testUri?}`. The edit goes through `workspace/applyEdit`, with a
change annotation `{label: "StarChat: <verb>", needsConfirmation: true, description}` on every
text edit (and file creation) when the client supports change annotations and the option
`edits.preview` is on; `applied: false` then means the user discarded it. `rejected`: the
answer failed validation (does not parse, changed code when only a docstring was asked, lost
a name the target defines, tests that redefine the code or assert nothing), nothing was
applied, `reason` is one sentence for the user and `edit` the WorkspaceEdit (without
annotations) the client may apply after the user chose "Apply anyway". `writeTests` also
returns `testUri` (the test file) and asks the client to open it with `window/showDocument`
when it supports that (otherwise `window/showMessage` names it)."""

CLIENT_CAPABILITY = "starchat"
"""Key under the client's `capabilities.experimental`: `{answerPanel: true}` says the client
shows Explain's answer itself, so the server does not also send it as `window/showMessage`."""
