"""The server's features, one module per group of LSP methods; each module's docstring
explains the part of the protocol it implements and `register(server)` wires its handlers.

Handlers follow one shape: fetch the document (or other state), call a module that does the
work, map its result to the protocol. They are guarded (`errors.guarded`), so a failure in
one feature becomes an error response and a log line, never a dead server.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starchat.server.session import StarChatServer


def register_all(server: "StarChatServer") -> None:
    from starchat.server.features import (
        chat,
        code_actions,
        commands,
        configuration,
        documents,
        index,
        inline_completion,
        lifecycle,
        status,
    )

    features = (
        lifecycle,
        configuration,
        documents,
        index,
        status,
        chat,
        code_actions,
        commands,
        inline_completion,
    )
    for feature in features:
        feature.register(server)
