"""The `compile` setting off a CUDA GPU: the model loads, decodes eagerly with the same
answers, and the status says why it is not compiled."""

import asyncio
from pathlib import Path

from starchat.engine import EngineSettings, GenerationRequest, Sampling, collect
from starchat.engine.transformers_engine import TransformersEngine
from starchat.server.options import Options, apply_settings


def test_compile_without_a_gpu_decodes_eagerly_and_says_so(tiny_model_dir: Path) -> None:
    request = GenerationRequest(
        [{"role": "user", "content": "Hi"}], Sampling(max_new_tokens=12, temperature=0.0)
    )

    def answer(compile_: bool) -> tuple[str, str | None]:
        engine = TransformersEngine(
            EngineSettings(model=str(tiny_model_dir), device="cpu", compile=compile_)
        )
        text = asyncio.run(collect(engine.generate(request))).text
        health = engine.health()
        assert health.state == "ready"
        return text, health.message

    eager, note = answer(False)
    compiled, fallback = answer(True)
    assert note is None and compiled == eager
    assert fallback == "compile needs a CUDA GPU: decoding eagerly"


def test_the_setting_reaches_the_engine_and_is_the_operators() -> None:
    options = apply_settings(Options(), {"compile": True}).options
    assert options.engine_settings().compile is True
    served = apply_settings(Options(), {"compile": True, "backend": "openai"}).options
    assert served.engine_settings().compile is False  # a served model is compiled by its server
    refused = apply_settings(Options(), {"compile": True}, frozenset({"compile"}))
    assert refused.refused == ["starchat.compile"] and refused.options.compile is False


def _on_meta(config: object) -> object:
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)


def _llama(layers: int, hidden: int, heads: int, kv_heads: int) -> object:
    """A Llama-shaped model on the meta device: only its attention shape matters here."""
    from transformers import LlamaConfig

    config = LlamaConfig(
        hidden_size=hidden, intermediate_size=64, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads,
    )  # fmt: skip
    return _on_meta(config)


def test_the_compiled_cache_is_sized_once_for_the_window_where_that_is_cheap() -> None:
    """transformers compiles the decoder for one cache size; a request needing more compiles
    again (minutes). So the size is fixed at load: StarCoder's multi-query cache holds its
    whole window in 168 MB; a 7 B model with full multi-head attention gets 1 GiB."""
    from starchat.engine.transformers_engine import _kv_bytes_per_token, static_cache_tokens
    from transformers import GPTBigCodeConfig

    starcoder = _on_meta(
        GPTBigCodeConfig(
            vocab_size=49152, n_layer=40, n_embd=6144, n_head=48, n_positions=8192,
            multi_query=True,
        )
    )  # fmt: skip
    assert _kv_bytes_per_token(starcoder) == 40 * 2 * 128 * 2
    assert static_cache_tokens(starcoder, 8192) == 8192
    full = _llama(layers=32, hidden=4096, heads=32, kv_heads=32)  # a 7 B, multi-head
    assert static_cache_tokens(full, 16384) == 2048
    grouped = _llama(layers=28, hidden=3584, heads=28, kv_heads=4)  # grouped-query
    assert static_cache_tokens(grouped, 32768) == 2**30 // (28 * 2 * 4 * 128 * 2)
    assert static_cache_tokens(object(), 8192) == 4096  # unknown shape: a middle size


def test_compiled_decoding_uses_one_cache_size_for_requests_of_any_length(
    tiny_model_dir: Path,
) -> None:
    """The static-cache path (compiled on a GPU; here it runs eagerly, the same code):
    requests of different lengths all use the size chosen at load, and answer as the
    default path does."""
    engine = TransformersEngine(EngineSettings(model=str(tiny_model_dir), device="cpu"))
    asyncio.run(engine.load())
    questions = ["Hi", "Explain this code:\n" + "x = compute(1, 2)\n" * 40]

    def ask(question: str, tokens: int) -> str:
        request = GenerationRequest(
            [{"role": "user", "content": question}],
            Sampling(max_new_tokens=tokens, temperature=0.0),
        )
        return asyncio.run(collect(engine.generate(request))).text

    eager = [ask(q, n) for q, n in zip(questions, (8, 40), strict=True)]
    engine._compiled, engine._static_tokens = True, 1024
    static = [ask(q, n) for q, n in zip(questions, (8, 40), strict=True)]
    assert static == eager
    assert engine._model._previous_max_cache_length == 1024  # never grown


def test_compiled_decoding_stays_on_one_thread_per_lane(tiny_model_dir: Path) -> None:
    """torch keeps CUDA graphs per thread: the compiled decoder must not get a fresh thread
    per request (it would record its graphs again each time), and a completion must not
    wait for a chat answer's thread. So: one long-lived thread for chat, one for completions."""
    import threading

    from starchat.engine import CompletionRequest

    engine = TransformersEngine(EngineSettings(model=str(tiny_model_dir), device="cpu"))
    asyncio.run(engine.load())
    model = engine._model
    forward = model.forward
    seen: list[threading.Thread] = []

    def recorded(*args: object, **kwargs: object) -> object:
        seen.append(threading.current_thread())
        return forward(*args, **kwargs)

    model.forward = recorded
    chat = GenerationRequest(
        [{"role": "user", "content": "Hi"}], Sampling(max_new_tokens=4, temperature=0.0)
    )
    completion = CompletionRequest("def add(a, b):", sampling=Sampling(max_new_tokens=4))

    def threads(request: object, times: int) -> list[threading.Thread]:
        seen.clear()
        for _ in range(times):
            stream = (
                engine.complete(request)
                if isinstance(request, CompletionRequest)
                else engine.generate(request)  # type: ignore[arg-type]
            )
            asyncio.run(collect(stream))
        return list(dict.fromkeys(seen))

    try:
        assert len(threads(chat, 2)) == 2  # eager: a thread per request
        engine._compiled, engine._static_tokens = True, 1024
        engine._open_lanes()
        chat_threads = threads(chat, 3)
        completion_threads = threads(completion, 3)
        assert len(chat_threads) == 1 and chat_threads[0].name.startswith("starchat-chat")
        assert len(completion_threads) == 1
        assert completion_threads[0].name.startswith("starchat-completion")
    finally:
        asyncio.run(engine.close())
        del model.forward
