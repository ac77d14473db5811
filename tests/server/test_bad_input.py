"""Bad input at every layer — bytes, JSON-RPC, LSP lifecycle, params, documents — gets a
proper error response (or is ignored where the specification says so), and the server
answers the next request. Clients that vanish mid-answer stop their generations."""

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.openai_stub import OpenAIStub
from tests.server.test_chat import cpu_seconds
from tests.server.wire import TcpServer, WireClient, frame

pytestmark = pytest.mark.asyncio(loop_scope="module")

DOC = "file:///work/a.py"
CURSOR = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(scripted_openai: OpenAIStub) -> AsyncIterator[WireClient]:
    raw = WireClient.spawn()
    await raw.initialize({"backend": "openai", "backendUrl": scripted_openai.url})
    raw.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": DOC, "languageId": "python", "version": 1, "text": "x = 1\n"}},
    )
    yield raw
    raw.close()


async def still_serving(server: WireClient) -> None:
    reply = await server.call("starchat/status")
    assert reply["result"]["state"] in ("loading", "ready")


def error_of(reply: dict[str, Any]) -> tuple[int, str]:
    assert "error" in reply, reply
    return reply["error"]["code"], reply["error"]["message"]


async def next_error(server: WireClient, after: int) -> dict[str, Any]:
    return await server.wait_for(
        lambda m: "error" in m and m.get("id") is None and server.messages.index(m) >= after
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"\xff\xfe\x00garbage", -32700),
        (b"[1, 2]", -32600),
        (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "starchat/status"}', -32600),
        (b'{"jsonrpc": "2.0", "id": 1.5, "method": "starchat/status"}', -32600),
        (b'{"jsonrpc": "2.0", "id": true, "method": "starchat/status"}', -32600),
        (b'{"jsonrpc": "2.0"}', -32600),
        (b"[" * 100_000, -32700),
    ],
)
async def test_malformed_messages_get_an_error_with_a_null_id(
    server: WireClient, body: bytes, code: int
) -> None:
    seen = len(server.messages)
    server.write(frame(body))
    reply = await server.wait_for(lambda m: "error" in m, since=seen)
    assert reply["id"] is None and reply["error"]["code"] == code
    await still_serving(server)


async def test_envelope_errors_keep_a_usable_id(server: WireClient) -> None:
    server.send({"jsonrpc": "2.0", "id": 77, "method": 5})
    assert error_of(await server.response(77))[0] == -32600
    server.send({"jsonrpc": "2.0", "id": 78, "method": "starchat/status", "params": "x"})
    assert error_of(await server.response(78))[0] == -32600
    server.send({"jsonrpc": "1.0", "id": 79, "method": "starchat/status"})
    assert error_of(await server.response(79))[0] == -32600
    server.send({"id": 80, "method": "starchat/status"})
    assert error_of(await server.response(80))[0] == -32600


async def test_framing_noise_is_skipped(server: WireClient) -> None:
    server.write(b"\r\n\r\nX-Junk: 1\r\nContent-Length: nope\r\n\r\n")
    server.write(b"content-length: 2\r\nContent-Type: application/vscode-jsonrpc\r\n\r\n{}")
    await still_serving(server)


async def test_unknown_methods(server: WireClient) -> None:
    code, message = error_of(await server.call("starchat/teleport", {}))
    assert code == -32601 and "starchat/teleport" in message
    seen = len(server.messages)
    server.notify("starchat/teleport", {})
    server.notify("$/somethingNew", {})
    await still_serving(server)
    assert all("error" not in m for m in server.messages[seen:])


async def test_params_that_do_not_fit_the_method(server: WireClient) -> None:
    code, message = error_of(
        await server.call("textDocument/codeAction", {"textDocument": {"uri": DOC}, "range": 5})
    )
    assert code == -32602 and "range" in message
    code, message = error_of(await server.call("starchat/chat", {"message": 42}))
    assert code == -32602 and "message" in message
    code, message = error_of(
        await server.call("workspace/executeCommand", {"command": "starchat.fix", "arguments": [1]})
    )
    assert code == -32602
    server.notify("textDocument/didChange", {"textDocument": {"uri": DOC}})  # dropped
    await still_serving(server)


async def test_documents_that_are_not_open(server: WireClient) -> None:
    missing = "file:///work/never-opened.py"
    for method, params in (
        (
            "textDocument/codeAction",
            {"textDocument": {"uri": missing}, "range": CURSOR, "context": {"diagnostics": []}},
        ),
        ("starchat/chat", {"message": "hi", "context": {"uri": missing}}),
        (
            "workspace/executeCommand",
            {"command": "starchat.explain", "arguments": [{"uri": missing, "range": CURSOR}]},
        ),
    ):
        reply = await server.call(method, params)
        assert reply["error"]["code"] == -32602, reply
        assert reply["error"]["data"]["code"] == "document_not_open"
        assert "not open" in reply["error"]["message"]
    server.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": missing, "version": 2}, "contentChanges": [{"text": "y"}]},
    )
    await still_serving(server)


async def test_ranges_past_the_end(server: WireClient) -> None:
    past = {"start": {"line": 0, "character": 0}, "end": {"line": 40, "character": 0}}
    for method, params in (
        (
            "textDocument/codeAction",
            {"textDocument": {"uri": DOC}, "range": past, "context": {"diagnostics": []}},
        ),
        ("starchat/chat", {"message": "hi", "context": {"uri": DOC, "range": past}}),
    ):
        reply = await server.call(method, params)
        assert reply["error"]["data"]["code"] == "invalid_range", reply
        assert "past the end" in reply["error"]["message"]
    # A character beyond the line's end means the end of the line, as the spec says.
    long_line = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 500}}
    reply = await server.call(
        "textDocument/codeAction",
        {"textDocument": {"uri": DOC}, "range": long_line, "context": {"diagnostics": []}},
    )
    assert len(reply["result"]) == 5  # Fix is offered on any code


async def test_empty_messages_and_unknown_conversations(server: WireClient) -> None:
    code, message = error_of(await server.call("starchat/chat", {"message": "  \n"}))
    assert code == -32602 and "empty" in message
    reply = await server.call("starchat/chat", {"message": "hi", "conversationId": "nope"})
    assert reply["error"]["data"]["code"] == "unknown_conversation"
    assert (await server.call("starchat/conversation/delete", {"conversationId": "nope"}))[
        "result"
    ] == {"deleted": False}


async def test_a_five_megabyte_document(server: WireClient, scripted_openai: OpenAIStub) -> None:
    uri = "file:///work/big.py"
    lines = [f"def f{i}(x):\n    return x + {i}\n\n" for i in range(180_000)]
    text = "".join(lines)
    assert len(text) > 5_000_000
    server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
    )
    started = time.perf_counter()
    actions = await server.call(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": {
                "start": {"line": 300_000, "character": 4},
                "end": {"line": 300_000, "character": 4},
            },
            "context": {"diagnostics": []},
        },
    )
    assert len(actions["result"]) == 5 and time.perf_counter() - started < 5
    server.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": uri, "version": 2},
            "contentChanges": [
                {
                    "range": {
                        "start": {"line": 1, "character": 11},
                        "end": {"line": 1, "character": 12},
                    },
                    "text": "y",
                }
            ],
        },
    )
    reply = await server.call(
        "starchat/chat", {"message": "Summarize.", "context": {"uri": uri}}, timeout=60
    )
    assert reply["result"]["text"] == "OK."
    sent = scripted_openai.last_user_message()
    assert "def f0(y):" not in sent and "return y + 0" in sent
    assert len(sent) < 8192 * 3.5 and re.search(r"… \(\d+ more lines not shown\)", sent)


async def test_requests_before_initialize_and_after_shutdown() -> None:
    raw = WireClient.spawn()
    try:
        code, _ = error_of(await raw.call("starchat/status"))
        assert code == -32002
        await raw.initialize({"backend": "openai", "backendUrl": "http://127.0.0.1:9/v1"})
        code, message = error_of(await raw.call("initialize", {"capabilities": {}}))
        assert code == -32600 and "already initialized" in message
        assert (await raw.call("shutdown"))["result"] is None
        code, message = error_of(await raw.call("starchat/status"))
        assert code == -32600 and "shutting down" in message
        raw.notify("exit")
        assert await raw.exit_code() == 0
    finally:
        raw.close()


async def test_exit_without_shutdown_is_an_error_exit() -> None:
    raw = WireClient.spawn()
    try:
        await raw.initialize({"backend": "openai", "backendUrl": "http://127.0.0.1:9/v1"})
        raw.notify("exit")
        assert await raw.exit_code() == 1
    finally:
        raw.close()


async def streaming(raw: WireClient, model: Path | None, token: str | None = None) -> None:
    """Start a long answer and wait until it streams (`model`: set by the client; over TCP
    the server's, and the client sends `token`)."""
    options: dict[str, Any] = {"maxNewTokens": 4000}
    options |= {"model": str(model)} if model is not None else {"token": token}
    await raw.initialize(options)
    raw.request("starchat/chat", {"message": "Talk.", "partialResultToken": "t"})
    await raw.wait_for(
        lambda m: m.get("method") == "$/progress" and m["params"]["token"] == "t", timeout=60
    )


async def test_shutdown_cancels_generations_in_flight(endless_model_dir: Path) -> None:
    raw = WireClient.spawn()
    try:
        await streaming(raw, endless_model_dir)
        assert (await raw.call("shutdown"))["result"] is None
        assert (await raw.response(2))["error"]["code"] == -32800
        raw.notify("exit")
        assert await raw.exit_code() == 0
    finally:
        raw.close()


async def test_a_client_that_disconnects_over_stdio_ends_the_server(
    endless_model_dir: Path,
) -> None:
    raw = WireClient.spawn()
    try:
        await streaming(raw, endless_model_dir)
        assert raw.process is not None and raw.process.stdin is not None
        raw.process.stdin.close()
        started = time.perf_counter()
        assert await raw.exit_code() == 1
        assert time.perf_counter() - started < 3
    finally:
        raw.close()


async def test_a_tcp_client_that_disconnects_stops_its_generation(endless_model_dir: Path) -> None:
    server = TcpServer("--model", str(endless_model_dir))
    try:
        first = server.connect()
        await streaming(first, None, server.token)
        first.close()
        await asyncio.sleep(0.3)
        before = cpu_seconds(server.process.pid)
        await asyncio.sleep(0.5)
        assert cpu_seconds(server.process.pid) - before < 0.1  # decoding stopped with the client

        second = server.connect()
        await second.initialize({"token": server.token, "maxNewTokens": 16})
        reply = await second.call("starchat/chat", {"message": "Hello again."}, timeout=60)
        assert reply["result"]["usage"]["generatedTokens"] == 16
        second.close()
    finally:
        server.close()
