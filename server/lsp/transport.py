"""The LSP base protocol on the wire: `Content-Length` framing over stdio or TCP.

The reader is forgiving about headers (any case, extra headers, stray blank lines) and
strict about bodies: a body that is not JSON is answered with Parse Error (-32700, id null)
and the next message is read as usual. A connection ends at end of input or after `exit`;
its requests still running are cancelled, which stops their generations. Over stdio that
ends the process; over TCP the server goes on accepting the next client.

Anything written to file descriptor 1 would corrupt the stdio stream, so in stdio mode the
protocol gets a private duplicate of stdout and descriptor 1 is pointed at stderr: a stray
`print` or a library's progress bar lands in the log instead.
"""

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO, Protocol

from pygls.io_ import StdinAsyncReader, StdoutWriter
from starchat.server.lsp.errors import INVALID_REQUEST
from starchat.server.lsp.protocol import PARSE_ERROR, StarChatProtocol

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Larger bodies are skipped unread (a 5 MB document is far below this)."""

_READ_LIMIT = 1024 * 1024


class Reader(Protocol):
    def readline(self) -> Awaitable[bytes]: ...

    def readexactly(self, n: int) -> Awaitable[bytes]: ...


class Connection(Protocol):
    """What the transport needs from a language server: its protocol and a way to let go."""

    @property
    def protocol(self) -> StarChatProtocol: ...

    async def disconnected(self) -> None: ...


async def read_body(reader: Reader) -> bytes | int | None:
    """The next message body; its announced length when it was too large to read; None at
    end of input."""
    length: int | None = None
    while True:
        try:
            line = await reader.readline()
        except ValueError:  # a header line beyond the limit; asyncio has discarded it
            logger.warning("skipping a header line longer than %d bytes", _READ_LIMIT)
            continue
        if not line:
            return None
        if line.strip():
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    logger.warning("ignoring a bad Content-Length header: %r", line[:100])
            continue
        if length is None or length < 0:
            continue  # a blank line outside a message, or headers without a usable length
        break
    if length > MAX_MESSAGE_BYTES:
        remaining = length
        while remaining:
            chunk = await _read_exactly(reader, min(remaining, _READ_LIMIT))
            if chunk is None:
                return None
            remaining -= len(chunk)
        return length
    return await _read_exactly(reader, length)


async def _read_exactly(reader: Reader, n: int) -> bytes | None:
    try:
        data = await reader.readexactly(n)
    except asyncio.IncompleteReadError:
        return None
    return data if len(data) == n else None


def dispatch(protocol: StarChatProtocol, body: bytes | int) -> None:
    """Parse one body and hand it to the protocol; no exception escapes."""
    if isinstance(body, int):
        protocol.reply_error(
            None,
            INVALID_REQUEST,
            f"message of {body} bytes is over the {MAX_MESSAGE_BYTES}-byte limit",
        )
        return
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        protocol.reply_error(None, PARSE_ERROR, f"parse error: {error}"[:300])
        return
    try:
        protocol.receive(data)
    except Exception:
        logger.exception("unexpected failure handling a message")


async def run_connection(connection: Connection, reader: Reader) -> int:
    """Serve one client until it leaves; returns the LSP exit code."""
    protocol = connection.protocol
    try:
        while protocol.exit_code is None:
            body = await read_body(reader)
            if body is None:
                logger.info("the client closed the connection")
                break
            dispatch(protocol, body)
    finally:
        cancelled = protocol.cancel_in_flight()
        if cancelled:
            logger.info("cancelled %d request(s) still running", cancelled)
        await connection.disconnected()
    return protocol.exit_code if protocol.exit_code is not None else 1


async def serve_stdio(connection: Connection, stdin: BinaryIO, stdout: BinaryIO) -> int:
    loop = asyncio.get_running_loop()
    reader: Reader
    try:
        stream = asyncio.StreamReader(limit=_READ_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), stdin)
        reader = stream
    except ValueError:  # a regular file: no pipe transport, read it in a thread
        reader = StdinAsyncReader(stdin)
    connection.protocol.set_writer(StdoutWriter(stdout))
    return await run_connection(connection, reader)


def private_stdout() -> BinaryIO:
    """A duplicate of stdout for the protocol alone; descriptor 1 then points at stderr."""
    sys.stdout.flush()
    stream = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


async def serve_tcp(
    new_connection: Callable[[], Connection], host: str, port: int, ready: Callable[[int], Any]
) -> None:
    """Accept clients on host:port, each a fresh session, until the process is stopped."""

    async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        logger.info("client %s connected", peer)
        connection = new_connection()
        connection.protocol.set_writer(writer)
        try:
            await run_connection(connection, reader)
        finally:
            writer.close()
            logger.info("client %s left", peer)

    server = await asyncio.start_server(serve_client, host, port, limit=_READ_LIMIT)
    ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()
