"""Inline completion over standard LSP 3.18 against the real server and real tiny models: a
chat model that never stops talking, and a completion model beside it taught to fill a few
middles (tests/tiny_model.py `FIM_LESSONS`), so the exact ghost text is known."""

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from starchat.server import methods

from tests.server.conftest import (
    CONFIG,
    StarChatClient,
    as_dict,
    configure,
    initialize_params,
    open_document,
    status,
    wait_ready,
)
from tests.tiny_model import FIM_LESSONS

pytestmark = pytest.mark.asyncio(loop_scope="module")

CALC = "file:///work/project/calc.py"
CAPABILITIES: list[types.ServerCapabilities] = []


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: StarChatClient, endless_model_dir: Path, fim_model_dir: Path) -> Any:
    result = await lsp_client.initialize_session(
        initialize_params(
            {
                "model": str(endless_model_dir),
                "completionModel": str(fim_model_dir),
                "maxNewTokens": 48,
            }
        )
    )
    CAPABILITIES.append(result.capabilities)
    status = await wait_ready(lsp_client)
    assert status["state"] == "ready", status
    yield
    await lsp_client.shutdown_session()


async def completion_ready(
    client: StarChatClient, model: str = "", timeout: float = 60
) -> dict[str, Any]:
    """The status's `completion` once the model whose name contains `model` is no longer
    loading (settings apply asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        current = (await status(client))["completion"]
        if current["state"] != "loading" and model in current["model"]:
            return dict(current)
        assert time.monotonic() < deadline, current
        await asyncio.sleep(0.1)


def at(uri: str, line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(line, character),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic
        ),
    )


async def complete(
    client: StarChatClient, uri: str, line: int, character: int
) -> list[types.InlineCompletionItem]:
    result = await client.text_document_inline_completion_async(at(uri, line, character))
    assert isinstance(result, types.InlineCompletionList), result
    return list(result.items)


def lesson(client: StarChatClient, index: int, version: int = 1) -> tuple[int, int]:
    """Open calc.py holding lesson `index`; the cursor's (line, UTF-16 character)."""
    prefix, suffix, _ = FIM_LESSONS[index]
    open_document(client, CALC, prefix + suffix, version=version)
    last = prefix.replace("\r\n", "\n").split("\n")[-1]
    return prefix.replace("\r\n", "\n").count("\n"), len(last.encode("utf-16-le")) // 2


@pytest.fixture(autouse=True)
def closed(client: StarChatClient) -> Any:
    yield
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(CALC))
    )


async def test_advertised_with_the_completion_model_in_the_status(client: StarChatClient) -> None:
    assert CAPABILITIES[0].inline_completion_provider is not None
    completion = await completion_ready(client)
    assert completion["state"] == "ready", completion["message"]
    assert completion["infilling"] is True and completion["format"] == "starcoder"
    assert "fim" in completion["model"]


async def test_the_model_fills_the_line_at_the_cursor(client: StarChatClient) -> None:
    line, character = lesson(client, 0)
    items = await complete(client, CALC, line, character)
    assert [(i.insert_text, i.range) for i in items] == [("a + b", None)]


async def test_a_range_after_an_emoji_in_a_crlf_file_is_exact(client: StarChatClient) -> None:
    line, character = lesson(client, 1)
    assert (line, character) == (1, 11)  # 10 characters before the cursor, 11 UTF-16 units
    items = await complete(client, CALC, line, character)
    assert len(items) == 1
    assert items[0].insert_text == "1, 2]  # two"
    # It writes the auto-closed "]" itself, so it replaces it.
    assert items[0].range == types.Range(types.Position(1, 11), types.Position(1, 12))


async def test_an_auto_closed_bracket_is_not_doubled(client: StarChatClient) -> None:
    line, character = lesson(client, 2)
    items = await complete(client, CALC, line, character)
    assert [(i.insert_text, i.range) for i in items] == [("a, b", None)]


async def test_on_the_line_after_an_opener_the_block_is_offered(client: StarChatClient) -> None:
    line, character = lesson(client, 3)
    items = await complete(client, CALC, line, character)
    assert [i.insert_text for i in items] == ["    '''Area.'''\n    return w * h"]


@pytest.mark.parametrize(
    ("uri", "line", "character", "problem"),
    [
        ("file:///work/project/other.py", 0, 0, "not open"),
        (CALC, 40, 0, "past the end"),
        (CALC, 1, 7, "inside a character"),  # between the halves of 😀
    ],
)
async def test_bad_positions_are_refused_by_name(
    client: StarChatClient, uri: str, line: int, character: int, problem: str
) -> None:
    lesson(client, 1)
    with pytest.raises(JsonRpcException) as error:
        await complete(client, uri, line, character)
    assert error.value.code == -32602 and problem in str(error.value)


async def test_a_character_past_the_lines_end_means_its_end(client: StarChatClient) -> None:
    line, _ = lesson(client, 0)
    assert [i.insert_text for i in await complete(client, CALC, line, 400)] == ["a + b"]


async def test_a_5_mb_file_is_completed_from_a_window_around_the_cursor(
    client: StarChatClient,
) -> None:
    prefix, suffix, _ = FIM_LESSONS[0]
    filler = "# " + "x" * 78 + "\n"
    text = filler * 32_000 + prefix + suffix + filler * 32_000
    assert len(text) > 5_000_000
    open_document(client, CALC, text)
    started = time.perf_counter()
    items = await complete(client, CALC, 32_001, len("    return "))
    elapsed = time.perf_counter() - started
    print(f"5 MB file: answered in {elapsed * 1e3:.0f} ms")
    assert len(items) == 1 and items[0].insert_text.strip()
    assert elapsed < 10


async def test_a_completion_does_not_wait_for_a_chat_answer(client: StarChatClient) -> None:
    line, character = lesson(client, 0)
    configure(client, maxNewTokens=3000)
    try:
        chat = asyncio.wrap_future(
            client.protocol.send_request(
                methods.CHAT, {"message": "Talk.", "partialResultToken": "long"}, msg_id="long"
            )
        )
        while not client.partial.get("long"):
            await asyncio.sleep(0.005)
        started = time.perf_counter()
        items = await complete(client, CALC, line, character)
        latency = time.perf_counter() - started
        assert not chat.done(), "the chat answer ended before the completion came"
    finally:
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="long"))
        configure(client, maxNewTokens=48)
    with pytest.raises(JsonRpcException):
        await chat
    print(f"completion while a chat answer streams: {latency * 1e3:.0f} ms")
    assert [i.insert_text for i in items] == ["a + b"]


async def test_a_completion_model_that_fails_leaves_chat_working(
    client: StarChatClient, tmp_path: Path, fim_model_dir: Path
) -> None:
    line, character = lesson(client, 0)
    configure(client, completionModel=str(tmp_path / "no-such-model"))
    try:
        completion = await completion_ready(client, "no-such-model")
        assert completion["state"] == "error"
        assert "no-such-model" in completion["message"]
        assert await complete(client, CALC, line, character) == []
        answer = as_dict(await client.protocol.send_request_async(methods.CHAT, {"message": "Hi"}))
        assert answer["usage"]["generatedTokens"] > 0
        assert (await status(client))["state"] == "ready"
    finally:
        configure(client, completionModel=str(fim_model_dir))
    assert (await completion_ready(client, fim_model_dir.name))["state"] == "ready"


async def test_a_model_without_fim_tokens_completes_left_to_right(
    client: StarChatClient, fim_model_dir: Path
) -> None:
    line, character = lesson(client, 0)
    configure(client, completionModel="")
    try:
        completion = await completion_ready(client, "endless")
        assert completion["state"] == "ready" and completion["infilling"] is False
        assert "no fill-in-the-middle tokens" in completion["message"]
        items = await complete(client, CALC, line, character)
        assert len(items) == 1 and items[0].insert_text.strip()
    finally:
        configure(client, completionModel=str(fim_model_dir))
    assert (await completion_ready(client, fim_model_dir.name))["infilling"] is True


async def test_fim_format_none_turns_infilling_off(client: StarChatClient) -> None:
    configure(client, fimFormat="none")
    try:
        deadline = time.monotonic() + 10
        while (completion := (await status(client))["completion"])["infilling"] is not False:
            assert time.monotonic() < deadline, completion
            await asyncio.sleep(0.05)
        assert "fimFormat: none" in completion["message"]
    finally:
        configure(client, fimFormat="auto")
