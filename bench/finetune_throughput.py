"""Training throughput: this pipeline vs the reference's, same tiny model, data and machine.

Ours: dialogues tokenized with the chat template's loss mask (assistant answers only), packed
whole into rows best-fit-decreasing and collated padding-free (TRL's SFTTrainer), as
`starchat finetune` does. Reference (bigcode-project/starcoder `chat/`): every rendered
dialogue concatenated into one token stream, cut into `max_length` blocks, trained with the
plain Transformers Trainer and `labels = input_ids` (no masking). Both train the same tiny
GPTBigCode with the same batch size, block length, optimizer and activation checkpointing;
the runs alternate in one process and the median of each side is reported.

Tokens/s counts the tokens each side feeds the model (real tokens: neither pads). The ratio
is ours / reference; ≥ 1.0 means correct masking and dialogue-separated attention cost no
throughput.

    .venv/bin/python bench/finetune_throughput.py [--rounds 3] [--steps 12] [--max-length 512]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from starchat.finetune.config import Recipe, parse_invocation  # noqa: E402
from starchat.finetune.modeling import load_model, load_tokenizer  # noqa: E402
from starchat.finetune.train import build_trainer, check_inputs  # noqa: E402
from starchat.prompts import render_starchat  # noqa: E402

from tests.tiny_model import build_tiny_starchat  # noqa: E402

RECIPE = REPO / "finetune" / "recipes" / "starchat-alpha.yaml"
FIXTURE = REPO / "tests" / "data" / "oasst1_en_sample.jsonl"


def recipe_for(model_dir: Path, data: Path, out: Path, options: argparse.Namespace) -> Recipe:
    """The starchat-alpha recipe on the tiny model, one process, no evaluation or saving."""
    return parse_invocation(
        [
            str(RECIPE),
            "--model_name_or_path", str(model_dir),
            "--dataset_name", str(data),
            "--output_dir", str(out),
            "--eval_fraction", "0",
            "--max_length", str(options.max_length),
            "--max_steps", str(options.steps),
            "--per_device_train_batch_size", str(options.batch),
            "--gradient_accumulation_steps", "1",
            "--learning_rate", "1e-3",
            "--deepspeed", "",
            "--report_to", "none",
            "--save_strategy", "no",
            "--eval_strategy", "no",
            "--logging_steps", str(options.steps),
            "--disable_tqdm", "true",
        ]
    ).recipe  # fmt: skip


def run_ours(recipe: Recipe) -> dict[str, float]:
    args = recipe.sft_config()
    prepared = build_trainer(recipe, args, check_inputs(recipe), lambda _: None)
    started = time.perf_counter()
    prepared.trainer.train()
    elapsed = time.perf_counter() - started
    rows = prepared.packing
    tokens = args.max_steps * args.per_device_train_batch_size * rows.tokens / rows.rows
    return {
        "tokens_per_s": tokens / elapsed,
        "packing_efficiency": rows.efficiency,
        "trained_share": prepared.tokens.trained_tokens / prepared.tokens.tokens,
    }


def run_reference(recipe: Recipe) -> dict[str, float]:
    """Concatenate every rendered dialogue, cut blocks, labels = input_ids, plain Trainer."""
    from datasets import Dataset
    from transformers import Trainer, default_data_collator

    args = recipe.sft_config()  # the same optimizer, schedule and checkpointing settings
    tokenizer, _ = load_tokenizer(recipe.model.model_name_or_path or "")
    stream: list[int] = []
    for messages in check_inputs(recipe).train:
        text = render_starchat(messages, add_generation_prompt=False)
        stream += tokenizer(text, add_special_tokens=False)["input_ids"]
    size = recipe.max_length
    blocks = [stream[i : i + size] for i in range(0, len(stream) - size + 1, size)]
    dataset = Dataset.from_dict({"input_ids": blocks, "labels": [list(b) for b in blocks]})
    model = load_model(recipe.model, tokenizer)
    trainer = Trainer(
        model=model, args=args, train_dataset=dataset, data_collator=default_data_collator
    )
    started = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - started
    return {"tokens_per_s": args.max_steps * args.per_device_train_batch_size * size / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--copies", type=int, default=6, help="fixture dialogues repeated")
    parser.add_argument("--n-embd", type=int, default=256, help="tiny model width")
    parser.add_argument("--n-layer", type=int, default=4, help="tiny model depth")
    options = parser.parse_args()

    import torch

    work = Path(tempfile.mkdtemp(prefix="finetune-bench-"))
    model_dir = build_tiny_starchat(
        work / "base", chat=False, n_embd=options.n_embd, n_layer=options.n_layer
    )
    data = work / "dialogues.jsonl"
    data.write_text(FIXTURE.read_text(encoding="utf-8") * options.copies, encoding="utf-8")
    recipe = recipe_for(model_dir, data, work / "out", options)

    ours: list[dict[str, float]] = []
    reference: list[dict[str, float]] = []
    for _ in range(options.rounds):
        reference.append(run_reference(recipe))
        ours.append(run_ours(recipe))

    ours_rate = statistics.median(r["tokens_per_s"] for r in ours)
    reference_rate = statistics.median(r["tokens_per_s"] for r in reference)
    result = {
        "ours_tokens_per_s": round(ours_rate, 1),
        "reference_tokens_per_s": round(reference_rate, 1),
        "ratio": round(ours_rate / reference_rate, 3),
        "packing_efficiency": round(ours[0]["packing_efficiency"], 4),
        "trained_token_share": round(ours[0]["trained_share"], 4),
        "rounds": options.rounds,
        "steps": options.steps,
        "batch": options.batch,
        "max_length": options.max_length,
        "model": f"gpt_bigcode n_embd={options.n_embd} n_layer={options.n_layer}",
        "torch_threads": torch.get_num_threads(),
    }
    print(f"reference (concatenate + chunk, no masking): {reference_rate:9.1f} tokens/s")
    print(f"ours (template mask, packed, padding-free):  {ours_rate:9.1f} tokens/s")
    print(f"ratio ours / reference: {result['ratio']:.3f}")
    print(f"packing efficiency: {result['packing_efficiency']:.1%} of row capacity is real tokens")
    print(f"tokens carrying loss (ours): {result['trained_token_share']:.1%} (reference: 100%)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
