"""Configuration: `workspace/didChangeConfiguration` carries the settings object.

VS Code sends its `starchat.*` settings as `{"starchat": {...}}`; other editors often send the
bare object; a client using the pull model sends `null`, and the server then asks for the
`starchat` section with `workspace/configuration`. Each key is validated on its own (see
options.py): an invalid value is shown to the user with the setting's exact name and its
previous value stays. A change of model, backend, device or dtype reloads the model in the
background; sampling settings apply from the next request. On a shared (TCP) server those
five are the operator's: a client asking for other values is told so, by setting name, and
nothing reloads.
"""

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from starchat.server.lsp.errors import guarded
from starchat.server.options import SECTION, apply_settings

if TYPE_CHECKING:
    from starchat.server.session import StarChatServer

logger = logging.getLogger(__name__)


def register(server: "StarChatServer") -> None:
    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    @guarded("didChangeConfiguration", notification=True)
    async def did_change_configuration(
        ls: "StarChatServer", params: types.DidChangeConfigurationParams
    ) -> None:
        settings = params.settings
        if settings is None and ls.client_capability("workspace", "configuration"):
            pulled = await ls.workspace_configuration_async(
                types.ConfigurationParams([types.ConfigurationItem(section=SECTION)])
            )
            settings = pulled[0] if pulled else None
        apply_options(ls, settings)


def apply_options(ls: "StarChatServer", raw: Any) -> None:
    """Take the valid settings in `raw`, tell the user about the invalid and refused ones,
    and reload the model if what it needs changed."""
    update = apply_settings(ls.options, raw, ls.locked_settings)
    for name in update.ignored:
        logger.info("ignoring setting %s: not a server setting", name)
    for error in update.errors:
        ls.show(
            f"StarChat: invalid setting {error}. Keeping the previous value.",
            types.MessageType.Error,
        )
    if update.refused:
        ls.show(
            f"StarChat: {', '.join(update.refused)} cannot be set by an editor on this shared "
            "(TCP) server: whoever started it chooses the model and backend for every "
            "client (`starchat serve --model … --backend …`). Keeping the server's values.",
            types.MessageType.Error,
        )
    previous, ls.options = ls.options, update.options
    configure_host(ls)
    if ls.started:
        ls.workspace_index.reconfigure(previous, ls.options, ls.workspace_roots())


def configure_host(ls: "StarChatServer") -> None:
    """Load what the settings ask for, once the client has initialized; a shared server's
    host was configured by the operator at start."""
    if ls.started and not ls.shared:
        ls.host.configure(ls.options.engine_settings())
        ls.host.configure_completion(ls.options.completion_engine_settings())
