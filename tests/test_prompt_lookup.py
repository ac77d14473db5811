"""Prompt-lookup decoding on a tiny real model: the same answers in fewer forward passes.

The tiny model's weights are random, so its greedy answers fall into loops that repeat
earlier tokens: exactly what n-gram drafts from the prompt and the answer so far predict.
"""

import asyncio
from collections import Counter
from typing import Any

import pytest
from starchat.engine import Chunk, GenerationRequest, Sampling, Usage
from starchat.engine.transformers_engine import TransformersEngine
from starchat.prompts import Message

from tests.conftest import whole

CODE = "def add(a, b):\n    return a + b\n\n" * 6


def question(text: str) -> list[Message]:
    return [{"role": "user", "content": f"Fix this code:\n```python\n{text}```"}]


@pytest.fixture(scope="module")
def engine(tiny_engine: TransformersEngine) -> TransformersEngine:
    return tiny_engine


def forward_counter(engine: TransformersEngine) -> list[int]:
    """Counts the model's forward passes from now on."""
    calls = [0]
    model: Any = engine._model
    original = model.forward

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    model.forward = counted
    return calls


async def answer(engine: TransformersEngine, request: GenerationRequest) -> tuple[str, Usage]:
    return await whole(engine.generate(request))


@pytest.mark.parametrize("text", [CODE, "x = [1, 2, 3]\nfor i in x:\n    print(i)\n" * 4])
def test_greedy_answers_are_identical_in_fewer_forward_passes(
    engine: TransformersEngine, text: str
) -> None:
    greedy = Sampling(max_new_tokens=60, temperature=0.0)
    calls = forward_counter(engine)
    try:
        plain, plain_usage = asyncio.run(answer(engine, GenerationRequest(question(text), greedy)))
        plain_calls = calls[0]
        calls[0] = 0
        fast, fast_usage = asyncio.run(
            answer(engine, GenerationRequest(question(text), greedy, lookup=True))
        )
    finally:
        del engine._model.forward  # type: ignore[union-attr]
    assert fast == plain and fast_usage.generated_tokens == plain_usage.generated_tokens
    assert plain_calls == plain_usage.generated_tokens
    print(f"forward passes: {plain_calls} plain, {calls[0]} with prompt lookup")
    assert calls[0] < plain_calls


def test_sampled_answers_keep_their_distribution(engine: TransformersEngine) -> None:
    """The first two tokens over 300 seeds, top-k 2 (four outcomes), with and without:
    transformers verifies each drafted token against a sample from the model itself."""
    sampling = Sampling(max_new_tokens=2, temperature=1.0, top_k=2, top_p=1.0)

    def pairs(lookup: bool) -> Counter[str]:
        async def run() -> Counter[str]:
            seen: Counter[str] = Counter()
            for seed in range(300):
                request = GenerationRequest(question(CODE), sampling, seed=seed, lookup=lookup)
                seen[(await answer(engine, request))[0]] += 1
            return seen

        return asyncio.run(run())

    plain, fast = pairs(False), pairs(True)
    assert len(plain) >= 2
    for outcome in set(plain) | set(fast):
        assert abs(plain[outcome] - fast[outcome]) / 300 < 0.12, (plain, fast)


def test_stopping_during_a_drafted_step_ends_decoding(engine: TransformersEngine) -> None:
    async def run() -> int:
        request = GenerationRequest(
            question(CODE), Sampling(max_new_tokens=500, temperature=0.0), lookup=True
        )
        stream = engine.generate(request)
        seen = 0
        async for item in stream:
            seen += isinstance(item, Chunk)
            if seen == 3:
                break
        await stream.aclose()
        return seen

    assert asyncio.run(run()) == 3
    import threading

    assert not any(t.name == "starchat-generate" for t in threading.enumerate())
