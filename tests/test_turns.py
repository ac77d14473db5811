"""Taking turns on a device that cannot take work from two threads at once (engine/turns.py):
on Apple's MPS a chat answer and an inline completion decoding together would abort the
process. Proven here on the CPU with the turns forced on, on the tiny model in the real
engine: never two forward passes at once, yet the completion is not queued behind the answer."""

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from starchat.engine import CompletionRequest, GenerationRequest, Sampling
from starchat.engine.transformers_engine import TransformersEngine, between_steps
from starchat.engine.turns import Turns, turns_for
from transformers import StoppingCriteriaList

from tests.conftest import whole


def test_only_apples_gpu_takes_turns() -> None:
    assert turns_for("mps") is turns_for("mps:0") is not None
    assert turns_for("cpu") is None and turns_for("cuda:1") is None and turns_for("auto") is None


def test_turns_are_first_come_first_served_and_handed_on_between_steps() -> None:
    turns = Turns()
    steps: list[str] = []
    inside = 0
    overlapped = False
    started = threading.Event()

    def work(name: str, count: int) -> None:
        nonlocal inside, overlapped
        with turns.held():
            for _ in range(count):
                inside += 1
                overlapped |= inside > 1
                steps.append(name)
                started.set()
                time.sleep(0.002)
                inside -= 1
                turns.pass_on()

    long = threading.Thread(target=work, args=("chat", 60))
    long.start()
    started.wait(5)
    short = threading.Thread(target=work, args=("completion", 3))
    short.start()
    short.join(10)
    long.join(10)
    assert not overlapped
    first = steps.index("completion")
    # One step each in turn, and the completion done long before the chat.
    assert steps[first : first + 6] == ["completion", "chat"] * 2 + ["completion", "chat"]
    assert steps.count("chat") == 60 and steps[-1] == "chat"


def test_the_stop_signal_lives_on_the_models_device() -> None:
    """`generate` ORs it with a tensor on the model's device; a CPU answer beside a GPU's
    failed every generation."""
    stop = threading.Event()
    ids = torch.zeros((1, 4), dtype=torch.long, device="meta")
    done = StoppingCriteriaList([between_steps(stop, None)])(ids, None)
    assert done.device.type == "meta"


@pytest.fixture
def taking_turns(tiny_engine: TransformersEngine) -> Iterator[dict[str, int]]:
    """The tiny engine as it runs on MPS, with every forward pass counted."""
    seen = {"inside": 0, "most": 0, "passes": 0}
    model = tiny_engine._model
    forward = model.forward
    lock = threading.Lock()

    def counted(*args: Any, **kwargs: Any) -> Any:
        with lock:
            seen["inside"] += 1
            seen["passes"] += 1
            seen["most"] = max(seen["most"], seen["inside"])
        try:
            time.sleep(0.002)  # long enough for another thread's pass to overlap, if it may
            return forward(*args, **kwargs)
        finally:
            with lock:
                seen["inside"] -= 1

    model.forward = counted
    tiny_engine._turns = Turns()
    try:
        yield seen
    finally:
        tiny_engine._turns = None
        del model.forward


def test_a_completion_and_a_chat_answer_take_turns(
    tiny_engine: TransformersEngine, taking_turns: dict[str, int]
) -> None:
    chat = GenerationRequest(
        [{"role": "user", "content": "Tell me about Python."}],
        Sampling(max_new_tokens=150, temperature=0.0),
    )
    completion = CompletionRequest(
        "def add(a, b):\n    return", sampling=Sampling(max_new_tokens=8, temperature=0.0)
    )

    async def together() -> tuple[str, str, int, int]:
        chunks = 0
        chat_text = ""
        completion_task: asyncio.Task[Any] | None = None
        chunks_when_done = -1
        async for item in tiny_engine.generate(chat):
            if not hasattr(item, "text"):
                continue
            chat_text += item.text
            chunks += 1
            if chunks == 3:
                completion_task = asyncio.ensure_future(whole(tiny_engine.complete(completion)))
            if completion_task is not None and completion_task.done() and chunks_when_done < 0:
                chunks_when_done = chunks
        assert completion_task is not None
        completion_text, _ = await completion_task
        return chat_text, completion_text, chunks_when_done, chunks

    chat_text, completion_text, when, total = asyncio.run(together())
    assert taking_turns["most"] == 1, "two forward passes ran at once"
    assert 0 < when < total, "the completion waited for the whole chat answer"
    tiny_engine._turns = None
    assert chat_text == asyncio.run(whole(tiny_engine.generate(chat)))[0]
    assert completion_text == asyncio.run(whole(tiny_engine.complete(completion)))[0]


def test_a_chat_answer_gives_way_while_a_completion_decodes(
    tiny_engine: TransformersEngine,
) -> None:
    """Ghost text is wanted now; a streaming answer pausing for a moment goes unseen. So
    while a completion decodes, the chat answer takes no steps (but the one in flight), and
    both answers are what they are alone."""
    steps: list[threading.Thread] = []
    model = tiny_engine._model
    forward = model.forward

    def recorded(*args: Any, **kwargs: Any) -> Any:
        steps.append(threading.current_thread())
        return forward(*args, **kwargs)

    chat = GenerationRequest(
        [{"role": "user", "content": "Tell me about Python."}],
        Sampling(max_new_tokens=300, temperature=0.0),
    )
    completion = CompletionRequest(
        "def add(a, b):\n    return", sampling=Sampling(max_new_tokens=16, temperature=0.0)
    )
    alone = asyncio.run(whole(tiny_engine.complete(completion)))

    async def together() -> tuple[str, Any]:
        stream = tiny_engine.generate(chat)
        for _ in range(3):
            await anext(stream)
        try:
            return await whole(tiny_engine.complete(completion))
        finally:
            await stream.aclose()

    model.forward = recorded
    try:
        text, usage = asyncio.run(together())
    finally:
        del model.forward
    assert (text, usage.generated_tokens) == (alone[0], alone[1].generated_tokens)
    assert usage.generated_tokens >= 8
    chat_thread = steps[0]
    ours = [i for i, thread in enumerate(steps) if thread is not chat_thread]
    assert len(ours) == usage.generated_tokens  # a forward pass per token
    during = steps[ours[0] : ours[-1] + 1]
    assert sum(thread is chat_thread for thread in during) <= 1, "the chat kept decoding"
