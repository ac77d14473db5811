"""The transformers engine on a tiny real model: streaming, stopping, cancelling, fitting."""

import asyncio
import functools
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starchat.engine import (
    Chunk,
    Engine,
    EngineSettings,
    GenerationRequest,
    ModelNotFoundError,
    PromptTooLongError,
    Sampling,
    Usage,
    create_engine,
)
from starchat.engine.detokenize import IncrementalDetokenizer
from starchat.engine.transformers_engine import TransformersEngine
from starchat.prompts import Message

from tests.tiny_model import build_tiny_starchat, build_tokenizer

QUESTION: list[Message] = [
    {"role": "user", "content": "Write a function that checks whether a number is prime."}
]


async def _collect(engine: Engine, request: GenerationRequest) -> tuple[list[str], Usage]:
    chunks: list[str] = []
    async for item in engine.generate(request):
        if isinstance(item, Chunk):
            chunks.append(item.text)
        else:
            return chunks, item
    raise AssertionError("no usage record")


async def test_streams_chunks_then_usage(tiny_model_dir: Path) -> None:
    engine = create_engine(EngineSettings(model=str(tiny_model_dir)))
    chunks, usage = await _collect(
        engine,
        GenerationRequest(QUESTION, Sampling(max_new_tokens=30, temperature=0.0)),
    )
    assert len(chunks) > 1
    assert usage.generated_tokens == 30 and usage.finish_reason == "length"
    assert usage.prompt_tokens > 10 and usage.tokens_per_s and usage.time_to_first_token_s
    health = engine.health()
    assert (health.state, health.device) == ("ready", "cpu float32")


async def test_stops_on_the_turn_end_token(tmp_path: Path) -> None:
    """A model made to prefer `<|end|>` stops there: the token ends decoding, no text leaks."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny_starchat(tmp_path / "ender")
    model = AutoModelForCausalLM.from_pretrained(path)
    end_id = AutoTokenizer.from_pretrained(path).convert_tokens_to_ids("<|end|>")
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.fill_(1.0)
        model.transformer.wte.weight[end_id].fill_(10.0)
    model.save_pretrained(path)
    engine = create_engine(EngineSettings(model=str(path)))
    chunks, usage = await _collect(engine, GenerationRequest(QUESTION, Sampling(max_new_tokens=50)))
    assert (chunks, usage.generated_tokens, usage.finish_reason) == ([], 1, "stop")


async def test_stopping_consumption_stops_decoding_at_the_next_token(tiny_model_dir: Path) -> None:
    engine = create_engine(EngineSettings(model=str(tiny_model_dir)))
    stream = engine.generate(GenerationRequest(QUESTION, Sampling(max_new_tokens=2000)))
    seen = 0
    async for item in stream:
        seen += isinstance(item, Chunk)
        if seen == 3:
            break
    await stream.aclose()
    # aclose() returns once the decode thread has ended: the model is free again.
    assert not any(t.name == "starchat-generate" for t in threading.enumerate())


async def test_cancelling_the_task_stops_decoding(tiny_model_dir: Path) -> None:
    engine = create_engine(EngineSettings(model=str(tiny_model_dir)))

    streaming = asyncio.Event()

    async def consume() -> None:
        async for _ in engine.generate(GenerationRequest(QUESTION, Sampling(max_new_tokens=2000))):
            streaming.set()

    task = asyncio.create_task(consume())
    await streaming.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not any(t.name == "starchat-generate" for t in threading.enumerate())


async def test_a_question_longer_than_the_window_says_by_how_much(tiny_model_dir: Path) -> None:
    engine = create_engine(EngineSettings(model=str(tiny_model_dir), context_tokens=100))
    request = GenerationRequest(
        [{"role": "user", "content": "sorting " * 200}], Sampling(max_new_tokens=20)
    )
    with pytest.raises(PromptTooLongError) as error:
        await _collect(engine, request)
    assert error.value.excess > 100
    assert f"{error.value.excess} tokens longer" in str(error.value)


async def test_a_missing_model_directory_is_named() -> None:
    engine = create_engine(EngineSettings(model="./no/such/model"))
    with pytest.raises(ModelNotFoundError, match=r"No model directory at .*no/such/model"):
        await engine.load()
    assert engine.health().state == "error"


async def test_a_model_without_template_or_chat_tokens_gets_starchat_format(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = build_tiny_starchat(tmp_path / "base", chat=False)
    engine = TransformersEngine(EngineSettings(model=str(path)))
    await engine.load()
    assert "no chat template" in caplog.text
    assert engine.render_prompt([{"role": "user", "content": "hi"}]).endswith("<|assistant|>")


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab def\n你好世界😀🚀éñ"), max_size=40))
def test_incremental_text_equals_the_full_decode(text: str) -> None:
    tokenizer = _tokenizer()
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    detok = IncrementalDetokenizer(tokenizer)
    pieces = [detok.add(i) for i in ids] + [detok.flush()]
    assert "".join(pieces) == tokenizer.decode(ids)
    assert not any("\ufffd" in p for p in pieces[:-1])


@functools.cache
def _tokenizer() -> Any:
    return build_tokenizer()


async def test_a_chat_template_that_never_ends_is_stopped(tmp_path: Path) -> None:
    """A model directory's template is code: a endless loop in it ends in a clear error, not a
    server that answers nobody."""
    from starchat.engine.deadline import DeadlineExceededError
    from transformers import AutoTokenizer

    path = build_tiny_starchat(tmp_path / "looping", chat=False)  # so its own template is used
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = (
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    )
    tokenizer.save_pretrained(path)
    engine = create_engine(EngineSettings(model=str(path)))
    await engine.load()
    with pytest.raises(DeadlineExceededError, match="chat template took longer than 2 s"):
        engine.count_tokens(QUESTION)


async def test_a_hub_id_without_a_network_asks_once_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Offline, a Hub id that is not cached fails after one short request, not after the
    dozens of retries `from_pretrained` makes."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    attempts = 0

    def refuse() -> None:
        nonlocal attempts
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            attempts += 1
            connection.close()

    threading.Thread(target=refuse, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    engine = create_engine(EngineSettings(model="bigcode/never-cached-model"))
    with pytest.raises(ModelNotFoundError, match="the Hub cannot be reached"):
        await engine.load()
    listener.close()
    assert attempts == 1


async def test_a_prefix_is_the_start_of_the_models_own_turn(tiny_model_dir: Path) -> None:
    """Resuming a cut answer: the model is given its unfinished answer right after the
    assistant header (no end of turn, no new message) and only the new text comes back."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    prefix = "\ndef add(a, b):\n    return"
    engine = create_engine(EngineSettings(model=str(tiny_model_dir)))
    request = GenerationRequest(
        QUESTION, Sampling(max_new_tokens=12, temperature=0.0), None, prefix
    )
    chunks, usage = await _collect(engine, request)
    prompt = engine.render_prompt(QUESTION, prefix)
    assert prompt == engine.render_prompt(QUESTION) + prefix
    assert prompt.endswith("<|assistant|>" + prefix)

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=[])
    expected = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    assert usage.prompt_tokens == ids.shape[1] == engine.count_tokens(QUESTION, prefix)
    assert "".join(chunks) == expected != ""
