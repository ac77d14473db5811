"""Hostile input at the real server over stdio: lying frames, text that is not text, crafted
URIs for Write tests, and a document changed under a running command. The server never
dies, answers every valid request after a bad frame, and writes nothing outside the
workspace. (Attacks that need several clients are in test_tcp_sessions.py.)"""

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.openai_stub import OpenAIStub
from tests.server.wire import ENV, SERVER, WireClient, frame

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("attacks")
    (root / "project").mkdir()
    (root / "outside").mkdir()
    (root / "project" / "escape").symlink_to(root / "outside")
    return root / "project"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(scripted_openai: OpenAIStub, workspace: Path) -> AsyncIterator[WireClient]:
    raw = WireClient.spawn()
    reply = await raw.initialize(
        {"backend": "openai", "backendUrl": scripted_openai.url}, root=workspace.as_uri()
    )
    assert "result" in reply
    yield raw
    assert raw.process is not None and raw.process.poll() is None, "the server died"
    raw.close()


def status(msg_id: str) -> bytes:
    body = {"jsonrpc": "2.0", "id": msg_id, "method": "starchat/status"}
    return json.dumps(body).encode()


BAD_FRAMES: dict[str, bytes] = {
    # The body's length is one short: its last byte is read as the start of the next header.
    "too short": b"Content-Length: %d\r\n\r\n" % (len(status("x")) - 1) + status("x"),
    # A few bytes too long: the next message's header is cut in two.
    "too long": b"Content-Length: %d\r\n\r\n" % (len(status("x")) + 6) + status("x"),
    # Far too long: the announced bytes would swallow the next several messages.
    "far too long": b"Content-Length: 5000\r\n\r\n" + status("x"),
    "negative": b"Content-Length: -20\r\n\r\n" + status("x"),
    "not a number": b"Content-Length: 12abc\r\n\r\n" + status("x"),
    "no header": status("x"),
    "only other headers": b"Content-Type: application/json\r\n\r\n" + status("x"),
    "2 GiB announced": b"Content-Length: 2147483648\r\n\r\n" + status("x"),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
async def test_a_bad_frame_is_answered_and_the_next_messages_are_not_lost(
    server: WireClient, name: str
) -> None:
    seen = len(server.messages)
    server.write(BAD_FRAMES[name] + b"".join(frame(status(f"{name}-{i}")) for i in range(20)))
    for i in range(20):
        reply = await server.response(f"{name}-{i}", timeout=10)
        assert "result" in reply, reply
    errors = [m for m in server.messages[seen:] if "error" in m and m["id"] is None]
    assert len(errors) == 1, errors
    code = -32600 if name == "2 GiB announced" else -32700
    assert errors[0]["error"]["code"] == code
    assert all(m.get("id") != "x" for m in server.messages[seen:])  # the bad frame itself


async def test_lone_surrogates_in_a_request_are_invalid_params(
    server: WireClient, scripted_openai: OpenAIStub
) -> None:
    asked = len(scripted_openai.requests)
    reply = await server.call("starchat/chat", {"message": "why \ud800?"})
    assert reply["error"]["code"] == -32602
    assert "params.message" in reply["error"]["message"]
    assert len(scripted_openai.requests) == asked


async def test_lone_surrogates_in_a_document_become_replacement_characters(
    server: WireClient, scripted_openai: OpenAIStub, workspace: Path
) -> None:
    uri = (workspace / "odd.py").as_uri()
    server.open(uri, "name = '\ud83d'\n")
    reply = await server.call(
        "starchat/chat", {"message": "What is this?", "context": {"uri": uri}}, timeout=30
    )
    assert reply["result"]["text"] == "OK."
    assert "name = '\ufffd'" in scripted_openai.last_user_message()


async def test_a_server_with_no_input_exits() -> None:
    process = await asyncio.to_thread(
        subprocess.run, SERVER, stdin=subprocess.DEVNULL, capture_output=True, env=ENV, timeout=60
    )
    assert process.returncode == 1
    assert b"the client closed the connection" in process.stderr


def write_tests(server: WireClient, uri: str) -> Any:
    whole_line = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 14}}
    return server.request(
        "workspace/executeCommand",
        {"command": "starchat.writeTests", "arguments": [{"uri": uri, "range": whole_line}]},
    )


CODE = "def f(x):\n    return x + 1\n"


@pytest.mark.parametrize(
    "crafted",
    [
        "{ws}/../outside/f.py",
        "{ws}/%2E%2E/outside/f.py",
        "{ws}/a%2F..%2F..%2Foutside%2Ff.py",
        "{ws}/escape/f.py",
        "untitled:Untitled-1",
        "http://example.com/f.py",
        "file://elsewhere.example{path}/f.py",
    ],
)
async def test_write_tests_refuses_files_outside_the_workspace(
    server: WireClient, scripted_openai: OpenAIStub, workspace: Path, crafted: str
) -> None:
    uri = crafted.format(ws=workspace.as_uri(), path=workspace)
    server.open(uri, CODE)
    asked, seen = len(scripted_openai.requests), len(server.messages)
    reply = await server.response(write_tests(server, uri))
    assert reply["error"]["code"] == -32602
    assert "Write tests only writes" in reply["error"]["message"]
    assert len(scripted_openai.requests) == asked  # refused before the model ran
    assert not any(m.get("method") == "workspace/applyEdit" for m in server.messages[seen:])
    assert list((workspace.parent / "outside").iterdir()) == []


async def test_write_tests_writes_beside_a_file_in_the_workspace(
    server: WireClient, scripted_openai: OpenAIStub, workspace: Path
) -> None:
    uri = (workspace / "pkg" / "calc.py").as_uri()
    server.open(uri, CODE)
    seen = len(server.messages)
    scripted_openai.answer(
        "```python\nfrom pkg.calc import f\n\n\ndef test_f():\n    assert f(1) == 2\n```"
    )
    reply = await server.response(write_tests(server, uri))
    assert reply["result"]["applied"] is False  # this test's editor declines every edit
    edit = next(m for m in server.messages[seen:] if m.get("method") == "workspace/applyEdit")
    assert list(edit["params"]["edit"]["changes"]) == [
        (workspace / "pkg" / "test_calc.py").as_uri()
    ]


async def test_an_edit_is_not_applied_when_the_text_changed_under_the_same_version(
    server: WireClient, scripted_openai: OpenAIStub, workspace: Path
) -> None:
    uri = (workspace / "reused.py").as_uri()
    server.open(uri, CODE)
    seen = len(server.messages)
    scripted_openai.answer("```python\ndef f(x):\n    return x + 2\n```", delay=1.0)
    msg_id = server.request(
        "workspace/executeCommand",
        {
            "command": "starchat.fix",
            "arguments": [
                {
                    "uri": uri,
                    "range": {
                        "start": {"line": 1, "character": 4},
                        "end": {"line": 1, "character": 16},
                    },
                }
            ],
        },
    )
    await asyncio.sleep(0.3)
    server.notify(  # a client that reuses version 1 for different text
        "textDocument/didChange",
        {
            "textDocument": {"uri": uri, "version": 1},
            "contentChanges": [{"text": "# moved\n" + CODE}],
        },
    )
    reply = await server.response(msg_id, timeout=30)
    assert reply["result"]["applied"] is False
    assert "changed while StarChat was writing" in reply["result"]["message"]
    assert not any(m.get("method") == "workspace/applyEdit" for m in server.messages[seen:])


async def test_a_password_in_a_rejected_url_is_not_shown(server: WireClient) -> None:
    seen = len(server.messages)
    server.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"backendUrl": "ftp://me:hunter2@gpu-box/v1"}},
    )
    message = await server.wait_for(lambda m: m.get("method") == "window/showMessage", since=seen)
    assert "starchat.backendUrl" in message["params"]["message"]
    assert "ftp://***@gpu-box/v1" in message["params"]["message"]
    assert "hunter2" not in str(server.messages[seen:])
