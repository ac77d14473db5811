"""Key/value caches kept between turns (engine/kv_cache.py) on a tiny real model: a follow-up
encodes only its new tokens, and answers exactly as it would without the cache."""

import asyncio
import itertools
from typing import Any

import pytest
import torch
from starchat.engine import CacheSlot, GenerationRequest, Sampling, Usage
from starchat.engine.kv_cache import KvStore, cache_bytes, common_prefix
from starchat.engine.transformers_engine import TransformersEngine
from starchat.prompts import Message

from tests.conftest import whole

GREEDY = Sampling(max_new_tokens=40, temperature=0.0)
CODE = "def mean(values):\n    return sum(values) / len(values)\n" * 8


@pytest.fixture(scope="module")
def engine(tiny_engine: TransformersEngine) -> TransformersEngine:
    return tiny_engine


async def answer(engine: TransformersEngine, request: GenerationRequest) -> tuple[str, Usage]:
    return await whole(engine.generate(request))


def dialogue(
    engine: TransformersEngine, questions: list[str], slot: CacheSlot | None, **kwargs: Any
) -> list[tuple[str, Usage]]:
    """Ask `questions` in turn, each with the whole history, like the server's turns."""

    async def run() -> list[tuple[str, Usage]]:
        messages: list[Message] = [{"role": "system", "content": "You help with code."}]
        results = []
        for question in questions:
            messages.append({"role": "user", "content": question})
            text, usage = await answer(
                engine, GenerationRequest(list(messages), GREEDY, cache=slot, **kwargs)
            )
            messages.append({"role": "assistant", "content": text})
            results.append((text, usage))
        return results

    return asyncio.run(run())


QUESTIONS = [f"Explain this code:\n```python\n{CODE}```", "Why divide?", "And if empty?"]


def test_follow_ups_reuse_the_cache_and_answer_the_same(engine: TransformersEngine) -> None:
    plain = dialogue(engine, QUESTIONS, None)
    cached = dialogue(engine, QUESTIONS, CacheSlot("conversation-a", 64))
    assert [t for t, _ in cached] == [t for t, _ in plain]
    assert cached[0][1].cached_tokens == 0
    for (_, before), (_, usage) in itertools.pairwise(cached):
        # Everything the previous turn's prompt and answer encoded, less the answer's last
        # token (never fed back) and what the chat template re-renders around the answer.
        assert usage.cached_tokens >= before.prompt_tokens
        assert usage.cached_tokens < usage.prompt_tokens
    assert all(u.cached_tokens == 0 for _, u in plain)


def test_with_prompt_lookup_too(engine: TransformersEngine) -> None:
    plain = dialogue(engine, QUESTIONS[:2], None)
    both = dialogue(engine, QUESTIONS[:2], CacheSlot("conversation-b", 64), lookup=True)
    assert [t for t, _ in both] == [t for t, _ in plain]
    assert both[1][1].cached_tokens > 0


def test_a_trimmed_history_reuses_only_the_common_start(engine: TransformersEngine) -> None:
    slot = CacheSlot("conversation-c", 64)
    first = dialogue(engine, QUESTIONS[:2], slot)
    # The oldest turn dropped (as turns.py trims to the window): the prompt now differs
    # right after the system prompt and the user turn's start.
    trimmed: list[Message] = [
        {"role": "system", "content": "You help with code."},
        {"role": "user", "content": "And if empty?"},
    ]
    text, usage = asyncio.run(answer(engine, GenerationRequest(trimmed, GREEDY, cache=slot)))
    fresh, _ = asyncio.run(answer(engine, GenerationRequest(trimmed, GREEDY)))
    before: list[Message] = [
        {"role": "system", "content": "You help with code."},
        {"role": "user", "content": QUESTIONS[0]},
        {"role": "assistant", "content": first[0][0]},
        {"role": "user", "content": QUESTIONS[1]},
    ]
    shared = common_prefix(engine._encode(before), engine._encode(trimmed))
    assert text == fresh
    assert usage.cached_tokens == shared and shared < 25


def test_conversations_do_not_share_a_cache(engine: TransformersEngine) -> None:
    dialogue(engine, QUESTIONS[:1], CacheSlot("conversation-d", 64))
    other = dialogue(engine, QUESTIONS[:2], CacheSlot("conversation-e", 64))
    assert other[0][1].cached_tokens == 0


class FakeCache:
    """A transformers cache's shape: layers holding key and value tensors."""

    def __init__(self, tokens: int) -> None:
        layer = type("Layer", (), {})()
        layer.keys = torch.zeros(1, 1, tokens, 8)
        layer.values = torch.zeros(1, 1, tokens, 8)
        self.layers = [layer]
        self.tokens = tokens

    def get_seq_length(self) -> int:
        return self.tokens

    def crop(self, change: int) -> None:
        self.tokens += change


def test_the_store_evicts_the_least_recently_used_within_its_budget() -> None:
    store = KvStore()
    size = cache_bytes(FakeCache(100))
    assert size == 2 * 100 * 8 * 4
    ids = list(range(200))
    store.put("a", ids, FakeCache(100), budget_bytes=2 * size)
    store.put("b", ids, FakeCache(100), budget_bytes=2 * size)
    store.put("c", ids, FakeCache(100), budget_bytes=2 * size)
    assert store.take("a", ids) == (None, 0)  # evicted first
    cache, reused = store.take("b", ids[:50] + [999] * 10)
    assert reused == 50 and cache.get_seq_length() == 50


def test_a_cache_larger_than_the_budget_is_not_kept() -> None:
    store = KvStore()
    store.put("a", list(range(200)), FakeCache(100), budget_bytes=100)
    assert len(store) == 0 and store.take("a", list(range(200))) == (None, 0)


def test_a_cache_that_cannot_roll_back_is_encoded_afresh() -> None:
    from transformers import DynamicCache, MistralConfig

    # A sliding-window model (Mistral, StarCoder2, Gemma) past its window of 8 tokens.
    config = MistralConfig(
        num_hidden_layers=1,
        sliding_window=8,
        hidden_size=16,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    cache = DynamicCache(config=config)
    keys = torch.zeros(1, 1, 40, 8)
    cache.update(keys, keys.clone(), 0)
    store = KvStore()
    store.put("a", list(range(40)), cache, budget_bytes=2**20)
    assert store.take("a", [*range(30), 99]) == (None, 0)
    assert len(store) == 0


def test_consecutive_completions_in_a_document_reuse_the_code_before_the_cursor(
    engine: TransformersEngine,
) -> None:
    from starchat.prompts.fim import named_format
    from starchat.server.completions import Budget, completion_request

    code = "".join(f"value_{i} = compute({i}, scale=2)\n" for i in range(300))
    budget = Budget(prefix_tokens=600, suffix_tokens=64, max_new_tokens=8)
    slot = CacheSlot("completion:doc", 64)
    fmt = named_format("starcoder")
    usages = []
    for typed in ("result = val", "result = valu", "result = value_"):
        request = completion_request(engine, fmt, code + typed, "\n", "m.py", budget, slot)
        plain = completion_request(engine, fmt, code + typed, "\n", "m.py", budget)

        cached_text, usage = asyncio.run(whole(engine.complete(request)))
        assert cached_text == asyncio.run(whole(engine.complete(plain)))[0]
        usages.append(usage)
    assert usages[0].cached_tokens == 0
    # Each keystroke re-encodes only the end of its line and the code after the cursor.
    for usage in usages[1:]:
        assert usage.prompt_tokens - usage.cached_tokens < 30, usage


def test_a_taker_waits_for_the_cache_another_generation_holds() -> None:
    """The newer completion of a document gets the cache its superseded predecessor is
    still extending, once that one puts it back — not nothing."""
    import threading
    import time

    store = KvStore()
    ids = list(range(100))
    store.put("doc", ids, FakeCache(100), budget_bytes=2**20)
    held, _ = store.take("doc", ids)
    got: list[tuple[Any, int]] = []

    def newer() -> None:
        store.wait_returned("doc", wait=10)
        got.append(store.take("doc", ids))

    waiter = threading.Thread(target=newer)
    waiter.start()
    time.sleep(0.2)
    assert not got, "it took the entry while another generation held it"
    store.put("doc", ids, held, budget_bytes=2**20)
    store.give_back("doc")
    waiter.join(5)
    assert got and got[0][0] is held and got[0][1] == 99


def test_a_taker_stops_waiting_when_stopped_or_out_of_time() -> None:
    import time

    store = KvStore()
    ids = list(range(100))
    store.put("doc", ids, FakeCache(100), budget_bytes=2**20)
    store.take("doc", ids)
    started = time.monotonic()
    store.wait_returned("doc", wait=10, stopped=lambda: True)
    store.wait_returned("doc", wait=0.1)
    assert time.monotonic() - started < 5
    assert store.take("doc", ids) == (None, 0)


def test_a_keystroke_during_a_completion_reuses_what_that_one_encoded(
    engine: TransformersEngine,
) -> None:
    """As in the editor: a completion is still decoding when the user types; the newer
    request starts at once, the older stops at its next token, and the newer encodes only
    what differs — with the same answer as without any cache."""
    from starchat.engine import CompletionRequest

    code = "".join(f"value_{i} = compute({i}, scale=2)\n" for i in range(30))
    slot = CacheSlot("completion:typing", 64)
    long = Sampling(max_new_tokens=100, temperature=0.0)
    short = Sampling(max_new_tokens=8, temperature=0.0)

    async def run() -> tuple[tuple[str, Usage], str]:
        older = engine.complete(CompletionRequest(code + "result = val", sampling=long, cache=slot))
        await anext(older)  # decoding, holding the document's cache
        newer = asyncio.ensure_future(
            whole(
                engine.complete(
                    CompletionRequest(code + "result = valu", sampling=short, cache=slot)
                )
            )
        )
        await asyncio.sleep(0.05)
        await older.aclose()  # superseded: stops at its next token
        plain = await whole(
            engine.complete(CompletionRequest(code + "result = valu", sampling=short))
        )
        return await newer, plain[0]

    (text, usage), plain_text = asyncio.run(run())
    assert text == plain_text
    assert usage.prompt_tokens - usage.cached_tokens < 10, usage
