"""Connections: one client over stdio, or many over TCP, each read with `MessageReader`.

A connection ends at end of input, after `exit`, or (TCP) when the client stops reading
what the server sends it: more than `MAX_PENDING_OUTPUT` bytes waiting drops it, so a
client that never reads cannot make the server buffer without bound. Its requests still
running are then cancelled, which stops their generations, and its session lets go of
its documents. Over stdio that ends the process; over TCP the server goes on accepting
clients.

Anything written to file descriptor 1 would corrupt the stdio stream, so in stdio mode the
protocol gets a private duplicate of stdout and descriptor 1 is pointed at stderr: a stray
`print` or a library's progress bar lands in the log instead.
"""

import asyncio
import ctypes
import logging
import os
import selectors
import sys
from collections.abc import Callable
from typing import Any, BinaryIO, Protocol

from pygls.io_ import StdoutWriter
from starchat.server.lsp.framing import MAX_MESSAGE_BYTES, BadFrame, MessageReader, Source
from starchat.server.lsp.protocol import StarChatProtocol

logger = logging.getLogger(__name__)


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()

MAX_PENDING_OUTPUT = 16 * 1024 * 1024
"""Bytes waiting for a TCP client to read them, beyond which the client is dropped."""

HANDSHAKE_BYTES = 1024 * 1024
"""The largest message before `initialize` has been accepted: a client that has not shown
the token cannot make the server buffer large bodies."""


class Connection(Protocol):
    """What the transport needs from a language server: its protocol and a way to let go."""

    @property
    def protocol(self) -> StarChatProtocol: ...

    async def disconnected(self) -> None: ...


async def run_connection(connection: Connection, source: Source) -> int:
    """Serve one client until it leaves; returns the LSP exit code."""
    protocol = connection.protocol
    reader = MessageReader(source)
    try:
        while protocol.exit_code is None:
            reader.max_bytes = MAX_MESSAGE_BYTES if protocol.initialized else HANDSHAKE_BYTES
            try:
                message = await reader.next()
            except EOFError:
                logger.info("the client closed the connection")
                break
            if isinstance(message, BadFrame):
                protocol.reply_error(None, message.code, message.message)
                continue
            try:
                protocol.receive(message)
            except Exception:
                logger.exception("unexpected failure handling a message")
    finally:
        cancelled = protocol.cancel_in_flight()
        if cancelled:
            logger.info("cancelled %d request(s) still running", cancelled)
        await connection.disconnected()
    return protocol.exit_code if protocol.exit_code is not None else 1


class _ThreadReader:
    """Reads a file that the event loop cannot watch (a regular file, /dev/null) in a
    worker thread."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    async def read(self, n: int) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(None, os.read, self._fd, n)


def _pollable(fd: int) -> bool:
    with selectors.DefaultSelector() as selector:
        try:
            selector.register(fd, selectors.EVENT_READ)
        except (PermissionError, ValueError, OSError):
            return False
    return True


async def serve_stdio(connection: Connection, stdin: BinaryIO, stdout: BinaryIO) -> int:
    source: Source
    if _pollable(stdin.fileno()):
        stream = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), stdin)
        source = stream
    else:
        source = _ThreadReader(stdin.fileno())
    connection.protocol.set_writer(StdoutWriter(stdout))
    return await run_connection(connection, source)


def private_stdout() -> BinaryIO:
    """A duplicate of stdout for the protocol alone; descriptor 1 then points at stderr."""
    sys.stdout.flush()
    stream = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


class BoundedWriter:
    """pygls' writer for a TCP client: drops the client when its unread output grows past
    `limit` bytes."""

    def __init__(self, writer: asyncio.StreamWriter, limit: int = MAX_PENDING_OUTPUT) -> None:
        self._writer = writer
        self._limit = limit

    def write(self, data: bytes) -> None:
        transport = self._writer.transport
        if transport.is_closing():
            return
        transport.write(data)
        pending = transport.get_write_buffer_size()
        if pending > self._limit:
            logger.warning(
                "client %s is not reading (%d bytes waiting for it): disconnecting it",
                self._writer.get_extra_info("peername"),
                pending,
            )
            transport.abort()

    def close(self) -> None:
        self._writer.close()


def give_back_memory() -> None:
    """Hand freed memory back to the system. glibc keeps large freed blocks (a departed
    client's documents) in its heap once its adaptive mmap threshold has risen, so without
    this a server's memory would only ever grow with the largest documents it has seen."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


async def serve_tcp(
    new_connection: Callable[[], Connection],
    host: str,
    port: int,
    ready: Callable[[list[tuple[Any, ...]]], Any],
) -> None:
    """Accept clients on host:port, each a fresh session, until the process is stopped.
    `ready` gets the addresses actually bound."""

    async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        logger.info("client %s connected", peer)
        connection = new_connection()
        connection.protocol.set_writer(BoundedWriter(writer))
        try:
            await run_connection(connection, reader)
        finally:
            writer.close()
            give_back_memory()
            logger.info("client %s left", peer)

    server = await asyncio.start_server(serve_client, host, port)
    ready([sock.getsockname() for sock in server.sockets])
    async with server:
        await server.serve_forever()
