"""Inline completion against a served model (the openai backend's `/v1/completions`, as vLLM
and TGI serve base models): the exact prompt on the wire, cancel and supersede. The endpoint
is scripted (tests/openai_stub.py) so that an answer can be made slow on purpose."""

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.openai_stub import OpenAIStub
from tests.server.conftest import (
    CONFIG,
    StarChatClient,
    configure,
    initialize_params,
    open_document,
    status,
    wait_ready,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

DOC = "file:///work/project/pkg/shapes.py"
TEXT = "def area(w, h):\n    return \n\nprint(area(2, 3))\n"


@pytest.fixture(scope="module")
def served() -> Iterator[OpenAIStub]:
    with OpenAIStub(model="bigcode/starcoder2-15b", chunk_delay=0.02) as stub:
        yield stub


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: StarChatClient, served: OpenAIStub) -> Any:
    await lsp_client.initialize_session(
        initialize_params({"backend": "openai", "backendUrl": served.url, "model": served.model})
    )
    assert (await wait_ready(lsp_client))["state"] == "ready"
    open_document(lsp_client, DOC, TEXT)
    yield
    await lsp_client.shutdown_session()


def params() -> types.InlineCompletionParams:
    """At the end of `    return `."""
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(DOC),
        position=types.Position(1, 11),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic
        ),
    )


async def test_the_prompt_on_the_wire_is_the_models_fim_format(
    client: StarChatClient, served: OpenAIStub
) -> None:
    served.answer("w * h\n\nprint(area(2, 3))")
    result = await client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, params()
    )
    assert [i.insert_text for i in result.items] == ["w * h"]
    body = served.requests[-1]
    assert body["prompt"] == (
        "<filename>pkg/shapes.py\n<fim_prefix>def area(w, h):\n    return "
        "<fim_suffix>\n\nprint(area(2, 3))\n<fim_middle>"
    )
    assert body["model"] == served.model and body["stream"] is True
    assert body["max_tokens"] == 64 and body["temperature"] == 0.0
    assert "<|endoftext|>" in body["stop"]
    completion = (await status(client))["completion"]
    assert completion["infilling"] is True and completion["format"] == "starcoder"


async def test_cancel_hangs_up_on_the_backend(client: StarChatClient, served: OpenAIStub) -> None:
    served.answer("x" * 400)  # 100 chunks, 2 s at the stub's pace
    disconnects, sent = served.disconnects, len(served.requests)
    request = client.protocol.send_request(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, params(), msg_id="inline-cancel"
    )
    while len(served.requests) == sent:  # the backend is streaming the answer
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    cancelled_at = time.perf_counter()
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="inline-cancel"))
    with pytest.raises(JsonRpcException) as error:
        await asyncio.wrap_future(request)
    answered_ms = (time.perf_counter() - cancelled_at) * 1e3
    assert error.value.code == -32800
    deadline = time.monotonic() + 2
    while served.disconnects == disconnects and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    print(f"cancel → answered in {answered_ms:.0f} ms")
    assert served.disconnects == disconnects + 1
    assert answered_ms < 500


async def test_a_newer_request_supersedes_the_older_one(
    client: StarChatClient, served: OpenAIStub
) -> None:
    served.answer("y" * 400, "w * h")
    older = asyncio.wrap_future(
        client.protocol.send_request(types.TEXT_DOCUMENT_INLINE_COMPLETION, params())
    )
    await asyncio.sleep(0.3)
    started = time.perf_counter()
    newer = await client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, params()
    )
    assert [i.insert_text for i in newer.items] == ["w * h"]
    first = await older
    assert list(first.items) == []  # stopped, not shown
    # The older one stopped at its next chunk instead of streaming its 2 s answer.
    assert time.perf_counter() - started < 1.5


async def test_with_infilling_off_the_prompt_is_the_code_before_the_cursor(
    client: StarChatClient, served: OpenAIStub
) -> None:
    configure(client, fimFormat="none")
    try:
        deadline = time.monotonic() + 10
        while (await status(client))["completion"]["infilling"] is not False:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        served.answer("w * h\n\nprint(area(2, 3))")
        result = await client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, params()
        )
        assert [i.insert_text for i in result.items] == ["w * h"]
        assert served.requests[-1]["prompt"] == "def area(w, h):\n    return "
    finally:
        configure(client, fimFormat="auto")
