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
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from lsprotocol import types
from starchat.server.lsp.errors import DocumentNotOpenError, RangeError

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")

_BLOCK = 1024
"""Code points per block of the line index: a conversion reads at most one block in Python."""


@dataclass(frozen=True)
class Span:
    """Offsets into a document's text (code points), end exclusive."""

    start: int
    end: int

    @property
    def empty(self) -> bool:
        return self.start == self.end


@dataclass
class Tracked:
    """A span followed through the editor's changes while the model writes about it: a
    change before it shifts it, one after it leaves it, one that touches it loses it."""

    span: Span
    lost: bool = False

    def follow(self, changed: Span, inserted: int) -> None:
        if self.lost:
            return
        if changed.end <= self.span.start:
            shift = inserted - (changed.end - changed.start)
            self.span = Span(self.span.start + shift, self.span.end + shift)
        elif changed.start < self.span.end:
            self.lost = True


def _utf16(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _utf8(char: str) -> int:
    code = ord(char)
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


_CODECS: dict[str, tuple[str, int, Callable[[str], int]]] = {
    types.PositionEncodingKind.Utf16: ("utf-16-le", 2, _utf16),
    types.PositionEncodingKind.Utf8: ("utf-8", 1, _utf8),
}
"""Encoding → (codec, bytes per code unit, width of one character in code units)."""


class LineIndex:
    """Where lines start and how many code units precede an offset, for one text.

    Line breaks and code units are counted once per block of `_BLOCK` code points (by C
    string methods), so converting a position reads at most one block in Python, however
    long the line or the document: a 5-million-character line costs what a short one does.
    Consecutive lines (a caller walking the document) continue from the last one found.
    """

    def __init__(self, text: str, encoding: str) -> None:
        self.text = text
        self.encoding = encoding
        codec = _CODECS.get(encoding)
        plain = text.isascii() or (
            encoding == types.PositionEncodingKind.Utf16 and not _ASTRAL.search(text)
        )
        self._codec = None if codec is None or plain else codec
        self._has_cr = "\r" in text
        self._breaks = array("q", [0])
        """Line breaks ending before each block boundary."""
        self._units = array("q", [0])
        """Code units before each block boundary (only when they differ from code points)."""
        for start in range(0, len(text), _BLOCK):
            self._breaks.append(self._breaks[-1] + self._count_breaks(start, start + _BLOCK))
            if self._codec is not None:
                self._units.append(self._units[-1] + self._measure(start, start + _BLOCK))
        self.line_count = self._breaks[-1] + 1
        self._last = (0, 0)
        """The last line whose start was found, and that start."""

    def _count_breaks(self, start: int, stop: int) -> int:
        """Line breaks whose last character lies in text[start:stop] (a `\\r\\n` counts where
        its `\\n` is)."""
        count = self.text.count("\n", start, stop)
        if self._has_cr:
            count += self.text.count("\r", start, stop) - self.text.count("\r\n", start, stop + 1)
        return count

    def _measure(self, start: int, stop: int) -> int:
        assert self._codec is not None
        codec, unit_bytes, _ = self._codec
        return len(self.text[start:stop].encode(codec, "surrogatepass")) // unit_bytes

    def line_of(self, offset: int) -> int:
        block = offset // _BLOCK
        return self._breaks[block] + self._count_breaks(block * _BLOCK, offset)

    def line_start(self, line: int) -> int:
        if not 0 <= line < self.line_count:
            raise IndexError(f"line {line} is outside 0..{self.line_count - 1}")
        last_line, last_start = self._last
        if line == last_line:
            return last_start
        # A caller walking the lines: the next break is usually near.
        start = self._break_end(last_start, _BLOCK) if line == last_line + 1 else -1
        if start < 0:
            start = self._seek(line)
        self._last = (line, start)
        return start

    def _seek(self, line: int) -> int:
        if line == 0:
            return 0
        block = bisect.bisect_left(self._breaks, line) - 1
        # The break before the line ends inside `block`: scan from the block's start, or
        # from the last line found when that is nearer.
        skip, start = line - self._breaks[block] - 1, block * _BLOCK
        last_line, last_start = self._last
        if last_line < line and last_start >= start:
            skip, start = line - last_line - 1, last_start
        for _ in range(skip + 1):
            start = self._break_end(start, 2 * _BLOCK)
        return start

    def _break_end(self, start: int, within: int) -> int:
        """The offset just after the first line break in text[start:start + within], or -1."""
        if not self._has_cr:
            found = self.text.find("\n", start, start + within)
            return found + 1 if found >= 0 else -1
        match = _LINE_BREAK.search(self.text, start, start + within)
        if match is None:
            return -1
        end = match.end()
        return end + 1 if self.text.startswith("\r\n", end - 1) else end

    def line_end(self, line: int) -> int:
        """Where `line`'s content ends (before its line break)."""
        if line + 1 >= self.line_count:
            return len(self.text)
        end = self.line_start(line + 1)
        return end - 2 if end >= 2 and self.text.startswith("\r\n", end - 2) else end - 1

    def units_before(self, offset: int) -> int:
        """Code units in text[:offset]."""
        if self._codec is None:
            return offset
        block = offset // _BLOCK
        return self._units[block] + self._measure(block * _BLOCK, offset)

    def offset_of_units(self, units: int, start: int, end: int) -> int:
        """The offset in [start, end] where `units` code units of the text are used up; a
        unit inside a character (half a surrogate pair) means that character."""
        if self._codec is None:
            return min(max(units, start), end)
        width = self._codec[2]
        block_start = (bisect.bisect_right(self._units, units) - 1) * _BLOCK
        offset = min(max(start, block_start), end)
        used = self.units_before(offset)
        while offset < end:
            used += width(self.text[offset])
            if used > units:
                break
            offset += 1
        return offset


@dataclass
class Document:
    uri: str
    text: str
    version: int
    language_id: str
    encoding: str = types.PositionEncodingKind.Utf16
    diagnostics: list[types.Diagnostic] = field(default_factory=list)
    """Diagnostics the editor showed with this version (carried by codeAction requests)."""
    _index: LineIndex | None = field(default=None, repr=False, compare=False)
    _tracked: list[Tracked] = field(default_factory=list, repr=False, compare=False)

    @property
    def index(self) -> LineIndex:
        """The line index of the current text, built at its first use."""
        index = self._index
        if index is None or index.text is not self.text or index.encoding != self.encoding:
            index = self._index = LineIndex(self.text, self.encoding)
        return index

    @property
    def line_count(self) -> int:
        return self.index.line_count

    def line_start(self, line: int) -> int:
        return self.index.line_start(line)

    def line_text(self, line: int) -> str:
        """The line's content, without its line break."""
        return self.text[self.index.line_start(line) : self.index.line_end(line)]

    def lines(self) -> list[str]:
        """Every line's content, without line breaks (faster than `line_text` in a loop)."""
        return _LINE_BREAK.split(self.text)

    def line_of(self, offset: int) -> int:
        return self.index.line_of(offset)

    def offset(self, position: types.Position, *, strict: bool = True) -> int:
        """The text offset of `position`; a character past the line's end means its end (as
        the specification says), a line past the document's end is an error when `strict`
        (requests) and the document's end otherwise (edits)."""
        if position.line < 0 or position.character < 0:
            raise RangeError(f"position {_show(position)} is negative")
        index = self.index
        if position.line >= index.line_count:
            if strict:
                raise RangeError(
                    f"position {_show(position)} is past the end of {self.uri}, which has "
                    f"{index.line_count} lines (lines count from 0)"
                )
            return len(self.text)
        start = index.line_start(position.line)
        end = index.line_end(position.line)
        return index.offset_of_units(index.units_before(start) + position.character, start, end)

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
        index = self.index
        line = index.line_of(offset)
        start = index.line_start(line)
        return types.Position(line, index.units_before(offset) - index.units_before(start))

    def range(self, span: Span) -> types.Range:
        return types.Range(self.position(span.start), self.position(span.end))

    def lines_span(self, first: int, last: int) -> Span:
        """Whole lines `first`..`last` (0-based, inclusive), without the last line break."""
        return Span(self.index.line_start(first), self.index.line_end(last))

    def apply(self, change: types.TextDocumentContentChangeEvent) -> None:
        if isinstance(change, types.TextDocumentContentChangePartial):
            span = self.span(change.range, strict=False)
            self.text = self.text[: span.start] + change.text + self.text[span.end :]
            for tracked in self._tracked:
                tracked.follow(span, len(change.text))
        else:
            if change.text != self.text:
                self.lose_tracked()
            self.text = change.text
        self._index = None  # it holds the old text

    @contextmanager
    def track(self, span: Span) -> Iterator[Tracked]:
        """Follow `span` through the changes made while the block runs."""
        tracked = Tracked(span)
        self._tracked.append(tracked)
        try:
            yield tracked
        finally:
            self._tracked.remove(tracked)

    def lose_tracked(self) -> None:
        """Every span followed is gone (the whole text was replaced, or the editor closed
        the document)."""
        for tracked in self._tracked:
            tracked.lost = True


def _show(position: types.Position) -> str:
    return f"{position.line}:{position.character}"


class DocumentStore:
    """The documents the editor has opened, by URI."""

    def __init__(self, encoding: str = types.PositionEncodingKind.Utf16) -> None:
        self.encoding = encoding
        self._documents: dict[str, Document] = {}

    def open(self, item: types.TextDocumentItem) -> None:
        previous = self._documents.get(item.uri)
        if previous is not None:
            previous.lose_tracked()
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
        document = self._documents.pop(uri, None)
        if document is not None:
            document.lose_tracked()

    def clear(self) -> None:
        """Forget every document (the client has gone)."""
        self._documents.clear()

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
