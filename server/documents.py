"""Open documents as the editor sees them, and LSP positions converted exactly.

An LSP position is (line, character): lines end at `\\n`, `\\r\\n` or `\\r`, and `character`
counts code units of the position encoding negotiated at `initialize` (UTF-16 unless the
client offered UTF-8 or UTF-32), so "😀" is 2 characters in UTF-16 and 4 in UTF-8. Python's
`str.splitlines` also breaks at form feeds and U+2028, and pygls' own documents clamp a
too-long character one unit short; this store follows the specification instead and keeps
the only copy of each document (pygls' workspace would hold a second).
"""

import bisect
import re
from dataclasses import dataclass, field
from functools import cached_property

from lsprotocol import types
from starchat.server.lsp.errors import DocumentNotOpenError, RangeError

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Span:
    """Offsets into a document's text (code points), end exclusive."""

    start: int
    end: int

    @property
    def empty(self) -> bool:
        return self.start == self.end


def _units(char: str, encoding: str) -> int:
    code = ord(char)
    if encoding == types.PositionEncodingKind.Utf8:
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    if encoding == types.PositionEncodingKind.Utf32:
        return 1
    return 2 if code > 0xFFFF else 1


@dataclass
class Document:
    uri: str
    text: str
    version: int
    language_id: str
    encoding: str = types.PositionEncodingKind.Utf16
    diagnostics: list[types.Diagnostic] = field(default_factory=list)
    """Diagnostics the editor showed with this version (carried by codeAction requests)."""

    @cached_property
    def line_starts(self) -> list[int]:
        return [0, *(m.end() for m in _LINE_BREAK.finditer(self.text))]

    @property
    def line_count(self) -> int:
        return len(self.line_starts)

    def line_text(self, line: int) -> str:
        """The line's content, without its line break."""
        start = self.line_starts[line]
        end = self.line_starts[line + 1] if line + 1 < self.line_count else len(self.text)
        return self.text[start:end].rstrip("\r\n")

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset) - 1

    def offset(self, position: types.Position, *, strict: bool = True) -> int:
        """The text offset of `position`; a character past the line's end means its end (as
        the specification says), a line past the document's end is an error when `strict`
        (requests) and the document's end otherwise (edits)."""
        if position.line < 0 or position.character < 0:
            raise RangeError(f"position {_show(position)} is negative")
        if position.line >= self.line_count:
            if strict:
                raise RangeError(
                    f"position {_show(position)} is past the end of {self.uri}, which has "
                    f"{self.line_count} lines (lines count from 0)"
                )
            return len(self.text)
        line = self.line_text(position.line)
        start = self.line_starts[position.line]
        if line.isascii() or self.encoding == types.PositionEncodingKind.Utf32:
            return start + min(position.character, len(line))
        units = 0
        for index, char in enumerate(line):
            units += _units(char, self.encoding)
            if units > position.character:
                return start + index
        return start + len(line)

    def span(self, range_: types.Range, *, strict: bool = True) -> Span:
        start = self.offset(range_.start, strict=strict)
        end = self.offset(range_.end, strict=strict)
        if end < start:
            if strict:
                raise RangeError(
                    f"range {_show(range_.start)}–{_show(range_.end)} ends before it starts"
                )
            start, end = end, start
        return Span(start, end)

    def position(self, offset: int) -> types.Position:
        """The LSP position of a text offset, in the negotiated encoding."""
        line = self.line_of(offset)
        before = self.text[self.line_starts[line] : offset]
        if before.isascii() or self.encoding == types.PositionEncodingKind.Utf32:
            return types.Position(line, len(before))
        return types.Position(line, sum(_units(c, self.encoding) for c in before))

    def range(self, span: Span) -> types.Range:
        return types.Range(self.position(span.start), self.position(span.end))

    def lines_span(self, first: int, last: int) -> Span:
        """Whole lines `first`..`last` (0-based, inclusive), without the last line break."""
        return Span(self.line_starts[first], self.line_starts[last] + len(self.line_text(last)))

    def apply(self, change: types.TextDocumentContentChangeEvent) -> None:
        if isinstance(change, types.TextDocumentContentChangePartial):
            span = self.span(change.range, strict=False)
            self.text = self.text[: span.start] + change.text + self.text[span.end :]
        else:
            self.text = change.text
        self.__dict__.pop("line_starts", None)


def _show(position: types.Position) -> str:
    return f"{position.line}:{position.character}"


class DocumentStore:
    """The documents the editor has opened, by URI."""

    def __init__(self, encoding: str = types.PositionEncodingKind.Utf16) -> None:
        self.encoding = encoding
        self._documents: dict[str, Document] = {}

    def open(self, item: types.TextDocumentItem) -> None:
        self._documents[item.uri] = Document(
            item.uri, item.text, item.version, item.language_id, self.encoding
        )

    def change(self, params: types.DidChangeTextDocumentParams) -> None:
        document = self.get(params.text_document.uri)
        for change in params.content_changes:
            document.apply(change)
        document.version = params.text_document.version
        document.diagnostics = []

    def close(self, uri: str) -> None:
        self._documents.pop(uri, None)

    def get(self, uri: str) -> Document:
        try:
            return self._documents[uri]
        except KeyError:
            raise DocumentNotOpenError(
                f"{uri} is not open in the editor (the server only reads documents the editor "
                "has opened with textDocument/didOpen)"
            ) from None

    def find(self, uri: str) -> Document | None:
        return self._documents.get(uri)
