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
        self._stopped = False
        self._tasks: set[asyncio.Task[None]] = set()

    def status(self) -> IndexStatus:
        return self._index.status()

    def start(self, roots: list[str], exclude: list[str]) -> None:
        folders = [Path(uri_path(uri)) for uri in roots if uri.startswith("file:")]
        folders = [f for f in dict.fromkeys(folders) if f.is_dir()]
        self._index = WorkspaceIndex(folders, exclude)
        if folders:
            self._keep(self._build())
            self._keep(watch_files(self._ls))

    def stop(self) -> None:
        self._stopped = True
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

        await asyncio.to_thread(self._index.build, progress, lambda: self._stopped)
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
