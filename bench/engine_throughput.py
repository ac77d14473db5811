"""Engine overhead: the engine's stream vs plain `model.generate` + `TextIteratorStreamer`.

Same process, same loaded model, same prompt, greedy decoding (so both produce the same
tokens), runs alternating. Both sides are timed the same way, at the consumer: time to the
first non-empty text, and decode rate = (tokens - 1) / (end - first text).

    .venv/bin/python bench/engine_throughput.py [--model DIR] [--runs 5] [--tokens 128]
"""

import argparse
import asyncio
import statistics
import threading
import time
from typing import Any

from starchat.engine import Chunk, EngineSettings, GenerationRequest, Sampling, Usage
from starchat.engine.transformers_engine import TransformersEngine

QUESTION = "Write a Python function that checks whether a number is prime."


def baseline(engine: TransformersEngine, tokens: int) -> tuple[float, float]:
    from transformers import TextIteratorStreamer

    model, tokenizer = engine._model, engine._tokenizer
    messages = [{"role": "user", "content": QUESTION}]
    started = time.perf_counter()
    ids = tokenizer(engine.render_prompt(messages), add_special_tokens=False, return_tensors="pt")
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    result: dict[str, Any] = {}

    def run() -> None:
        result["out"] = model.generate(
            **ids,
            streamer=streamer,
            **engine._generation_kwargs(_sampling(tokens), engine._stop_ids),
        )

    worker = threading.Thread(target=run)
    worker.start()
    first = None
    for text in streamer:
        if text and first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    worker.join()
    generated = result["out"].shape[1] - ids["input_ids"].shape[1]
    assert first is not None
    return first - started, (generated - 1) / (end - first)


async def through_engine(engine: TransformersEngine, tokens: int) -> tuple[float, float]:
    request = GenerationRequest([{"role": "user", "content": QUESTION}], _sampling(tokens))
    started = time.perf_counter()
    first = None
    usage = None
    async for item in engine.generate(request):
        if isinstance(item, Chunk) and first is None:
            first = time.perf_counter()
        elif isinstance(item, Usage):
            usage = item
    end = time.perf_counter()
    assert first is not None and usage is not None
    return first - started, (usage.generated_tokens - 1) / (end - first)


def _sampling(tokens: int) -> Sampling:
    return Sampling(max_new_tokens=tokens, temperature=0.0, repetition_penalty=1.1)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="default: the offline default model")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    engine = TransformersEngine(EngineSettings(model=args.model))
    await engine.load()
    await through_engine(engine, 8)  # warm-up: first-call allocations
    baseline(engine, 8)
    rows: dict[str, list[tuple[float, float]]] = {"engine": [], "baseline": []}
    for _ in range(args.runs):
        rows["engine"].append(await through_engine(engine, args.tokens))
        rows["baseline"].append(baseline(engine, args.tokens))
    med = {
        k: (statistics.median(t for t, _ in v), statistics.median(r for _, r in v))
        for k, v in rows.items()
    }
    for name, (ttft, rate) in med.items():
        print(f"{name:<9} time to first token {ttft * 1000:7.1f} ms   decode {rate:6.1f} tok/s")
    print(
        f"ratio     tokens/s engine/baseline {med['engine'][1] / med['baseline'][1]:.3f}   "
        f"TTFT engine/baseline {med['engine'][0] / med['baseline'][0]:.3f}   "
        f"(median of {args.runs} alternating runs, {args.tokens} tokens)"
    )


if __name__ == "__main__":
    asyncio.run(main())
