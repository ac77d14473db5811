"""The LSP lifecycle: initialize, initialized, shutdown (exit ends the connection).

`initialize` is where client and server agree on capabilities — among them the position
encoding (UTF-16 unless the client offers UTF-8 or UTF-32), which every range after it uses —
and where the client's `initializationOptions` (the settings object) arrive. Only after
`initialized` may the server send requests to the client, so the model starts loading there,
with its progress bar. `shutdown` cancels every request in flight (stopping generations);
`exit` then ends the connection (see lsp/protocol.py). On a shared (TCP) server the
model is the operator's: it loads when the server starts and stays when a client leaves.
"""

from typing import TYPE_CHECKING

from lsprotocol import types
from starchat.server.features.configuration import apply_options, configure_host
from starchat.server.features.status import StatusReporter
from starchat.server.lsp.errors import guarded

if TYPE_CHECKING:
    from starchat.server.session import StarChatServer


def register(server: "StarChatServer") -> None:
    @server.feature(types.INITIALIZE)
    @guarded("initialize")
    def initialize(ls: "StarChatServer", params: types.InitializeParams) -> None:
        ls.documents.encoding = ls.workspace.position_encoding or types.PositionEncodingKind.Utf16
        apply_options(ls, params.initialization_options)

    @server.feature(types.INITIALIZED)
    @guarded("initialized", notification=True)
    def initialized(ls: "StarChatServer", params: types.InitializedParams) -> None:
        ls.stop_reporting = ls.host.subscribe(StatusReporter(ls))
        ls.started = True
        configure_host(ls)
        ls.workspace_index.start(ls.workspace_roots(), ls.options)

    @server.feature(types.SHUTDOWN)
    @guarded("shutdown")
    async def shutdown(ls: "StarChatServer", params: None) -> None:
        ls.stop_reporting()
        ls.workspace_index.stop()
        if not ls.shared:
            await ls.host.close()
