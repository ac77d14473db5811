"""Choose the offline default model's sampling settings by measuring its answers to the
editor's own prompts.

Two purposes, asked the way the server asks them (the editor's default system prompt, the
action templates in `prompts/actions/`):

- chat: coding questions that name the function they want;
- code: Fix and Improve on small functions, whose answer replaces the user's code.

For each candidate setting (sampled ones with 2 seeds) each answer is scored: does its
```python block parse, does it define the function by the name asked for (a renamed
function breaks its callers), how much of it is repeated lines (a loop), did it hit the
length limit. Prints one row per setting and purpose.

    OMP_NUM_THREADS=1 .venv/bin/python bench/default_sampling.py [--max-new-tokens 160]
"""

import argparse
import ast
import asyncio
import re
import time
from dataclasses import dataclass, replace

from starchat.engine import Chunk, EngineSettings, GenerationRequest, Sampling, create_engine
from starchat.engine.sampling import Purpose
from starchat.prompts import ActionSlots, Message, extract_code, render_action
from starchat.server.options import Options


@dataclass(frozen=True)
class Question:
    purpose: Purpose
    user: str
    name: str
    """The function the answer must define."""


def _action(action: str, code: str) -> str:
    return render_action(action, ActionSlots(language="python", path="util.py", code=code))


QUESTIONS = [
    Question(
        "chat", "Write a Python function `is_prime(n)` that checks whether n is prime.", "is_prime"
    ),
    Question(
        "chat",
        "Write a Python function `reverse_words(sentence)` that reverses the order of the "
        "words in a sentence.",
        "reverse_words",
    ),
    Question(
        "chat",
        "Write a Python function `fibonacci(n)` that returns the n-th Fibonacci number.",
        "fibonacci",
    ),
    Question(
        "chat",
        "Write a Python function `count_vowels(text)` that counts the vowels in a string.",
        "count_vowels",
    ),
    Question(
        "code",
        _action(
            "fix",
            "def average_length(words):\n    total = 0\n    for word in words:\n"
            "        total += len(word)\n    return total / len(word)\n",
        ),
        "average_length",
    ),
    Question(
        "code",
        _action(
            "fix",
            "def find_max(numbers):\n    best = 0\n    for n in numbers:\n        if n < best:\n"
            "            best = n\n    return best\n",
        ),
        "find_max",
    ),
    Question(
        "code",
        _action(
            "improve",
            "def even_squares(items):\n    result = []\n    for i in range(len(items)):\n"
            "        if items[i] % 2 == 0:\n            result.append(items[i] * items[i])\n"
            "    return result\n",
        ),
        "even_squares",
    ),
    Question(
        "code",
        _action(
            "improve",
            "def has_duplicates(values):\n    for i in range(len(values)):\n"
            "        for j in range(len(values)):\n"
            "            if i != j and values[i] == values[j]:\n                return True\n"
            "    return False\n",
        ),
        "has_duplicates",
    ),
]

_EDITOR = Options()
CANDIDATES = {
    "greedy": Sampling(temperature=0.0, repetition_penalty=1.0),
    "greedy rp1.1": Sampling(temperature=0.0, repetition_penalty=1.1),
    "t0.2 p0.95 rp1.0": Sampling(temperature=0.2, top_p=0.95, top_k=50, repetition_penalty=1.0),
    "t0.2 p0.95 rp1.1": Sampling(temperature=0.2, top_p=0.95, top_k=50, repetition_penalty=1.1),
    "t0.2 p0.9 rp1.1": Sampling(temperature=0.2, top_p=0.9, top_k=50, repetition_penalty=1.1),
}
"""The editor sends temperature 0.2, top-p 0.95, top-k 50 (its settings' defaults); the
repetition penalty is the purpose's or the model's default. "t0.2 p0.9 rp1.1" was the offline
model's default before issue 16."""


def repeated_share(text: str) -> float:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return 1 - len(set(lines)) / len(lines) if lines else 0.0


def parses(code: str | None) -> bool:
    if code is None:
        return False
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def defines(code: str | None, name: str) -> bool:
    return code is not None and re.search(rf"^def\s+{re.escape(name)}\s*\(", code, re.M) is not None


def messages(question: Question) -> list[Message]:
    system = _EDITOR.system_text()
    head: list[Message] = [{"role": "system", "content": system}] if system else []
    return [*head, {"role": "user", "content": question.user}]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    engine = create_engine(EngineSettings())
    await engine.load()
    print(
        f"{'setting':<18} {'purpose':<7} {'parses':>6} {'keeps name':>10} "
        f"{'repeated lines':>14} {'hit limit':>9}"
    )
    for name, sampling in CANDIDATES.items():
        sampling = replace(sampling, max_new_tokens=args.max_new_tokens)
        seeds = range(args.seeds) if sampling.temperature else range(1)
        for purpose in ("chat", "code"):
            asked = [q for q in QUESTIONS if q.purpose == purpose]
            good = named = total = capped = 0
            repeats = 0.0
            started = time.perf_counter()
            for question in asked:
                for seed in seeds:
                    text, finish = "", ""
                    request = GenerationRequest(messages(question), sampling, seed)
                    async for item in engine.generate(request):
                        if isinstance(item, Chunk):
                            text += item.text
                        else:
                            finish = item.finish_reason
                    code = extract_code(text, "python")
                    total += 1
                    good += parses(code)
                    named += defines(code, question.name)
                    capped += finish == "length"
                    repeats += repeated_share(text)
            print(
                f"{name:<18} {purpose:<7} {good / total:>6.0%} {named / total:>10.0%} "
                f"{repeats / total:>14.1%} {capped / total:>9.0%}"
                f"   ({total} answers, {time.perf_counter() - started:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
