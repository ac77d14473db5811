"""Text document synchronisation: the editor tells the server what it shows.

`textDocument/didOpen` hands over a document's full text, `didChange` the edits made since
(incremental sync: a range and its new text, in the negotiated position encoding), and
`didClose` ends the server's interest. A request about an unopened document is answered
with an error, not with whatever is on disk (only the workspace index, features/index.py,
reads files, through its own filter; an open document's text stands in for its file there).
The handlers are synchronous on purpose: a request read right after a change must see the
new text.
"""

from typing import TYPE_CHECKING

from lsprotocol import types
from starchat.server.lsp.errors import guarded

if TYPE_CHECKING:
    from starchat.server.session import StarChatServer


def register(server: "StarChatServer") -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    @guarded("didOpen", notification=True)
    def did_open(ls: "StarChatServer", params: types.DidOpenTextDocumentParams) -> None:
        ls.documents.open(params.text_document)
        ls.workspace_index.opened(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    @guarded("didChange", notification=True)
    def did_change(ls: "StarChatServer", params: types.DidChangeTextDocumentParams) -> None:
        ls.documents.change(params)
        ls.workspace_index.opened(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    @guarded("didClose", notification=True)
    def did_close(ls: "StarChatServer", params: types.DidCloseTextDocumentParams) -> None:
        ls.documents.close(params.text_document.uri)
        ls.workspace_index.closed(params.text_document.uri)
