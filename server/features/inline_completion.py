"""Inline completion: ghost text as you type, over standard LSP 3.18.

`textDocument/inlineCompletion` answers at most one item: the code the model writes between
the text before the cursor and the text after it (server/completions.py), with `range` only
when it replaces closing brackets the editor put after the cursor. Editors ask on nearly
every keystroke, so:

- `$/cancelRequest` ends the decode at the next token (pygls cancels the handler's task,
  which closes the stream);
- a newer request for the same document supersedes the older ones: they stop at their next
  token and answer no items;
- an answer for a document that changed meanwhile is dropped (it would be placed wrongly);
- completions never queue behind a chat answer (model_host.py), and while the completion
  model is loading or failed they answer no items — the status says why;
- consecutive completions in a document reuse the keys and values of the code before the
  cursor (`kvCacheMB`; the prompt's start stays put while the user types), so a keystroke
  encodes only the end of its line and the code after the cursor.

When the editor's suggestion widget has an item selected (`selectedCompletionInfo`), the
completion continues that item: the item's text is taken as typed, and the answer starts
with it and replaces the item's range, as the specification asks.
"""

import logging
from typing import TYPE_CHECKING

from lsprotocol import types
from starchat.engine import (
    BackendUnavailableError,
    CacheSlot,
    ModelLoadError,
    ModelNotFoundError,
)
from starchat.server.completions import around, complete, resolve_format
from starchat.server.context import relative_path
from starchat.server.documents import Document
from starchat.server.lsp.errors import RangeError, guarded

if TYPE_CHECKING:
    from starchat.server.session import StarChatServer

logger = logging.getLogger(__name__)

_UNAVAILABLE = (ModelLoadError, ModelNotFoundError, BackendUnavailableError)
_NOTHING = types.InlineCompletionList(items=[])


class Supersession:
    """The newest completion request of each document; older ones stop."""

    def __init__(self) -> None:
        self._latest: dict[str, int] = {}
        self._count = 0

    def begin(self, uri: str) -> int:
        self._count += 1
        self._latest[uri] = self._count
        return self._count

    def current(self, uri: str, ticket: int) -> bool:
        return self._latest.get(uri) == ticket

    def end(self, uri: str, ticket: int) -> None:
        if self._latest.get(uri) == ticket:
            del self._latest[uri]


def cursor_offset(document: Document, position: types.Position) -> int:
    """The offset of `position`, refusing one between the halves of a surrogate pair (a
    character past the line's end means its end, as the specification says)."""
    offset = document.offset(position)
    found = document.position(offset)
    line_units = document.position(document.index.line_end(position.line)).character
    if found != position and position.character < line_units:
        raise RangeError(
            f"position {position.line}:{position.character} is inside a character (between "
            f"the two halves of {document.text[offset]!r}); positions count UTF-16 code units"
        )
    return offset


def register(server: "StarChatServer") -> None:
    supersession = Supersession()

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    @guarded("inlineCompletion")
    async def inline_completion(
        ls: "StarChatServer", params: types.InlineCompletionParams
    ) -> types.InlineCompletionList:
        uri = params.text_document.uri
        document = ls.documents.get(uri)
        cursor = cursor_offset(document, params.position)
        version = document.version
        limits = ls.options.completion_budget()
        start = cursor
        typed = ""
        selected = params.context.selected_completion_info
        if selected is not None:
            start = document.span(selected.range).start
            typed = selected.text
        before, suffix = around(document.text, start, cursor, limits)
        prefix = before + typed
        ticket = supersession.begin(uri)
        try:
            engine = await ls.host.completer()
            # The format of this engine (the settings may have swapped the model meanwhile).
            fmt = resolve_format(ls.options.fim_format, engine, engine.health().model)
            infill, _ = await complete(
                engine,
                fmt,
                prefix,
                suffix,
                relative_path(uri, ls.workspace_roots()),
                limits,
                stop_early=lambda: not supersession.current(uri, ticket),
                cache=CacheSlot(f"completion:{id(ls)}:{uri}", ls.options.kv_cache_mb)
                if ls.options.kv_cache_mb
                else None,
            )
        except _UNAVAILABLE as error:
            logger.info("no inline completion: %s", error)
            return _NOTHING
        finally:
            superseded = not supersession.current(uri, ticket)
            supersession.end(uri, ticket)
        if infill is None or superseded or ls.documents.find(uri) is not document:
            return _NOTHING
        if document.version != version:
            return _NOTHING
        end = document.position(cursor + infill.replaces)
        return types.InlineCompletionList(
            items=[
                types.InlineCompletionItem(
                    insert_text=typed + infill.text,
                    range=types.Range(document.position(start), end)
                    if start != cursor or infill.replaces
                    else None,
                )
            ]
        )
