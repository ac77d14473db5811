"""A language-server process driven with raw bytes, for input no LSP client library sends."""

import asyncio
import itertools
import json
import os
import sys
from collections.abc import Callable
from typing import Any

SERVER = [sys.executable, "-m", "starchat.server"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class RawServer:
    """Writes framed bytes, reads every message the server sends back."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.messages: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._ids = itertools.count(1)
        self._reader = asyncio.create_task(self._read())
        self.answer_requests = True
        """Reply null to the server's own requests (progress creation, configuration…)."""

    @classmethod
    async def start(cls, *args: str, stderr: Any = None) -> "RawServer":
        process = await asyncio.create_subprocess_exec(
            *SERVER,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=ENV,
        )
        return cls(process)

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        while True:
            length = None
            while True:
                line = await stdout.readline()
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                elif not line.strip() and length is not None:
                    break
            message = json.loads(await stdout.readexactly(length))
            self.messages.append(message)
            self._arrived.set()
            if self.answer_requests and "method" in message and "id" in message:
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})

    def write(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)

    def send(self, message: Any) -> None:
        self.write(frame(json.dumps(message).encode()))

    def request(self, method: str, params: Any = None) -> int:
        msg_id = next(self._ids)
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30, since: int = 0
    ) -> dict[str, Any]:
        """The first message (from index `since` on) that matches."""

        async def find() -> dict[str, Any]:
            seen = since
            while True:
                for message in self.messages[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.messages)
                self._arrived.clear()
                if self._reader.done():
                    raise EOFError("the server closed its output")
                await self._arrived.wait()

        return await asyncio.wait_for(find(), timeout)

    async def response(self, msg_id: Any, timeout: float = 30) -> dict[str, Any]:
        return await self.wait_for(lambda m: m.get("id") == msg_id and "method" not in m, timeout)

    async def call(self, method: str, params: Any = None, timeout: float = 30) -> dict[str, Any]:
        return await self.response(self.request(method, params), timeout)

    async def initialize(self, options: dict[str, Any] | None = None, **capabilities: Any) -> None:
        reply = await self.call(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": "file:///work",
                "capabilities": capabilities,
                "initializationOptions": options or {},
            },
        )
        assert "result" in reply, reply
        self.notify("initialized", {})

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        self._reader.cancel()
