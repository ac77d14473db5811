"""The index a server session keeps of its workspace folders.

Built once in the background (`build`, in a worker thread, with progress), then kept current
file by file: a saved or watched file is read again (`refresh`), a deleted one forgotten
(`forget`), and an open document's text stands in for the file on disk until it is closed
(`open_buffer` / `close_buffer`). Every path passes the same filter (files.py) whichever way
it arrives, so a watched `.env` is no more readable than a walked one.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from starchat.server.index.chunks import Chunk, chunk_file
from starchat.server.index.files import MAX_FILES, FileFilter, read_text
from starchat.server.index.search import ChunkIndex, Hit

State = Literal["off", "indexing", "ready"]
_COMMIT_EVERY = 500
"""Files between commits while building: searches see the index grow."""


@dataclass(frozen=True)
class IndexStatus:
    state: State
    files: int
    chunks: int
    capped: bool
    """The walk stopped at the file cap: some files are not indexed."""

    def to_json(self) -> dict[str, object]:
        status: dict[str, object] = {"state": self.state, "files": self.files}
        status["chunks"] = self.chunks
        if self.capped:
            status["capped"] = True
        return status


class WorkspaceIndex:
    def __init__(
        self, roots: list[Path], exclude: list[str] | None = None, max_files: int = MAX_FILES
    ) -> None:
        self._filters = [FileFilter(root.resolve(), exclude) for root in roots]
        self._max_files = max_files
        self._chunks = ChunkIndex()
        self._state: State = "indexing" if roots else "off"
        self._capped = False
        self._buffers: set[str] = set()
        self._lock = threading.Lock()

    def status(self) -> IndexStatus:
        return IndexStatus(self._state, self._chunks.files, self._chunks.chunks, self._capped)

    def build(
        self,
        progress: Callable[[int, int], None] = lambda _done, _total: None,
        stopped: Callable[[], bool] = lambda: False,
    ) -> None:
        """Walk every folder and index what it may read (run it in a worker thread)."""
        if not self._filters:
            return
        budget = self._max_files
        files: list[tuple[FileFilter, Path]] = []
        for folder in self._filters:
            walk = folder.walk(budget)
            files += [(folder, path) for path in walk.files]
            budget -= len(walk.files)
            self._capped = self._capped or walk.capped
        for done, (folder, path) in enumerate(files, 1):
            if stopped():
                return
            key = self._key(folder, path)
            with self._lock:
                if key not in self._buffers:
                    self._put_from_disk(key, path)
            if done % _COMMIT_EVERY == 0:
                self._chunks.commit()
                progress(done, len(files))
        self._chunks.commit()
        self._state = "ready"
        progress(len(files), len(files))

    def refresh(self, path: Path) -> None:
        """`path` was created or changed on disk."""
        found = self._locate(path)
        if found is None:
            return
        key, readable = found
        with self._lock:
            if key in self._buffers:
                return
            if readable:
                self._put_from_disk(key, path)
            else:
                self._chunks.put(key, [])
        self._chunks.commit()

    def forget(self, path: Path) -> None:
        """`path` was deleted."""
        found = self._locate(path)
        if found is not None:
            with self._lock:
                if found[0] not in self._buffers:
                    self._chunks.put(found[0], [])
            self._chunks.commit()

    def open_buffer(self, path: Path, text: str) -> None:
        """An open document's text, which stands in for the file until `close_buffer`."""
        found = self._locate(path)
        if found is None or not found[1]:
            return
        key = found[0]
        with self._lock:
            self._buffers.add(key)
            self._chunks.put(key, chunk_file(key, text))

    def close_buffer(self, path: Path) -> None:
        found = self._locate(path)
        if found is not None:
            with self._lock:
                self._buffers.discard(found[0])
            self.refresh(path)

    def chunks_of(self, path: Path) -> list[Chunk]:
        found = self._locate(path)
        return self._chunks.chunks_of(found[0]) if found is not None and found[1] else []

    def indexed(self) -> list[str]:
        """Every indexed file, as its key (workspace-relative path), sorted."""
        return self._chunks.paths()

    def search(self, query: str, limit: int, skip: list[Path] | None = None) -> list[Hit]:
        skipped = [found[0] for p in skip or [] if (found := self._locate(p)) is not None]
        return self._chunks.search(query, limit, skipped)

    def path_of(self, chunk: Chunk) -> Path:
        """The absolute path of a chunk's file."""
        if len(self._filters) == 1:
            return self._filters[0].root / chunk.path
        folder, _, rest = chunk.path.partition("/")
        root = next(f.root for f in self._filters if f.root.name == folder)
        return root / rest

    def _put_from_disk(self, key: str, path: Path) -> None:
        text = read_text(path)
        self._chunks.put(key, chunk_file(key, text) if text is not None else [])

    def _key(self, folder: FileFilter, path: Path) -> str:
        relative = path.relative_to(folder.root).as_posix()
        return relative if len(self._filters) == 1 else f"{folder.root.name}/{relative}"

    def _locate(self, path: Path) -> tuple[str, bool] | None:
        """(key, whether the index may read it) for a path inside a folder; None outside."""
        path = Path(path)
        absolute = path.parent.resolve() / path.name  # the file itself is never followed
        for folder in self._filters:
            if absolute.is_relative_to(folder.root):
                return self._key(folder, absolute), folder.allows(absolute)
        return None
