"""Choose the offline default model's sampling settings by measuring its answers.

SmolLM2-135M loops under greedy decoding. For each candidate setting, ask a fixed set of
coding questions (3 seeds each) and score the answers: does a ```python block parse, and how
much of the answer is repeated lines (a loop). Prints one row per setting.

    .venv/bin/python bench/default_sampling.py [--max-new-tokens 200]
"""

import argparse
import ast
import asyncio
import time

from starchat.engine import Chunk, EngineSettings, GenerationRequest, Sampling, create_engine
from starchat.prompts import extract_code

QUESTIONS = [
    "Write a Python function that checks whether a number is prime.",
    "Write a Python function that reverses the words in a sentence.",
    "Write a Python function that returns the n-th Fibonacci number.",
    "Write a Python function that counts the vowels in a string.",
]

CANDIDATES = {
    "greedy": Sampling(temperature=0.0, repetition_penalty=1.0),
    "greedy rp1.2": Sampling(temperature=0.0, repetition_penalty=1.2),
    "t0.2 p0.9 rp1.0": Sampling(temperature=0.2, top_p=0.9, top_k=50, repetition_penalty=1.0),
    "t0.2 p0.9 rp1.1": Sampling(temperature=0.2, top_p=0.9, top_k=50, repetition_penalty=1.1),
    "t0.6 p0.9 rp1.1": Sampling(temperature=0.6, top_p=0.9, top_k=50, repetition_penalty=1.1),
}


def repeated_share(text: str) -> float:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return 1 - len(set(lines)) / len(lines) if lines else 0.0


def parses(text: str) -> bool:
    code = extract_code(text, "python")
    if code is None:
        return False
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return "def " in code


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    engine = create_engine(EngineSettings())
    await engine.load()
    print(f"{'setting':<18} {'code parses':>11} {'repeated lines':>15} {'hit limit':>9}")
    for name, sampling in CANDIDATES.items():
        sampling = Sampling(**{**sampling.__dict__, "max_new_tokens": args.max_new_tokens})
        seeds = range(args.seeds) if sampling.temperature else range(1)
        good = total = capped = 0
        repeats = 0.0
        started = time.perf_counter()
        for question in QUESTIONS:
            for seed in seeds:
                text, finish = "", ""
                request = GenerationRequest([{"role": "user", "content": question}], sampling, seed)
                async for item in engine.generate(request):
                    if isinstance(item, Chunk):
                        text += item.text
                    else:
                        finish = item.finish_reason
                total += 1
                good += parses(text)
                capped += finish == "length"
                repeats += repeated_share(text)
        print(
            f"{name:<18} {good / total:>11.0%} {repeats / total:>15.1%} {capped / total:>9.0%}"
            f"   ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    asyncio.run(main())
