"""Sampling by purpose (engine/sampling.py): code answers get no repetition penalty, whatever
the model's default, and the settings' own values always win."""

from dataclasses import replace
from pathlib import Path

from starchat.engine import Chunk, EngineSettings, GenerationRequest, Sampling, create_engine
from starchat.engine.sampling import DEFAULT_MODEL_SAMPLING, for_purpose
from starchat.engine.transformers_engine import TransformersEngine
from starchat.finetune.evaluate.generation import editor_sampling
from starchat.prompts import Message
from starchat.server.options import Options

QUESTION: list[Message] = [
    {"role": "user", "content": "def add(a, b):\n    return a + b\n\nFix this function."}
]


def test_the_offline_model_has_no_repetition_penalty() -> None:
    # Measured in issue 16: the penalty renamed the functions it was asked for.
    assert DEFAULT_MODEL_SAMPLING.repetition_penalty == 1.0


def test_the_purpose_fills_only_what_the_settings_leave_unset() -> None:
    settings = Options(temperature=0.7, top_p=0.5).sampling()
    code = for_purpose(settings, "code")
    assert (code.temperature, code.top_p, code.top_k) == (0.7, 0.5, settings.top_k)
    assert code.repetition_penalty == 1.0
    assert for_purpose(settings, "chat") == settings
    assert for_purpose(Sampling(repetition_penalty=1.3), "code").repetition_penalty == 1.3
    # What `starchat eval humaneval` asks with is the editor's code sampling.
    assert editor_sampling("code") == for_purpose(Options().sampling(), "code")


async def _greedy(engine: TransformersEngine, sampling: Sampling) -> str:
    request = GenerationRequest(QUESTION, Sampling(**{**sampling.__dict__, "temperature": 0.0}))
    text = ""
    async for item in engine.generate(request):
        if isinstance(item, Chunk):
            text += item.text
    return text


async def test_code_answers_are_not_penalised_for_repeating_the_prompt(
    tiny_model_dir: Path,
) -> None:
    engine = create_engine(EngineSettings(model=str(tiny_model_dir)))
    assert isinstance(engine, TransformersEngine)
    await engine.load()
    # A model whose defaults carry a repetition penalty (the offline model had 1.1).
    engine._defaults = replace(DEFAULT_MODEL_SAMPLING, repetition_penalty=1.1)
    settings = Sampling(max_new_tokens=24)
    code = await _greedy(engine, for_purpose(settings, "code"))
    assert code == await _greedy(engine, Sampling(max_new_tokens=24, repetition_penalty=1.0))
    # The chat purpose keeps the model's penalty, which changes the answer.
    assert code != await _greedy(engine, for_purpose(settings, "chat"))
    await engine.close()
