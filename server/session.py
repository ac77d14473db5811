"""One client's session of the StarChat language server: its settings, documents and
conversations, and the model host it shares (see serve.py for how sessions are started).

A stdio session owns the host and its client chooses the model. A TCP session shares the
host with every other client of the server, so it must show the server's token, and the
settings that choose what runs (`OPERATOR_SETTINGS`) stay those of the operator who started
the server: one client never changes what another one talks to."""

import logging
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from lsprotocol import types
from pygls.exceptions import FeatureRequestError
from pygls.lsp.server import LanguageServer
from starchat.prompts.actions import ActionSlots
from starchat.prompts.fim import FimFormat
from starchat.server import methods
from starchat.server.completions import completion_status, resolve_format
from starchat.server.context import Target, editor_context
from starchat.server.conversations import ConversationStore
from starchat.server.documents import Document, DocumentStore
from starchat.server.features import register_all
from starchat.server.features.index import IndexKeeper
from starchat.server.features.status import health_json
from starchat.server.lsp.params import EditorLocation
from starchat.server.lsp.protocol import StarChatProtocol
from starchat.server.model_host import ModelHost
from starchat.server.options import OPERATOR_SETTINGS, Options
from starchat.server.redaction import redact

logger = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("starchat-lsp")
    except PackageNotFoundError:
        return "0+unknown"


class StarChatServer(LanguageServer):
    """One client's session: its settings, documents and conversations, and the model."""

    protocol: StarChatProtocol

    def __init__(self, host: ModelHost, defaults: Options, *, tcp_token: str | None = None) -> None:
        """`tcp_token` None: a stdio session; a string: a TCP session, which requires it."""
        super().__init__(
            "starchat",
            _version(),
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=StarChatProtocol,
        )
        self.host = host
        self.shared = tcp_token is not None
        """Whether other clients share the host (TCP): then the operator's settings rule it."""
        self.protocol.required_token = tcp_token
        self.locked_settings = OPERATOR_SETTINGS if self.shared else frozenset[str]()
        self.options = defaults
        self.documents = DocumentStore()
        self.conversations = ConversationStore()
        self.workspace_index = IndexKeeper(self)
        self.started = False
        """Set at `initialized`: the model is loading and the client hears about it."""
        self.stop_reporting: Callable[[], None] = lambda: None
        register_all(self)

    def client_capability(self, *path: str) -> Any:
        """A client capability by its attribute path, or None when the client did not say."""
        value: Any = getattr(self.protocol, "client_capabilities", None)
        for name in path:
            value = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
            if value is None:
                return None
        return value

    def has_answer_panel(self) -> bool:
        """The client shows answers and refusals in a panel of its own (VS Code's chat)."""
        return bool(
            self.client_capability("experimental", methods.CLIENT_CAPABILITY, "answerPanel")
        )

    def workspace_roots(self) -> list[str]:
        workspace = self.workspace
        return [f.uri for f in workspace.folders.values()] + [workspace.root_uri or ""]

    def locate(self, location: EditorLocation) -> tuple[Document, Target, ActionSlots]:
        """The open document a request points at, its target code, and the prompt's context.

        Diagnostics sent with the request win over those the server last saw published.
        """
        document = self.documents.get(location.uri)
        sent = location.lsp_diagnostics()
        target, context = editor_context(
            document,
            location.lsp_range(),
            self.workspace_roots(),
            document.diagnostics if sent is None else sent,
        )
        return document, target, context

    def status_json(self) -> dict[str, Any]:
        """`starchat/status`: the model's health, the workspace index's state and the
        completion model's."""
        return health_json(self.host.health()) | {
            "index": self.workspace_index.status().to_json(),
            "completion": completion_status(
                self.host.completion_health(), self.completion_format(), self.options.fim_format
            ),
        }

    def completion_format(self) -> FimFormat | None:
        """The fill-in-the-middle format of the loaded completion model (None: left to right,
        or not loaded)."""
        engine = self.host.ready_completer()
        if engine is None:
            return None
        health = engine.health()
        return resolve_format(self.options.fim_format, engine, health.model)

    def show(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.window_show_message(types.ShowMessageParams(kind, redact(message)))

    def report_server_error(self, error: Exception, source: Any) -> None:
        # Guarded handlers have answered and logged already; anything else is logged, never
        # shown as a pop-up.
        if source is not FeatureRequestError:
            logger.error("%s: %s", getattr(source, "__name__", source), error)

    async def disconnected(self) -> None:
        """The client has gone: let go of everything it sent (the session object itself may
        live on a while in reference cycles, its documents must not)."""
        self.stop_reporting()
        self.workspace_index.stop()
        self.documents.clear()
        self.conversations = ConversationStore()
