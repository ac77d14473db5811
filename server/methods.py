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
"""Commands carried by code actions. Arguments: `[{uri, range, diagnostics?}]`. Result:
`starchat.explain` → `{conversationId, text}`; the others → `{applied, text, message?}` (the
edit itself goes through `workspace/applyEdit`)."""

CLIENT_CAPABILITY = "starchat"
"""Key under the client's `capabilities.experimental`: `{answerPanel: true}` says the client
shows Explain's answer itself, so the server does not also send it as `window/showMessage`."""
