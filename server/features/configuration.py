"""Configuration: `workspace/didChangeConfiguration` carries the settings object.

VS Code sends its `starchat.*` settings as `{"starchat": {...}}`; other editors often send the
bare object; a client using the pull model sends `null`, and the server then asks for the
`starchat` section with `workspace/configuration`. Each key is validated on its own (see
options.py): an invalid value is shown to the user with the setting's exact name and its
previous value stays. A change of model, backend, device or dtype reloads the model in the
background; sampling settings apply from the next request.
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
    """Take the valid settings in `raw`, tell the user about the invalid ones, and reload
    the model if what it needs changed."""
    update = apply_settings(ls.options, raw)
    for name in update.ignored:
        logger.info("ignoring setting %s: not a server setting", name)
    for error in update.errors:
        ls.show(
            f"StarChat: invalid setting {error}. Keeping the previous value.",
            types.MessageType.Error,
        )
    ls.options = update.options
    if ls.started:
        ls.host.configure(ls.options.engine_settings())
