"""Chat that goes on: a conversation seeded with the history a client kept, an answer cut by
the answer limit resumed, and the open file sent around the cursor — over LSP against the
real server, with a scripted OpenAI-compatible endpoint that records what the model was sent."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_lsp
from pygls.exceptions import JsonRpcException
from starchat.server import methods
from starchat.server.conversations import MAX_SEED_CHARS

from tests.openai_stub import OpenAIStub
from tests.server.conftest import (
    CONFIG,
    StarChatClient,
    as_dict,
    initialize_params,
    open_document,
    wait_ready,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

HISTORY = [
    {"role": "user", "content": "My name is Zorblax."},
    {"role": "assistant", "content": "Hello Zorblax!"},
    {"role": "user", "content": "I write Python."},
    {"role": "assistant", "content": "Then you know sorted()."},
]
CONTINUE = {"continue": True}
LONG = "def add(a, b):\n    return a + b\n\nThat adds two numbers; call it as add(1, 2)."


@pytest.fixture(scope="module")
def endpoint() -> Iterator[OpenAIStub]:
    """Answers that run past `max_tokens` (4 characters a token) are cut there, "length"."""
    with OpenAIStub(model="scripted-starchat", cut=True) as stub:
        yield stub


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: StarChatClient, endpoint: OpenAIStub) -> Any:
    await lsp_client.initialize_session(
        initialize_params(
            {
                "backend": "openai",
                "backendUrl": endpoint.url,
                "model": "scripted-starchat",
                "maxNewTokens": 8,
                "contextTokens": 1200,
            }
        )
    )
    assert (await wait_ready(lsp_client))["state"] == "ready"
    yield
    await lsp_client.shutdown_session()


async def chat(client: StarChatClient, **params: Any) -> dict[str, Any]:
    return as_dict(await client.protocol.send_request_async(methods.CHAT, params))


def dialogue(endpoint: OpenAIStub) -> list[dict[str, str]]:
    """The last request's messages after the system prompt."""
    return [m for m in endpoint.requests[-1]["messages"] if m["role"] != "system"]


async def refused(client: StarChatClient, **params: Any) -> str:
    with pytest.raises(JsonRpcException) as error:
        await chat(client, **params)
    assert error.value.code == -32602
    return str(error.value.message)


async def test_a_reloaded_panel_goes_on_from_its_history(
    client: StarChatClient, endpoint: OpenAIStub
) -> None:
    endpoint.answer("You are Zorblax.", "Yes.")
    first = await chat(
        client, message="Who am I?", conversationId="before-the-restart", history=HISTORY
    )
    assert first["text"] == "You are Zorblax."
    assert first["conversationId"] != "before-the-restart"
    assert dialogue(endpoint) == [*HISTORY, {"role": "user", "content": "Who am I?"}]
    # The seeded conversation is the server's now: the next turn needs no history.
    await chat(client, message="Sure?", conversationId=first["conversationId"])
    assert endpoint.requests[-1]["messages"][-3:] == [
        {"role": "user", "content": "Who am I?"},
        {"role": "assistant", "content": "You are Zorblax."},
        {"role": "user", "content": "Sure?"},
    ]


async def test_history_is_ignored_for_a_conversation_the_server_knows(
    client: StarChatClient, endpoint: OpenAIStub
) -> None:
    endpoint.answer("One.", "Two.")
    first = await chat(client, message="Count.")
    again = await chat(
        client, message="Again.", conversationId=first["conversationId"], history=HISTORY
    )
    assert again["conversationId"] == first["conversationId"]
    assert "Zorblax" not in str(endpoint.requests[-1]["messages"])


async def test_a_history_that_is_no_dialogue_is_refused_by_name(client: StarChatClient) -> None:
    assert "history[1]: expected a assistant message" in await refused(
        client, message="Hi", history=[HISTORY[0], HISTORY[2]]
    )
    assert "history[2]: the last message must be an assistant answer" in await refused(
        client, message="Hi", history=HISTORY[:3]
    )
    assert "history.0.role" in await refused(
        client, message="Hi", history=[{"role": "system", "content": "Obey."}]
    )
    huge = [{"role": "user", "content": "x" * MAX_SEED_CHARS}, HISTORY[1]]
    assert "characters; at most" in await refused(client, message="Hi", history=huge)


async def test_continue_resumes_the_cut_answer_from_where_it_stopped(
    client: StarChatClient, endpoint: OpenAIStub
) -> None:
    endpoint.answer(LONG, LONG[32:])
    first = await chat(client, message="Write add.")
    assert first["usage"]["finishReason"] == "length" and first["text"] == LONG[:32]
    more = await chat(
        client,
        message="",
        conversationId=first["conversationId"],
        partialResultToken="more",
        **CONTINUE,
    )
    sent = endpoint.requests[-1]
    # The model was given its unfinished answer as the start of its own turn.
    assert sent["messages"][-2:] == [
        {"role": "user", "content": "Write add."},
        {"role": "assistant", "content": LONG[:32]},
    ]
    assert sent["continue_final_message"] is True and sent["add_generation_prompt"] is False
    assert more["text"] == client.streamed("more") == LONG[32:64]  # only the new text
    assert more["conversationId"] == first["conversationId"]
    # The conversation holds the answer joined, once.
    endpoint.answer("Fine.")
    await chat(client, message="Thanks.", conversationId=first["conversationId"])
    assert endpoint.requests[-1]["messages"][-3:] == [
        {"role": "user", "content": "Write add."},
        {"role": "assistant", "content": LONG[:64]},
        {"role": "user", "content": "Thanks."},
    ]


async def test_continue_after_a_reload_seeds_and_resumes(
    client: StarChatClient, endpoint: OpenAIStub
) -> None:
    endpoint.answer("e on.")
    more = await chat(client, conversationId="gone", history=HISTORY, **CONTINUE, message="")
    assert more["text"] == "e on."
    assert dialogue(endpoint) == HISTORY
    assert endpoint.requests[-1]["continue_final_message"] is True


async def test_continue_needs_an_answer_that_was_cut(
    client: StarChatClient, endpoint: OpenAIStub
) -> None:
    assert "send its conversationId" in await refused(client, message="", **CONTINUE)
    endpoint.answer("Done.")
    whole = await chat(client, message="Short answer?")
    assert whole["usage"]["finishReason"] == "stop"
    sent = len(endpoint.requests)
    message = await refused(client, conversationId=whole["conversationId"], **CONTINUE, message="")
    assert "was not cut by the answer limit" in message
    assert len(endpoint.requests) == sent  # the model was not asked


async def test_the_open_file_is_sent_around_the_cursor(
    client: StarChatClient, endpoint: OpenAIStub
) -> None:
    uri = "file:///work/project/long.py"
    open_document(client, uri, "".join(f"value_{i} = {i}\n" for i in range(3000)))
    cursor = {"line": 2000, "character": 0}
    await chat(client, message="What is here?", context={"uri": uri, "cursor": cursor})
    sent = endpoint.last_user_message()
    assert "value_2000 = 2000" in sent
    assert "value_0 = 0" not in sent and "value_2999 = 2999" not in sent
    kept = [int(n) for n in re.findall(r"value_(\d+) =", sent)]
    above, below = 2000 - min(kept), max(kept) - 2000
    assert abs(above - below) <= 1 and kept == list(range(min(kept), max(kept) + 1))
    assert f"… ({min(kept)} lines above not shown)" in sent
    assert f"… ({2999 - max(kept)} more lines not shown)" in sent

    await chat(client, message="What is here?", context={"uri": uri})
    assert "value_0 = 0" in endpoint.last_user_message()  # no cursor: from the top
