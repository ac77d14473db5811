"""The workspace index in a session: built after `initialized`, kept current, reported.

The index (server/index/) is built in a worker thread with a progress bar, so every request
is answered meanwhile. It follows the workspace through `workspace/didChangeWatchedFiles`
(the server asks the client to watch every file when it can register that dynamically),
`textDocument/didSave`, and the open documents, whose text stands in for the file on disk
(read again lazily, before a search, not at every keystroke). `starchat/status` reports
`index: {state, files, chunks, capped?}`. Only `file:` workspace folders are indexed; with
none the index is off and chat works as before.
"""

import asyncio
import logging
import threading
import uuid
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from starchat.server import methods
from starchat.server.context import uri_path
from starchat.server.index.workspace import IndexStatus, WorkspaceIndex
from starchat.server.lsp.errors import guarded
from starchat.server.lsp.progress import ProgressBar
from starchat.server.options import Options
from starchat.server.references import (
    Reference,
    definitions_used,
    file_references,
    related,
)

if TYPE_CHECKING:
    from starchat.server.session import StarChatServer

logger = logging.getLogger(__name__)


class IndexKeeper:
    """One session's workspace index and what keeps it current."""

    def __init__(self, ls: "StarChatServer") -> None:
        self._ls = ls
        self._index = WorkspaceIndex([])
        self._buffers: set[str] = set()
        """Open documents changed since the index last read them."""
        self._stop = threading.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def status(self) -> IndexStatus:
        return self._index.status()

    def start(self, roots: list[str], options: Options) -> None:
        """Index the `file:` folders among `roots`; none when the options turn the index off."""
        folders = [Path(uri_path(uri)) for uri in roots if uri.startswith("file:")]
        folders = [f for f in dict.fromkeys(folders) if f.is_dir()]
        if not options.workspace_context_tokens:
            folders = []
        self._stop = threading.Event()  # a build of earlier settings keeps its own
        self._index = WorkspaceIndex(folders, options.exclude)
        if folders:
            self._keep(self._build())
            self._keep(watch_files(self._ls))

    def reconfigure(self, previous: Options, options: Options, roots: list[str]) -> None:
        """Build the index again when the settings change what it reads or turn it on/off."""
        if previous.exclude != options.exclude or bool(previous.workspace_context_tokens) != bool(
            options.workspace_context_tokens
        ):
            self.stop()
            self.start(roots, options)

    def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()

    def fresh(self) -> WorkspaceIndex:
        """The index, with the open documents' latest text read in."""
        for uri in list(self._buffers):
            self._buffers.discard(uri)
            document = self._ls.documents.find(uri)
            if document is not None:
                self._index.open_buffer(Path(uri_path(uri)), document.text)
        return self._index

    def references(self, query: str, skip: list[str], files: list[str]) -> list[Reference]:
        """The chunks of the files the user named, then those `query` finds elsewhere than
        the `skip` documents (already in the prompt)."""
        index = self.fresh()
        named = [
            r
            for uri in files
            if uri.startswith("file:")
            for r in file_references(index, Path(uri_path(uri)))
        ]
        shown = [Path(uri_path(uri)) for uri in skip if uri.startswith("file:")]
        return named + [r for r in related(index, query, shown) if r not in named]

    def definitions(self, code: str, skip: list[str]) -> list[Reference]:
        """Where the names `code` uses are defined, outside the `skip` documents."""
        shown = [Path(uri_path(uri)) for uri in skip if uri.startswith("file:")]
        return definitions_used(self.fresh(), code, shown)

    def opened(self, uri: str) -> None:
        if uri.startswith("file:"):
            self._buffers.add(uri)

    def closed(self, uri: str) -> None:
        if uri.startswith("file:"):
            self._buffers.discard(uri)
            self._index.close_buffer(Path(uri_path(uri)))

    def files_changed(self, changes: Sequence[types.FileEvent]) -> None:
        for change in changes:
            if not change.uri.startswith("file:"):
                continue
            path = Path(uri_path(change.uri))
            if change.type == types.FileChangeType.Deleted:
                self._index.forget(path)
            else:
                self._index.refresh(path)

    async def _build(self) -> None:
        bar = ProgressBar(self._ls)
        await bar.begin("StarChat", "Indexing the workspace…")
        loop = asyncio.get_running_loop()

        def progress(done: int, total: int) -> None:  # called from the worker thread
            loop.call_soon_threadsafe(bar.report, f"Indexing the workspace: {done}/{total} files")

        index, stop = self._index, self._stop
        await asyncio.to_thread(index.build, progress, stop.is_set)
        if stop.is_set():
            bar.end("Stopped")
            return
        status = self._index.status()
        capped = " (file cap reached)" if status.capped else ""
        bar.end(f"Indexed {status.files} files{capped}")
        logger.info("workspace index: %s", status.to_json())
        self._ls.protocol.notify(methods.STATUS, self._ls.status_json())

    def _keep(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def watch_files(ls: "StarChatServer") -> None:
    """Ask the client to report changes to every file, where it can register that."""
    if not ls.client_capability("workspace", "did_change_watched_files", "dynamic_registration"):
        return
    watcher = types.FileSystemWatcher(glob_pattern="**/*")
    registration = types.Registration(
        id=f"starchat-watch-{uuid.uuid4().hex}",
        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        register_options=types.DidChangeWatchedFilesRegistrationOptions(watchers=[watcher]),
    )
    try:
        await ls.client_register_capability_async(types.RegistrationParams([registration]))
    except Exception as error:  # the client refused: saves and open documents still count
        logger.info("the client does not watch files for the index: %s", error)


def register(server: "StarChatServer") -> None:
    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    @guarded("didChangeWatchedFiles", notification=True)
    async def files_changed(
        ls: "StarChatServer", params: types.DidChangeWatchedFilesParams
    ) -> None:
        await asyncio.to_thread(ls.workspace_index.files_changed, params.changes)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    @guarded("didSave", notification=True)
    async def saved(ls: "StarChatServer", params: types.DidSaveTextDocumentParams) -> None:
        ls.workspace_index.opened(params.text_document.uri)
