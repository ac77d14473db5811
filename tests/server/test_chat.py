"""Chat over standard LSP against the real server and a tiny real model: streaming partial
results, multi-turn memory and trimming, cancellation, and a model shared fairly."""

import asyncio
import itertools
import os
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from starchat.server import methods
from starchat.server.options import Options

from tests.server.conftest import (
    CONFIG,
    StarChatClient,
    as_dict,
    configure,
    initialize_params,
    lsp_range,
    open_document,
    wait_ready,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

DOC = "file:///work/project/calc.py"
CONTINUE = {"continue": True}


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: StarChatClient, endless_model_dir: Path) -> Any:
    await lsp_client.initialize_session(
        initialize_params({"model": str(endless_model_dir), "maxNewTokens": 48})
    )
    status = await wait_ready(lsp_client)
    assert status["state"] == "ready", status
    open_document(lsp_client, DOC, "def add(a, b):\n    return a + b\n")
    yield
    await lsp_client.shutdown_session()


async def chat(client: StarChatClient, **params: Any) -> dict[str, Any]:
    return as_dict(await client.protocol.send_request_async(methods.CHAT, params))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_model_loaded_with_progress_and_status(client: StarChatClient) -> None:
    states = [s["state"] for s in client.statuses]
    assert states[0] == "loading" and states[-1] == "ready"
    assert client.statuses[-1]["device"] == "cpu float32"
    load_bars = [r for r in client.progress_reports.values() if r and r[0].title == "StarChat"]
    assert load_bars and isinstance(load_bars[0][-1], types.WorkDoneProgressEnd)


async def test_answer_streams_as_partial_results(client: StarChatClient) -> None:
    sent = time.perf_counter()
    result = await chat(client, message="What does add do?", partialResultToken="stream-1")
    done = time.perf_counter()
    pieces = client.partial["stream-1"]
    assert len(pieces) > 5
    assert sent < pieces[0][0] < pieces[-1][0] <= done
    assert client.streamed("stream-1") == result["text"] != ""
    assert result["usage"]["generatedTokens"] == 48
    assert result["usage"]["finishReason"] == "length"


async def test_conversation_remembers_earlier_turns(client: StarChatClient) -> None:
    first = await chat(client, message="Remember the number 42.")
    second = await chat(client, message="Which number?", conversationId=first["conversationId"])
    fresh = await chat(client, message="Which number?")
    assert second["conversationId"] == first["conversationId"] != fresh["conversationId"]
    # The second turn's prompt holds the first question and its whole answer.
    grown = second["usage"]["promptTokens"] - fresh["usage"]["promptTokens"]
    assert grown >= first["usage"]["generatedTokens"] + 5

    deleted = as_dict(
        await client.protocol.send_request_async(
            methods.CONVERSATION_DELETE, {"conversationId": first["conversationId"]}
        )
    )
    assert deleted == {"deleted": True}
    with pytest.raises(JsonRpcException) as error:
        await chat(client, message="Still there?", conversationId=first["conversationId"])
    assert error.value.code == -32602 and "no conversation" in error.value.message


async def test_history_is_trimmed_to_the_window_oldest_first(client: StarChatClient) -> None:
    configure(client, contextTokens=700, maxNewTokens=100)
    try:
        reply = await chat(client, message="Tell me a story.")
        conversation = reply["conversationId"]
        results = [reply]
        while not results[-1]["droppedMessages"] and len(results) < 12:
            results.append(await chat(client, message="Go on.", conversationId=conversation))
    finally:
        configure(client, contextTokens=0, maxNewTokens=48)
    last = results[-1]
    assert last["droppedMessages"] >= 2 and last["droppedMessages"] % 2 == 0
    assert {"conversationId": conversation, "droppedMessages": last["droppedMessages"]} in [
        as_dict(t) for t in client.trimmed
    ]
    assert all(r["usage"]["promptTokens"] + 100 <= 700 for r in results)


async def test_cancel_stops_decoding_within_a_token(client: StarChatClient) -> None:
    configure(client, maxNewTokens=4000)
    answered: list[float] = []
    try:
        request = client.protocol.send_request(
            methods.CHAT, {"message": "Talk.", "partialResultToken": "cancel-1"}, msg_id="c1"
        )
        request.add_done_callback(lambda _: answered.append(time.perf_counter()))
        while len(client.partial.get("cancel-1", [])) < 20:
            await asyncio.sleep(0.005)
        cancelled_at = time.perf_counter()
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="c1"))
        with pytest.raises(JsonRpcException) as error:
            await asyncio.wrap_future(request)
    finally:
        configure(client, maxNewTokens=48)
    assert error.value.code == -32800
    # The connection keeps order: a chunk decoded after the server took the cancel would
    # arrive after its "cancelled" response. None does.
    arrivals = [t for t, _ in client.partial["cancel-1"]]
    assert not [t for t in arrivals if t > answered[0]]
    last_chunk_ms = (arrivals[-1] - cancelled_at) * 1e3
    response_ms = (answered[0] - cancelled_at) * 1e3
    print(f"cancel → last chunk {last_chunk_ms:.2f} ms, → cancelled response {response_ms:.1f} ms")
    assert response_ms < 1000
    # Decoding stopped: the server process goes idle (a running decode keeps a core busy).
    pid = client._server.pid  # type: ignore[union-attr]
    await asyncio.sleep(0.1)
    before = cpu_seconds(pid)
    await asyncio.sleep(0.5)
    assert cpu_seconds(pid) - before < 0.1


async def test_code_actions_are_answered_while_a_chat_streams(client: StarChatClient) -> None:
    configure(client, maxNewTokens=3000)
    try:
        future = asyncio.wrap_future(
            client.protocol.send_request(
                methods.CHAT, {"message": "Talk.", "partialResultToken": "busy"}, msg_id="busy"
            )
        )
        while not client.partial.get("busy"):
            await asyncio.sleep(0.005)
        started = time.perf_counter()
        actions = await client.text_document_code_action_async(
            types.CodeActionParams(
                types.TextDocumentIdentifier(DOC),
                types.Range(types.Position(1, 4), types.Position(1, 4)),
                types.CodeActionContext(diagnostics=[]),
            )
        )
        latency = time.perf_counter() - started
        assert not future.done()
    finally:
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="busy"))
        configure(client, maxNewTokens=48)
    with pytest.raises(JsonRpcException):
        await future
    assert actions and latency < 1.0


async def test_four_chats_at_once_complete_in_arrival_order(client: StarChatClient) -> None:
    tokens = [f"queue-{i}" for i in range(4)]
    results = await asyncio.gather(
        *(chat(client, message=f"Question {i}", partialResultToken=t) for i, t in enumerate(tokens))
    )
    assert all(r["usage"]["generatedTokens"] == 48 for r in results)
    spans = [(client.partial[t][0][0], client.partial[t][-1][0]) for t in tokens]
    for earlier, later in itertools.pairwise(spans):
        assert earlier[1] <= later[0]


async def test_chat_about_a_selection_sends_the_code(client: StarChatClient) -> None:
    result = await chat(
        client,
        message="Explain this.",
        context={"uri": DOC, "range": lsp_range((1, 4), (1, 16))},
    )
    plain = await chat(client, message="Explain this.")
    assert result["usage"]["promptTokens"] > plain["usage"]["promptTokens"] + 10


def _prompt_tokens(model_dir: Path, messages: list[dict[str, str]], prefix: str = "") -> int:
    """The tokens of the prompt the model's own chat template makes of `messages`, followed
    by the start of the answer."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    system = {"role": "system", "content": Options().system_text()}  # the default setting
    prompt = tokenizer.apply_chat_template(
        [system, *messages], add_generation_prompt=True, tokenize=False
    )
    return len(tokenizer(prompt + prefix, add_special_tokens=False)["input_ids"])


async def test_continue_gives_the_model_its_cut_answer_to_go_on_from(
    client: StarChatClient, endless_model_dir: Path
) -> None:
    first = await chat(client, message="Write a long story.")
    assert first["usage"]["finishReason"] == "length"  # cut at maxNewTokens
    conversation = first["conversationId"]
    more = await chat(
        client, message="", conversationId=conversation, partialResultToken="go-on", **CONTINUE
    )
    question = [{"role": "user", "content": "Write a long story."}]
    # The prompt is the question, then the unfinished answer as the start of the model's turn.
    assert more["usage"]["promptTokens"] == _prompt_tokens(
        endless_model_dir, question, first["text"]
    )
    assert more["text"] == client.streamed("go-on") != ""
    assert more["usage"]["generatedTokens"] == 48
    # The conversation holds one answer: the two parts joined.
    after = await chat(client, message="The end?", conversationId=conversation)
    joined = [*question, {"role": "assistant", "content": first["text"] + more["text"]}]
    expected = _prompt_tokens(endless_model_dir, [*joined, {"role": "user", "content": "The end?"}])
    assert after["usage"]["promptTokens"] == expected


async def test_history_from_a_reloaded_client_is_what_the_model_sees(
    client: StarChatClient, endless_model_dir: Path
) -> None:
    history = [
        {"role": "user", "content": "My name is Zorblax."},
        {"role": "assistant", "content": "Hello Zorblax."},
    ]
    result = await chat(client, message="Who am I?", conversationId="old", history=history)
    asked = [*history, {"role": "user", "content": "Who am I?"}]
    assert result["usage"]["promptTokens"] == _prompt_tokens(endless_model_dir, asked)
    assert result["conversationId"] != "old"


async def test_a_follow_up_reuses_the_previous_turns_keys_and_values(
    client: StarChatClient,
) -> None:
    first = await chat(client, message="What does add do?")
    follow_up = await chat(client, message="Why?", conversationId=first["conversationId"])
    assert first["usage"]["cachedTokens"] == 0
    assert first["usage"]["promptTokens"] <= follow_up["usage"]["cachedTokens"]
    assert follow_up["usage"]["cachedTokens"] < follow_up["usage"]["promptTokens"]
    configure(client, kvCacheMB=0)
    try:
        again = await chat(client, message="Sure?", conversationId=first["conversationId"])
    finally:
        configure(client, kvCacheMB=1024)
    assert again["usage"]["cachedTokens"] == 0
