"""The StarChat language server: what a client session holds, and how it is served.

`serve()` is the entry point behind `starchat serve` and `python -m starchat.server`: stdio
by default, TCP with a port (each TCP client gets a fresh session; all share the one model).
"""

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from lsprotocol import types
from pygls.exceptions import FeatureRequestError
from pygls.lsp.server import LanguageServer
from starchat.server.context import EditorContext, Target, editor_context
from starchat.server.conversations import ConversationStore
from starchat.server.documents import Document, DocumentStore
from starchat.server.features import register_all
from starchat.server.lsp_protocol import StarChatProtocol
from starchat.server.model_host import ModelHost
from starchat.server.options import Options, apply_settings
from starchat.server.params import EditorLocation
from starchat.server.transport import private_stdout, serve_stdio, serve_tcp

logger = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("starchat-lsp")
    except PackageNotFoundError:
        return "0+unknown"


class StarChatServer(LanguageServer):
    """One client's session: its settings, documents and conversations, and the model."""

    protocol: StarChatProtocol

    def __init__(self, host: ModelHost, defaults: Options, *, owns_host: bool) -> None:
        super().__init__(
            "starchat",
            _version(),
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=StarChatProtocol,
        )
        self.host = host
        self.owns_host = owns_host
        """Whether shutting this session down may unload the model (stdio: yes; TCP: shared)."""
        self.options = defaults
        self.documents = DocumentStore()
        self.conversations = ConversationStore()
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

    def workspace_roots(self) -> list[str]:
        workspace = self.workspace
        return [f.uri for f in workspace.folders.values()] + [workspace.root_uri or ""]

    def locate(self, location: EditorLocation) -> tuple[Document, Target, EditorContext]:
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

    def show(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.window_show_message(types.ShowMessageParams(kind, message))

    def report_server_error(self, error: Exception, source: Any) -> None:
        # Guarded handlers have answered and logged already; anything else is logged, never
        # shown as a pop-up.
        if source is not FeatureRequestError:
            logger.error("%s: %s", getattr(source, "__name__", source), error)

    async def disconnected(self) -> None:
        self.stop_reporting()


def serve(host: str = "127.0.0.1", port: int | None = None, **settings: object) -> None:
    """Run the language server until the client exits (stdio) or forever (TCP); ends the
    process. `settings` are option names (`model`, `backend`, `backend_url`, `device`, …)
    given on the command line; None means not given. Editors override them."""
    given = {key: value for key, value in settings.items() if value is not None}
    update = apply_settings(Options(), given)
    if update.errors or update.ignored:
        raise SystemExit(
            "starchat serve: "
            + "; ".join(update.errors + [f"unknown option {k}" for k in update.ignored])
        )
    defaults = update.options
    loop = asyncio.new_event_loop()
    if port is None:
        code = loop.run_until_complete(_serve_stdio(defaults))
    else:
        code = 0
        try:
            loop.run_until_complete(_serve_tcp(defaults, host, port))
        except KeyboardInterrupt:
            logger.info("stopped")
    logging.shutdown()
    # Not sys.exit: that would wait for a model still loading in a worker thread.
    os._exit(code)


async def _serve_stdio(defaults: Options) -> int:
    host = ModelHost()
    session = StarChatServer(host, defaults, owns_host=True)
    try:
        return await serve_stdio(session, sys.stdin.buffer, private_stdout())
    finally:
        await host.close()


async def _serve_tcp(defaults: Options, address: str, port: int) -> None:
    host = ModelHost()

    def listening(actual: int) -> None:
        logger.warning("StarChat language server listening on %s:%d", address, actual)

    try:
        await serve_tcp(
            lambda: StarChatServer(host, defaults, owns_host=False), address, port, listening
        )
    finally:
        await host.close()


def configure_logging(level: str) -> None:
    """Log to stderr (stdout is the protocol's). pygls' own records are kept for debugging:
    it logs every request error with a traceback, which would bury user mistakes."""
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if level.lower() != "debug":
        logging.getLogger("pygls").setLevel(logging.CRITICAL)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The `serve` command line, shared by `starchat serve` and `python -m starchat.server`."""
    parser.add_argument(
        "--tcp", type=int, metavar="PORT", help="listen on TCP (0: any free port) instead of stdio"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="TCP address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--model", help="Hub id or local directory (default: the offline model)")
    parser.add_argument(
        "--backend", choices=["transformers", "openai"], help="where generation runs"
    )
    parser.add_argument("--backend-url", help="base URL of an OpenAI-compatible server")
    parser.add_argument("--device", help="auto, cpu, mps, cuda or cuda:N")
    parser.add_argument("--dtype", choices=["auto", "bfloat16", "float16", "float32"])
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )


def run_from_arguments(args: argparse.Namespace) -> None:
    configure_logging(args.log_level)
    serve(
        args.host,
        args.tcp,
        model=args.model,
        backend=args.backend,
        backend_url=args.backend_url,
        device=args.device,
        dtype=args.dtype,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m starchat.server", description="The StarChat language server."
    )
    add_serve_arguments(parser)
    run_from_arguments(parser.parse_args(argv))
