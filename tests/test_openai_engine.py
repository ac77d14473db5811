"""The OpenAI-compatible backend against a local endpoint speaking the streaming wire format."""

import asyncio
import socket

import pytest
from starchat.engine import (
    BackendUnavailableError,
    BadRequestError,
    Chunk,
    EngineSettings,
    GenerationRequest,
    Sampling,
    Usage,
    collect,
    create_engine,
)
from starchat.prompts import Message

from tests.openai_stub import OpenAIStub

QUESTION: list[Message] = [{"role": "user", "content": "Sort a list?"}]
ANSWER = "Use `sorted(items)`; it returns a new list. 排序 😀"


async def test_streams_the_answer_and_reports_usage() -> None:
    with OpenAIStub() as stub:
        stub.answer(ANSWER)
        engine = create_engine(EngineSettings(backend="openai", backend_url=stub.url))
        items = [
            i
            async for i in engine.generate(GenerationRequest(QUESTION, Sampling(max_new_tokens=64)))
        ]
        await engine.close()
    chunks = [i.text for i in items if isinstance(i, Chunk)]
    usage = items[-1]
    assert len(chunks) > 3 and "".join(chunks) == ANSWER
    assert isinstance(usage, Usage) and usage.finish_reason == "stop"
    assert usage.generated_tokens == len(chunks)
    sent = stub.requests[0]
    assert sent["model"] == "stub" and sent["stream"] is True and sent["max_tokens"] == 64
    assert sent["messages"] == QUESTION


async def test_an_error_body_becomes_a_clear_error() -> None:
    with OpenAIStub() as stub:
        stub.answer(400)
        engine = create_engine(EngineSettings(backend="openai", backend_url=stub.url))
        with pytest.raises(BadRequestError, match="answered 400: scripted failure 400"):
            async for _ in engine.generate(GenerationRequest(QUESTION)):
                pass


async def test_a_refused_connection_names_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = create_engine(EngineSettings(backend="openai", backend_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(BackendUnavailableError, match=f"http://127.0.0.1:{port}/v1"):
        await engine.load()
    assert engine.health().state == "error"


async def test_stopping_consumption_closes_the_stream() -> None:
    with OpenAIStub(chunk_delay=0.02) as stub:
        stub.answer("word " * 200)
        engine = create_engine(EngineSettings(backend="openai", backend_url=stub.url))
        stream = engine.generate(GenerationRequest(QUESTION))
        async for item in stream:
            assert isinstance(item, Chunk)
            break
        await stream.aclose()
        for _ in range(100):
            if stub.disconnects:
                break
            await asyncio.sleep(0.02)
        assert stub.disconnects == 1


async def test_top_k_is_sent_when_sampling_asks_for_it() -> None:
    with OpenAIStub() as stub:
        engine = create_engine(EngineSettings(backend="openai", backend_url=stub.url))
        sampling = Sampling(max_new_tokens=8, temperature=0.2, top_p=0.9, top_k=40)
        await collect(engine.generate(GenerationRequest(QUESTION, sampling)))
        await collect(engine.generate(GenerationRequest(QUESTION, Sampling(temperature=0.0))))
        await engine.close()
    assert stub.requests[0]["top_k"] == 40 and stub.requests[0]["top_p"] == 0.9
    assert "top_k" not in stub.requests[1]  # greedy decoding has no top-k


async def test_an_endpoint_without_top_k_is_asked_again_without_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with OpenAIStub(rejects=frozenset({"top_k"})) as stub:
        engine = create_engine(EngineSettings(backend="openai", backend_url=stub.url))
        sampling = Sampling(max_new_tokens=8, temperature=0.2, top_k=40)
        first = await collect(engine.generate(GenerationRequest(QUESTION, sampling)))
        second = await collect(engine.generate(GenerationRequest(QUESTION, sampling)))
        await engine.close()
    assert first.text == second.text == "OK."
    assert ["top_k" in r for r in stub.requests] == [True, False, False]
    assert "does not accept top_k" in caplog.text


PARTIAL = "Use `sorted(items)`; it ret"


async def test_a_prefix_is_sent_as_the_open_start_of_the_answer() -> None:
    """vLLM and TGI continue the last assistant message when asked to: the model goes on
    from its unfinished answer instead of starting a new one."""
    with OpenAIStub() as stub:
        stub.answer("urns a new list.")
        engine = create_engine(EngineSettings(backend="openai", backend_url=stub.url))
        answer = await collect(engine.generate(GenerationRequest(QUESTION, prefix=PARTIAL)))
        await collect(engine.generate(GenerationRequest(QUESTION)))
        await engine.close()
    assert answer.text == "urns a new list."  # only the new text
    resumed, plain = stub.requests
    assert resumed["messages"] == [*QUESTION, {"role": "assistant", "content": PARTIAL}]
    assert resumed["continue_final_message"] is True
    assert resumed["add_generation_prompt"] is False
    assert plain["messages"] == QUESTION
    assert "continue_final_message" not in plain and "add_generation_prompt" not in plain


async def test_an_endpoint_without_prefill_is_asked_for_the_rest_in_a_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with OpenAIStub(rejects=frozenset({"continue_final_message"})) as stub:
        engine = create_engine(EngineSettings(backend="openai", backend_url=stub.url))
        first = await collect(engine.generate(GenerationRequest(QUESTION, prefix=PARTIAL)))
        second = await collect(engine.generate(GenerationRequest(QUESTION, prefix=PARTIAL)))
        await engine.close()
    assert first.text == second.text == "OK."
    assert ["continue_final_message" in r for r in stub.requests] == [True, False, False]
    for retried in stub.requests[1:]:
        *dialogue, asked = retried["messages"]
        assert dialogue == [*QUESTION, {"role": "assistant", "content": PARTIAL}]
        assert (
            asked["role"] == "user" and "Continue it exactly where it stopped" in asked["content"]
        )
        assert "add_generation_prompt" not in retried
    assert "does not accept continue_final_message" in caplog.text
