"""The LSP base protocol's framing: `Content-Length` headers, then exactly that many bytes.

A client that gets the framing wrong must not lose every message after its mistake, so the
reader resynchronises instead of trusting the announced length blindly:

- a body that is not one JSON value is answered with Parse Error (-32700, id null); when a
  complete value is followed by more bytes (the length was too long), those bytes are read
  again as the start of the next message;
- a body in which a new `Content-Length:` header line appears (the length was far too long)
  is answered with Parse Error as soon as that header arrives, and reading goes on from it;
- bytes that are not a header (a body sent without one, the rest of a body whose length was
  too short) are skipped up to the next `Content-Length:`; one Parse Error is sent for each
  stretch of them, none when they follow a message that was already answered with an error;
- headers without a usable length (missing, negative, not a number) get a Parse Error;
- an announced length over the reader's `max_bytes` (`MAX_MESSAGE_BYTES`; the transport
  allows less before `initialize`) gets Invalid Request at once, and its bytes are skipped
  like any others, never buffered.

Headers are read forgivingly otherwise: any case, extra headers, stray blank lines.
"""

import json
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from starchat.server.lsp.errors import INVALID_REQUEST, PARSE_ERROR

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Larger bodies are refused unread (a 5 MB document is far below this)."""

_CHUNK = 1024 * 1024
_LINE_LIMIT = 64 * 1024
"""Longer header lines are not headers: they are skipped up to the next header."""

_HEADER = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t]*:")
"""The start of a header line (an RFC 7230 field name and its colon)."""
_HEADER_START = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
_HEADER_LINE = re.compile(rb"content-length[ \t]*:[ \t]*[0-9]+[ \t]*\r?\n", re.IGNORECASE)
"""A whole Content-Length line: never part of a valid JSON body (raw line breaks are not
allowed inside JSON strings, and `content-length` is not JSON outside them)."""
_DECODER = json.JSONDecoder()


class Source(Protocol):
    def read(self, n: int) -> Awaitable[bytes]:
        """Up to `n` bytes, as soon as any are available; b"" at end of input."""
        ...


@dataclass(frozen=True)
class BadFrame:
    """Input that is not a message, to be answered with an error whose id is null."""

    code: int
    message: str


class MessageReader:
    """The JSON values a client sends, one per well-framed message, with `BadFrame` for
    input that is not one (see the module docstring)."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self._buffer = bytearray()
        self._eof = False
        self._answered = False
        """The latest input was already answered with an error: skipped bytes belong to it."""
        self.max_bytes = MAX_MESSAGE_BYTES

    async def next(self) -> object | BadFrame:
        """The next message (any JSON value, `null` included) or bad frame; `EOFError` at
        the end of input."""
        while True:
            header = await self._header()
            if header is None:
                raise EOFError
            if isinstance(header, BadFrame):
                return self._bad(header)
            if header > self.max_bytes:
                self._answered = True
                return BadFrame(
                    INVALID_REQUEST,
                    f"message of {header} bytes is over the {self.max_bytes}-byte limit",
                )
            body = await self._body(header)
            if body is None:
                raise EOFError
            if len(body) < header:
                return self._bad(
                    BadFrame(
                        PARSE_ERROR,
                        f"Content-Length {header} is wrong: a new message starts after "
                        f"{len(body)} bytes",
                    )
                )
            message = self._parse(body)
            if not isinstance(message, BadFrame):
                self._answered = False
            return message if not isinstance(message, BadFrame) else self._bad(message)

    def _bad(self, frame: BadFrame) -> BadFrame:
        self._answered = True
        return frame

    async def _header(self) -> int | BadFrame | None:
        """The announced length of the next message, or why there is none."""
        length: int | None = None
        values: list[bytes] = []
        while True:
            line = await self._line()
            if line is None:
                return None
            if not line.strip():
                if length is not None:
                    return length
                if values:
                    shown = b", ".join(values).decode("ascii", "replace")[:80]
                    return BadFrame(PARSE_ERROR, f"no usable Content-Length header ({shown})")
                continue  # a stray blank line between messages
            start = _HEADER_START.search(line)
            if start is not None and start.start() > 0:
                self._buffer[:0] = line[start.start() :]
                line = line[: start.start()]
            if _HEADER.match(line) is None:
                if not self._answered:
                    self._answered = True
                    return BadFrame(
                        PARSE_ERROR, "skipped input that is not a message (no Content-Length)"
                    )
                length, values = None, []
                continue
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                value = value.strip()
                length = int(value) if value.isdigit() and len(value) < 19 else None
                values.append(b"Content-Length: " + value[:20])

    async def _line(self) -> bytes | None:
        """The next line with its line break; a line too long to be a header comes back as
        what precedes the next `Content-Length:` (or all but the buffer's tail)."""
        while True:
            end = self._buffer.find(b"\n")
            if 0 <= end < _LINE_LIMIT:
                return self._take(end + 1)
            if len(self._buffer) >= _LINE_LIMIT:
                start = _HEADER_START.search(self._buffer, 1)
                keep = start.start() if start is not None else len(self._buffer) - 32
                return self._take(keep)
            if not await self._fill():
                return self._take(len(self._buffer)) if self._buffer else None

    async def _body(self, length: int) -> bytes | None:
        """`length` bytes, or fewer when a new header starts inside them."""
        scanned = 0
        while True:
            found = _HEADER_LINE.search(self._buffer, max(0, scanned - 40), length)
            if found is not None:
                return self._take(found.start())
            if len(self._buffer) >= length:
                return self._take(length)
            scanned = len(self._buffer)
            if not await self._fill():
                return None

    def _parse(self, body: bytes) -> object | BadFrame:
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as error:
            problem = f"parse error: {error}"[:300]
        text = body.decode("utf-8", "surrogateescape")
        try:
            _, end = _DECODER.raw_decode(text, len(text) - len(text.lstrip(" \t\r\n")))
        except (ValueError, RecursionError):
            return BadFrame(PARSE_ERROR, problem)
        # A whole value and then more: the length was too long, and what follows is the
        # start of the next message.
        self._buffer[:0] = text[end:].encode("utf-8", "surrogateescape")
        return BadFrame(PARSE_ERROR, f"{problem} (is Content-Length {len(body)} too long?)")

    def _take(self, n: int) -> bytes:
        with memoryview(self._buffer) as view:
            taken = bytes(view[:n])
        if n >= len(self._buffer):
            self._buffer = bytearray()  # a new buffer, so a large one is given back
        else:
            del self._buffer[:n]  # cheap: CPython moves the buffer's start
        return taken

    async def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = await self._source.read(_CHUNK)
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True
