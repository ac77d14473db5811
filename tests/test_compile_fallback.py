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
