"""The real language-server process driven with raw bytes, for input no LSP client library
sends: one helper for the bad-input, fuzz and attack tests, over stdio or TCP.

A reader thread collects every message the server sends (with its arrival time) and
answers the server's own requests like an editor would, so a test may block in plain code
(a hypothesis loop) or await in a coroutine without the server ever stalling on its output.
"""

import asyncio
import contextlib
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

SERVER = [sys.executable, "-m", "starchat.server"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class WireClient:
    """Writes bytes to a server, reads every message it sends back."""

    def __init__(self, incoming: BinaryIO, write: Callable[[bytes], None]) -> None:
        self.messages: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        """`time.perf_counter()` when each message arrived."""
        self.replies: dict[str, Any] = {"workspace/applyEdit": {"applied": False}}
        """The result sent for each of the server's requests, by method (others: null)."""
        self.answer_requests = True
        self.closed = threading.Event()
        """Set when the server closed its end."""
        self.process: subprocess.Popen[bytes] | None = None
        self.socket: socket.socket | None = None
        self._write = write
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        threading.Thread(target=self._read, args=(incoming,), daemon=True).start()

    @classmethod
    def spawn(cls, *args: str, env: dict[str, str] | None = None) -> "WireClient":
        """A new server process over stdio (its stderr goes to the test's)."""
        process = subprocess.Popen(
            [*SERVER, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env or ENV
        )
        assert process.stdin is not None and process.stdout is not None
        stdin = process.stdin

        def write(data: bytes) -> None:
            stdin.write(data)
            stdin.flush()

        client = cls(process.stdout, write)
        client.process = process
        return client

    @classmethod
    def connect(cls, port: int) -> "WireClient":
        sock = socket.create_connection(("127.0.0.1", port))
        client = cls(sock.makefile("rb"), sock.sendall)
        client.socket = sock
        return client

    def _read(self, incoming: BinaryIO) -> None:
        try:
            while (message := _read_message(incoming)) is not None:
                with self._lock:
                    self.messages.append(message)
                    self.arrivals.append(time.perf_counter())
                if self.answer_requests and "method" in message and "id" in message:
                    result = self.replies.get(message["method"])
                    self.send({"jsonrpc": "2.0", "id": message["id"], "result": result})
        except (OSError, ValueError):
            pass
        finally:
            self.closed.set()

    # ---- sending ----------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        with self._lock:
            self._write(data)

    def send(self, message: Any) -> None:
        self.write(frame(json.dumps(message).encode()))

    def request(self, method: str, params: Any = None, msg_id: Any = None) -> Any:
        msg_id = next(self._ids) if msg_id is None else msg_id
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def open(self, uri: str, text: str, language: str = "python") -> None:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}},
        )

    # ---- receiving --------------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30, since: int = 0
    ) -> dict[str, Any]:
        """The first message (from index `since` on) that matches."""
        deadline = time.monotonic() + timeout
        seen = since
        while True:
            for message in self.messages[seen:]:
                if predicate(message):
                    return message
            seen = max(seen, len(self.messages))
            if self.closed.is_set() and seen == len(self.messages):
                raise EOFError("the server closed the connection")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no matching message within {timeout} s")
            await asyncio.sleep(0.005)

    async def response(self, msg_id: Any, timeout: float = 30) -> dict[str, Any]:
        return await self.wait_for(lambda m: m.get("id") == msg_id and "method" not in m, timeout)

    async def call(self, method: str, params: Any = None, timeout: float = 30) -> dict[str, Any]:
        return await self.response(self.request(method, params), timeout)

    def answered(self, ids: set[Any]) -> dict[Any, int]:
        """How many responses each of `ids` got so far."""
        counts = dict.fromkeys(ids, 0)
        for message in list(self.messages):
            if "method" not in message and message.get("id") in counts:
                counts[message["id"]] += 1
        return counts

    async def initialize(
        self, options: dict[str, Any] | None = None, root: str = "file:///work", **capabilities: Any
    ) -> dict[str, Any]:
        """`initialize` (with `root` as the workspace folder) then `initialized`; returns the
        reply (an error when refused)."""
        reply = await self.call(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root,
                "workspaceFolders": [{"uri": root, "name": "workspace"}],
                "capabilities": capabilities,
                "initializationOptions": options or {},
            },
        )
        if "result" in reply:
            self.notify("initialized", {})
        return reply

    # ---- ending -----------------------------------------------------------------------

    async def exit_code(self, timeout: float = 10) -> int:
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait, timeout)

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        if self.socket is not None:
            with contextlib.suppress(OSError):  # the server may have closed it already
                self.socket.shutdown(socket.SHUT_RDWR)
            self.socket.close()


def _read_message(incoming: BinaryIO) -> dict[str, Any] | None:
    length = None
    while True:
        line = incoming.readline()
        if not line:
            return None
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        elif not line.strip() and length is not None:
            break
    body = incoming.read(length)
    if len(body) < length:
        return None
    message: dict[str, Any] = json.loads(body)
    return message


class TcpServer:
    """`starchat serve --tcp 0` as a process: its port, its stderr lines, its token."""

    def __init__(self, *args: str, token: str | None = None) -> None:
        env = {k: v for k, v in ENV.items() if k != "STARCHAT_TOKEN"}
        if token is not None:
            env["STARCHAT_TOKEN"] = token
        self.process = subprocess.Popen(
            [*SERVER, "--tcp", "0", *args], stderr=subprocess.PIPE, env=env
        )
        self.stderr: list[str] = []
        listening = threading.Event()
        self.port = 0

        def drain() -> None:
            assert self.process.stderr is not None
            for raw in self.process.stderr:
                line = raw.decode(errors="replace")
                self.stderr.append(line)
                found = re.search(r"listening on \S+:(\d+)", line)
                if found and not listening.is_set():
                    self.port = int(found.group(1))
                    listening.set()
            listening.set()

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()
        if not listening.wait(60) or not self.port:
            self.close()
            raise RuntimeError("the server did not start:\n" + "".join(self.stderr))
        self.token = token if token is not None else self.printed_token()

    def printed_token(self) -> str:
        for line in self.stderr:
            found = re.search(r"initializationOptions\.token = '([^']+)'", line)
            if found:
                return found.group(1)
        raise AssertionError("no token printed:\n" + "".join(self.stderr))

    def connect(self) -> WireClient:
        return WireClient.connect(self.port)

    def wait_for_line(self, text: str, timeout: float = 30) -> str:
        """The first stderr line containing `text`, waiting for it to be written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in self.stderr if text in line), None)
            if found is not None:
                return found
            if not self._drain.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no line with {text!r} on stderr:\n" + "".join(self.stderr))

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self._drain.join(5)
