"""A server shared over TCP, attacked by its other clients: a client needs the token, cannot
point the shared model anywhere else, never sees the password in the backend's URL, gives
its memory back when it leaves, is dropped when it stops reading, and cannot freeze the
others with a request about a huge line."""

import asyncio
import socket
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.openai_stub import OpenAIStub
from tests.server.wire import TcpServer, WireClient, frame

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "s3cret-pass"


@pytest.fixture(scope="module")
def server(scripted_openai: OpenAIStub) -> Iterator[TcpServer]:
    """The operator's server: the scripted endpoint, with a password in its URL."""
    url = scripted_openai.url.replace("http://", f"http://operator:{SECRET}@")
    tcp = TcpServer("--backend", "openai", "--backend-url", url)
    yield tcp
    assert tcp.process.poll() is None, "the server died"
    tcp.close()


async def session(server: TcpServer, **options: Any) -> WireClient:
    client = server.connect()
    reply = await client.initialize({"token": server.token, **options})
    assert "result" in reply, reply
    return client


def shown(client: WireClient) -> list[str]:
    return [
        m["params"]["message"] for m in client.messages if m.get("method") == "window/showMessage"
    ]


async def test_a_client_needs_the_token(server: TcpServer) -> None:
    for options in ({}, {"token": "guess"}, {"token": server.token[:-1]}, {"token": 42}):
        client = server.connect()
        reply = await client.initialize(options)
        assert reply["error"]["data"]["code"] == "unauthorized", reply
        assert await asyncio.to_thread(client.closed.wait, 10), "the connection stayed open"
        client.close()
    client = await session(server)
    assert (await client.call("starchat/status"))["result"]["state"] in ("loading", "ready")
    client.close()


async def test_before_the_token_only_small_messages_are_read(server: TcpServer) -> None:
    client = server.connect()
    big = frame(b'{"jsonrpc": "2.0", "method": "x", "params": "%s"}' % (b"a" * 5_000_000))
    client.write(big)
    refusal = await client.wait_for(lambda m: "error" in m)
    assert (
        refusal["error"]["code"] == -32600 and "1048576-byte limit" in refusal["error"]["message"]
    )
    assert "result" in await client.initialize({"token": server.token})
    client.write(big)  # once admitted, the same message is read (and dropped: unknown method)
    assert "result" in await client.call("starchat/status")
    assert sum("error" in m for m in client.messages) == 1
    client.close()


async def test_the_generated_token_is_printed_once(server: TcpServer) -> None:
    assert sum(server.token in line for line in server.stderr) == 1


async def test_a_token_from_the_environment_is_used_and_not_printed() -> None:
    chosen = TcpServer("--backend", "openai", token="chosen-token-123")
    try:
        assert not any("chosen-token-123" in line for line in chosen.stderr)
        client = chosen.connect()
        assert "result" in await client.initialize({"token": "chosen-token-123"})
        client.close()
    finally:
        chosen.close()


async def test_listening_beyond_loopback_warns() -> None:
    exposed = TcpServer("--backend", "openai", "--host", "0.0.0.0")
    try:
        warning = exposed.wait_for_line("not a loopback address")
    finally:
        exposed.close()
    assert "0.0.0.0" in warning and "SSH tunnel" in warning


async def test_a_client_cannot_repoint_the_shared_model(
    server: TcpServer, scripted_openai: OpenAIStub
) -> None:
    victim = await session(server)
    attacker = await session(
        server, backendUrl="http://attacker:pw@127.0.0.1:9/v1", model="evil", maxNewTokens=9
    )
    attacker.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"starchat": {"dtype": "float16", "device": "cpu", "backend": "openai"}}},
    )
    await attacker.wait_for(lambda m: "starchat.dtype" in str(m.get("params")))
    refusals = [m for m in shown(attacker) if "cannot be set by an editor" in m]
    assert len(refusals) == 2
    assert "starchat.backendUrl" in refusals[0] and "starchat.model" in refusals[0]
    assert "starchat.dtype" in refusals[1] and "starchat.device" in refusals[1]
    assert "starchat.backend," not in refusals[1]  # the server's own value: nothing to refuse
    assert not any("attacker:pw" in m or "evil" in m for m in shown(attacker))

    asked = len(scripted_openai.requests)
    reply = await victim.call("starchat/chat", {"message": "Where do I go?"}, timeout=30)
    assert reply["result"]["text"] == "OK."
    assert len(scripted_openai.requests) == asked + 1  # the operator's endpoint answered
    status = (await victim.call("starchat/status"))["result"]
    assert status["model"] == scripted_openai.model and "127.0.0.1:9/" not in str(status)
    reply = await attacker.call("starchat/chat", {"message": "Mine?"}, timeout=30)
    assert scripted_openai.requests[-1]["max_tokens"] == 9  # sampling stays per client
    victim.close()
    attacker.close()


async def test_the_password_in_the_backend_url_is_never_shown(server: TcpServer) -> None:
    client = await session(server)
    status = await client.call("starchat/status")
    reply = await client.call("starchat/chat", {"message": "hi", "conversationId": "nope"})
    client.notify("workspace/didChangeConfiguration", {"settings": {"backendUrl": "x"}})
    await client.call("starchat/status")
    client.close()
    assert status["result"]["state"] == "ready"
    everything = str(client.messages) + str(reply) + "".join(server.stderr)
    assert SECRET not in everything


async def test_memory_is_given_back_when_sessions_close(server: TcpServer) -> None:
    warm = await session(server)
    warm.open("file:///w/warm.py", "x = 1\n")
    await warm.call("starchat/status")
    warm.close()
    await asyncio.sleep(1)
    idle = server.rss_mb()
    text = "value = 'é'  # a line of a big file\n" * 560_000  # 20 M characters
    figures = []
    for _ in range(3):
        client = await session(server)
        for n in range(4):
            client.open(f"file:///w/big{n}.py", text)
        last = {"line": 559_999, "character": 8}
        reply = await client.call(
            "textDocument/codeAction",
            {
                "textDocument": {"uri": "file:///w/big3.py"},
                "range": {"start": last, "end": last},
                "context": {"diagnostics": []},
            },
            timeout=60,
        )
        assert "result" in reply
        held = server.rss_mb()
        client.close()
        await asyncio.sleep(1.5)
        figures.append((held, server.rss_mb()))
    print(f"RSS idle {idle:.0f} MB; open/closed per cycle: {figures}")
    assert all(held > idle + 60 for held, _ in figures)  # the documents were really there
    assert all(closed < idle + 30 for _, closed in figures)


async def test_a_client_that_stops_reading_is_dropped(server: TcpServer) -> None:
    uri = "file:///w/" + "long" * 64_000 + ".py"  # each answer repeats it: ≈1 MB each
    silent = socket.create_connection(("127.0.0.1", server.port))
    silent.sendall(
        frame(
            b'{"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"capabilities": {}, '
            b'"initializationOptions": {"token": "%s"}}}' % server.token.encode()
        )
        + frame(b'{"jsonrpc": "2.0", "method": "initialized", "params": {}}')
        + frame(
            b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": '
            b'{"uri": "%s", "languageId": "python", "version": 1, "text": "x = 1\\n"}}}'
            % uri.encode()
        )
    )
    request = (
        b'{"jsonrpc": "2.0", "id": 1, "method": "textDocument/codeAction", "params": {'
        b'"textDocument": {"uri": "%s"}, "range": {"start": {"line": 0, "character": 0}, '
        b'"end": {"line": 0, "character": 0}}, "context": {"diagnostics": []}}}' % uri.encode()
    )
    sent = 0
    try:
        for _ in range(80):  # ≈80 MB of answers that are never read
            silent.sendall(frame(request))
            sent += 1
    except OSError:
        pass  # dropped while we were still writing
    other = await session(server)
    assert "result" in await other.call("starchat/status", timeout=10)
    other.close()
    await asyncio.sleep(1)
    assert any("is not reading" in line for line in server.stderr)
    received = 0
    silent.settimeout(10)
    try:
        while chunk := silent.recv(1 << 20):
            received += len(chunk)
    except OSError:
        pass  # reset by the server
    silent.close()
    print(f"slow reader: {sent} requests sent, {received / 2**20:.1f} MB read before the drop")
    assert received < 60 * 2**20


async def test_a_huge_line_does_not_hold_up_other_clients(server: TcpServer) -> None:
    line = "x = '" + "é😀" * 2_500_000 + "'"  # 5 M characters, 7.5 M UTF-16 units
    end = {"line": 0, "character": len(line.encode("utf-16-le")) // 2}
    heavy, other = await session(server), await session(server)
    heavy.open("file:///w/huge.py", line + "\n")
    await heavy.call("starchat/status", timeout=30)
    waits, actions = [], []
    for version in range(2, 5):
        started = time.perf_counter()
        action = heavy.request(
            "textDocument/codeAction",
            {
                "textDocument": {"uri": "file:///w/huge.py"},
                "range": {"start": {"line": 0, "character": end["character"] - 4}, "end": end},
                "context": {"diagnostics": []},
            },
        )
        status = other.request("starchat/status")
        for client, msg_id, times in ((other, status, waits), (heavy, action, actions)):
            reply = await client.response(msg_id, timeout=60)
            assert "result" in reply, reply
            times.append(client.arrivals[client.messages.index(reply)] - started)
        heavy.notify(  # a new version: the line index is built again
            "textDocument/didChange",
            {
                "textDocument": {"uri": "file:///w/huge.py", "version": version},
                "contentChanges": [{"range": {"start": end, "end": end}, "text": "#"}],
            },
        )
    print(
        f"huge line: codeAction {statistics.median(actions) * 1000:.0f} ms, other client's "
        f"status {statistics.median(waits) * 1000:.0f} ms (medians of {len(waits)})"
    )
    assert max(waits) < 1.0 and min(waits) < 0.1
    heavy.close()
    other.close()
