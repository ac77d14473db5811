"""Pairwise AI judging, as in the StarChat seeds: two models answer, a third scores both.

Models A and B answer every prompt of a set (by default the project's 115 coding prompts,
`data/judge_prompts.jsonl`: three quarters "write code" in Python, C++, JavaScript and
HTML, one quarter "here is my buggy code, give feedback"). The judge reads each pair with
the Vicuna-style reviewer prompt (`prompts/eval/judge.jinja`) and puts a score from 1 to 8
for each answer on its first line. Every pair is judged in both orders (A first, then B
first), so a judge's preference for a position cancels out. A reply whose first line does
not parse gets one follow-up asking for the format (`prompts/eval/judge-retry.txt`); if
that fails too, the order is recorded as unparsed and the run goes on.
"""

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from starchat.engine import Engine
from starchat.finetune.evaluate.errors import EvalError, jsonl_objects
from starchat.finetune.evaluate.generation import ModelSpec, ask, chat, load
from starchat.finetune.evaluate.rundir import RunDir
from starchat.prompts import Message
from starchat.prompts.files import environment, read_text

Order = Literal["ab", "ba"]
ORDERS: tuple[Order, ...] = ("ab", "ba")
JUDGE_TEMPLATE = "eval/judge.jinja"
JUDGE_SYSTEM = "eval/judge-system.txt"
JUDGE_RETRY = "eval/judge-retry.txt"
FIELDS = ("id", "category", "language", "prompt")
JUDGEMENTS = "judgements.jsonl"
MIN_SCORE, MAX_SCORE = 1.0, 8.0

_LABEL = re.compile(r"assistant\s*[12]", re.I)
_OUT_OF = re.compile(r"(/\s*8|out\s+of\s+8)\b", re.I)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


@dataclass(frozen=True)
class JudgePrompt:
    id: str
    category: str
    language: str
    prompt: str


def default_prompts() -> Path:
    return Path(str(files("starchat.finetune.evaluate") / "data" / "judge_prompts.jsonl"))


def load_prompts(path: Path) -> list[JudgePrompt]:
    """The prompt set, one JSON object per line with the fields id, category, language, prompt."""
    prompts: list[JudgePrompt] = []
    seen: set[str] = set()
    for where, row in jsonl_objects(path, "prompts file"):
        for field in FIELDS:
            if not isinstance(row.get(field), str) or not row[field].strip():
                raise EvalError(f"{where}: missing field {field!r} (a non-empty string)")
        if row["id"] in seen:
            raise EvalError(f"{where}: duplicate id {row['id']!r}")
        seen.add(row["id"])
        prompts.append(JudgePrompt(*(row[f] for f in FIELDS)))
    if not prompts:
        raise EvalError(f"{path} holds no prompts")
    return prompts


def parse_scores(reply: str) -> tuple[float, float] | None:
    """The two scores on the reply's first non-empty line, or None when it holds no such pair.

    Accepts "7 5", "7, 5", "**7/8 5/8**" and "Assistant 1: 7, Assistant 2: 5"; anything
    else (one number, three numbers, a score outside 1–8) is not a verdict.
    """
    line = next((line for line in reply.splitlines() if line.strip()), "")
    line = _OUT_OF.sub(" ", _LABEL.sub(" ", line))
    numbers = [float(n) for n in _NUMBER.findall(line)]
    if len(numbers) != 2 or not all(MIN_SCORE <= n <= MAX_SCORE for n in numbers):
        return None
    return numbers[0], numbers[1]


def review(prompt: JudgePrompt, first: str, second: str) -> list[Message]:
    """The judge's dialogue for one order of one pair."""
    user = (
        environment()
        .get_template(JUDGE_TEMPLATE)
        .render(question=prompt.prompt, answer_1=first.strip(), answer_2=second.strip())
    )
    return chat(user, system=read_text(JUDGE_SYSTEM).strip())


@dataclass(frozen=True)
class Options:
    out: Path
    a: ModelSpec
    b: ModelSpec
    judge: ModelSpec
    prompts: Path
    limit: int | None = None
    temperature: float = 0.2
    max_new_tokens: int = 512
    judge_max_new_tokens: int = 512
    seed: int = 0


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _progress(total: int, done: int, label: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc=label, unit="prompt", dynamic_ncols=True)


async def _answer_all(
    run: RunDir, side: str, spec: ModelSpec, prompts: list[JudgePrompt], options: Options
) -> dict[str, str]:
    """Model `side`'s answers, generating those not yet in answers_<side>.jsonl."""
    name = f"answers_{side}.jsonl"
    answers = {r["id"]: r["answer"] for r in run.read(name)}
    todo = [p for p in prompts if p.id not in answers]
    if todo:
        engine = spec.create()
        await load(engine, f"cannot load model {side.upper()} ({spec.label})")
        bar = _progress(len(prompts), len(prompts) - len(todo), f"answers {side.upper()}")
        try:
            for prompt in todo:
                answer = await ask(
                    engine,
                    chat(prompt.prompt),
                    max_new_tokens=options.max_new_tokens,
                    temperature=options.temperature,
                    seed=options.seed,
                )
                record = {
                    "id": prompt.id,
                    "answer": answer.text,
                    "generated_tokens": answer.generated_tokens,
                }
                run.append(name, record | ({"error": answer.error} if answer.error else {}))
                answers[prompt.id] = answer.text
                bar.update(1)
        finally:
            bar.close()
            await engine.close()
    return answers


async def _verdict(
    judge: Engine, messages: list[Message], max_new_tokens: int
) -> tuple[str, tuple[float, float] | None, int]:
    """The judge's reply, its scores and the attempts it took (a second one after a bad reply)."""
    first = await ask(judge, messages, max_new_tokens=max_new_tokens, temperature=0.0)
    if first.error:  # the pair does not fit the judge's context: nothing to retry
        return first.error, None, 1
    scores = parse_scores(first.text)
    if scores is not None:
        return first.text, scores, 1
    follow_up: list[Message] = [
        *messages,
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": read_text(JUDGE_RETRY).strip()},
    ]
    retry = await ask(judge, follow_up, max_new_tokens=max_new_tokens, temperature=0.0)
    return retry.error or retry.text, parse_scores(retry.text), 2


async def _judge_all(
    run: RunDir,
    judge: Engine,
    prompts: list[JudgePrompt],
    answers: dict[str, dict[str, str]],
    options: Options,
) -> list[dict[str, Any]]:
    judgements = run.read(JUDGEMENTS)
    done = {(j["id"], j["order"]) for j in judgements}
    todo = [(p, o) for p in prompts for o in ORDERS if (p.id, o) not in done]
    if not todo:
        return judgements
    await load(judge, f"cannot reach the judge ({options.judge.label})")
    bar = _progress(2 * len(prompts), 2 * len(prompts) - len(todo), "judging")
    try:
        for prompt, order in todo:
            first, second = (
                (answers["a"], answers["b"]) if order == "ab" else (answers["b"], answers["a"])
            )
            messages = review(prompt, first[prompt.id], second[prompt.id])
            reply, scores, attempts = await _verdict(judge, messages, options.judge_max_new_tokens)
            record = {
                "id": prompt.id,
                "order": order,
                "scores": list(scores) if scores else None,
                "attempts": attempts,
                "reply": reply,
            }
            run.append(JUDGEMENTS, record)
            judgements.append(record)
            bar.update(1)
    finally:
        bar.close()
    return judgements


async def run_judge(
    options: Options,
) -> tuple[RunDir, list[JudgePrompt], dict[str, dict[str, str]], list[dict[str, Any]]]:
    """Answer with A and B, judge both orders, and return what the report needs."""
    prompts = load_prompts(options.prompts)[: options.limit]
    run = RunDir(
        options.out,
        {
            "benchmark": "judge",
            "a": options.a.label,
            "b": options.b.label,
            "judge": options.judge.label,
            "prompts": _digest(options.prompts.read_text(encoding="utf-8")),
            "temperature": options.temperature,
            "max_new_tokens": options.max_new_tokens,
            "judge_prompt": _digest(
                *(read_text(n) for n in (JUDGE_TEMPLATE, JUDGE_SYSTEM, JUDGE_RETRY))
            ),
            "seed": options.seed,
        },
    )
    run.claim()
    judge = options.judge.create()
    try:
        if options.judge.url:  # a served judge: find out it is down before answering for an hour
            await load(judge, f"cannot reach the judge ({options.judge.label})")
        answers = {
            "a": await _answer_all(run, "a", options.a, prompts, options),
            "b": await _answer_all(run, "b", options.b, prompts, options),
        }
        judgements = await _judge_all(run, judge, prompts, answers, options)
    finally:
        await judge.close()
    return run, prompts, answers, judgements
