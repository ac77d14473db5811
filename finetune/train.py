"""The training run, top to bottom: check → load data → build trainer → train → evaluate → save.

Everything that can be wrong with the input (recipe, output directory, model config, data)
is checked before any weights load. The same code runs on one device, with DDP, and with
DeepSpeed ZeRO-3: the Trainer's `deepspeed` setting is the only switch, and the launcher
(`torchrun`, `accelerate launch`, `deepspeed`) only decides how many processes run it.
"""

import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from starchat.finetune import rundir
from starchat.finetune.config import Recipe
from starchat.finetune.data import Dialogues, load_dialogues
from starchat.finetune.errors import FinetuneError
from starchat.finetune.labels import TokenStats, tokenize_dialogues
from starchat.finetune.modeling import (
    context_length,
    load_model,
    load_model_config,
    load_tokenizer,
    lora_config,
)
from starchat.finetune.packing import (
    PackingStats,
    collator_for,
    pack,
    packing_stats,
    trainer_batches,
    write_examples,
)
from starchat.finetune.report import perplexity, plot_loss_curve, write_metrics
from starchat.finetune.sample import sample_answer

if TYPE_CHECKING:
    from pathlib import Path

    from transformers import PreTrainedModel, PreTrainedTokenizerBase
    from trl import SFTConfig, SFTTrainer


def check_inputs(recipe: Recipe) -> Dialogues:
    """Every check that needs no weights; returns the validated dialogues."""
    config = load_model_config(recipe.model.model_name_or_path or "")
    context = context_length(config)
    if context is not None and recipe.max_length > context:
        raise FinetuneError(
            f"max_length {recipe.max_length} is above the context of "
            f"{recipe.model.model_name_or_path} ({context} tokens)"
        )
    return load_dialogues(recipe.data, seed=int(recipe.training.get("seed", 42)))


def dump_examples(recipe: Recipe, count: int, path: "Path") -> int:
    """Write `count` training micro-batches as the trainer builds them; no weights needed."""
    dialogues = check_inputs(recipe)
    print(dialogues.summary())
    tokenizer, _ = load_tokenizer(recipe.model.model_name_or_path or "")
    dataset, _, packed = _training_rows(recipe, tokenizer, dialogues.train, "train", print)
    collator = collator_for(
        recipe.model.attn_implementation, tokenizer.pad_token_id, packed is not None
    )
    batch_size = int(recipe.training["per_device_train_batch_size"])
    write_examples(trainer_batches(dataset, collator, batch_size, count), tokenizer, path)
    print(f"wrote {min(count, -(-len(dataset) // batch_size))} micro-batches to {path}")
    return 0


def train(recipe: Recipe) -> int:
    resume = rundir.resume_checkpoint(recipe)
    dialogues = check_inputs(recipe)
    _quiet_library_warnings()
    _init_distributed(recipe)
    args = recipe.sft_config()
    main = args.process_index == 0
    say: Callable[[str], None] = print if main else _silent
    say(dialogues.summary())
    if args.should_save:
        rundir.start_run(recipe)

    prepared = build_trainer(recipe, args, dialogues, say)
    trainer, tokenizer, stats, packed = prepared
    if resume is not None:
        say(f"resuming from {resume}")

    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    evaluation = _final_evaluation(trainer) if trainer.eval_dataset is not None else {}
    final = _save(trainer, tokenizer, recipe)
    answer = None
    if recipe.run.sample_prompt:
        answer = sample_answer(
            final, tokenizer, recipe.run.sample_prompt, recipe.run.sample_max_new_tokens, args.seed
        )
        say(f"sample — user: {recipe.run.sample_prompt}\nsample — assistant: {answer}")
    if main:
        metrics = _metrics(recipe, args, dialogues, stats.to_json(), packed.to_json(), trainer)
        metrics["train"] = dict(result.metrics)
        metrics["train_tokens_per_second"] = _tokens_per_second(
            args, packed, trainer.state.global_step - _step(resume), result.metrics
        )
        metrics["eval"] = {**evaluation, "perplexity": perplexity(evaluation.get("eval_loss"))}
        metrics["sample"] = {"prompt": recipe.run.sample_prompt, "answer": answer}
        metrics["resumed_from"] = resume.name if resume else None
        path = write_metrics(recipe.output_dir, metrics)
        plot_loss_curve(recipe.output_dir, trainer.state.log_history, str(recipe.output_dir.name))
        say(f"saved the model, {path.name} and loss_curve.png in {recipe.output_dir}")
    _end_distributed()
    return 0


class Prepared(NamedTuple):
    trainer: "SFTTrainer"
    tokenizer: "PreTrainedTokenizerBase"
    tokens: TokenStats
    packing: PackingStats


def build_trainer(
    recipe: Recipe, args: "SFTConfig", dialogues: Dialogues, say: Callable[[str], None]
) -> Prepared:
    """Tokenizer, labelled and packed data, model, and TRL's trainer around them."""
    from trl import SFTTrainer

    tokenizer, added_tokens = load_tokenizer(recipe.model.model_name_or_path or "")
    train_set, stats, packed = _training_rows(recipe, tokenizer, dialogues.train, "train", say)
    eval_set = None
    if dialogues.eval:
        eval_set = _training_rows(recipe, tokenizer, dialogues.eval, "eval", _silent)[0]
    model = load_model(recipe.model, tokenizer)
    peft = lora_config(recipe.model, model, added_tokens) if recipe.model.use_peft else None
    trainer = SFTTrainer(
        model=model,
        args=args,
        data_collator=collator_for(
            recipe.model.attn_implementation, tokenizer.pad_token_id, packed is not None
        ),
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=peft,
    )
    rows = packed or packing_stats(train_set, recipe.max_length)
    return Prepared(trainer, tokenizer, stats, rows)


def _training_rows(
    recipe: Recipe,
    tokenizer: "PreTrainedTokenizerBase",
    dialogues: list[Any],
    split: str,
    say: Callable[[str], None],
) -> tuple[Any, TokenStats, PackingStats | None]:
    """Token ids and labels per dialogue, packed into rows when the recipe packs."""
    dataset, stats = tokenize_dialogues(dialogues, tokenizer, recipe.max_length, split)
    say(stats.summary(recipe.max_length, str(recipe.training["packing_strategy"])))
    if not recipe.training["packing"]:
        return dataset, stats, None
    dataset = pack(dataset, recipe.max_length, str(recipe.training["packing_strategy"]))
    packed = packing_stats(dataset, recipe.max_length)
    say(packed.summary())
    return dataset, stats, packed


def _final_evaluation(trainer: "SFTTrainer") -> dict[str, float]:
    """The evaluation at the last step: the Trainer's own if its schedule ran one there."""
    step = trainer.state.global_step
    for entry in reversed(trainer.state.log_history):
        if "eval_loss" in entry and entry.get("step") == step:
            return {k: v for k, v in entry.items() if k.startswith("eval_")}
    return trainer.evaluate()


def _save(
    trainer: "SFTTrainer", tokenizer: "PreTrainedTokenizerBase", recipe: Recipe
) -> "PreTrainedModel":
    """Save what `starchat serve --model <output_dir>` loads; return the model to sample from.

    Under ZeRO-3 `save_model` is collective (every rank hands in its shards) and writes the
    gathered 16-bit weights. LoRA runs also keep the adapter, in `adapter/`, and save the
    merged model at the top so that it is served like any other.
    """
    out = recipe.output_dir
    if not recipe.model.use_peft:
        trainer.save_model(str(out))
        return trainer.accelerator.unwrap_model(trainer.model)
    trainer.save_model(str(out / "adapter"))
    merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
    if trainer.args.should_save:
        merged.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
    return merged


def _metrics(
    recipe: Recipe,
    args: "SFTConfig",
    dialogues: Dialogues,
    tokens: dict[str, Any],
    packing: dict[str, Any],
    trainer: "SFTTrainer",
) -> dict[str, Any]:
    return {
        "model": recipe.model.model_name_or_path,
        "recipe": str(recipe.path),
        "world_size": args.world_size,
        "deepspeed_zero_stage": recipe.zero_stage() if args.deepspeed else None,
        "global_step": trainer.state.global_step,
        "data": dialogues.to_json(),
        "tokens": tokens,
        "packing": packing,
        "log_history": trainer.state.log_history,
    }


def _tokens_per_second(
    args: "SFTConfig", rows: PackingStats, steps: int, metrics: dict[str, float]
) -> float | None:
    """Real tokens trained per second in this session: rows per step × mean tokens per row."""
    runtime = metrics.get("train_runtime")
    if not runtime or not rows.rows:
        return None
    per_step = args.per_device_train_batch_size * args.world_size * args.gradient_accumulation_steps
    return steps * per_step * (rows.tokens / rows.rows) / runtime


def _step(checkpoint: "Path | None") -> int:
    return int(checkpoint.name.rsplit("-", 1)[1]) if checkpoint else 0


def _init_distributed(recipe: Recipe) -> None:
    """On CPUs (CI, laptops) ranks talk over gloo; DeepSpeed must be set up before the model."""
    import torch

    if int(os.environ.get("WORLD_SIZE", "1")) < 2 or torch.cuda.is_available():
        return
    if recipe.training.get("deepspeed"):
        import deepspeed

        deepspeed.init_distributed(dist_backend="gloo")
    elif not recipe.training.get("ddp_backend"):
        recipe.training["ddp_backend"] = "gloo"


def _end_distributed() -> None:
    """Every rank waits until rank 0 has written the metrics, then leaves the process group.

    A rank that exits while its peers still hold gloo connections can abort in native code at
    interpreter shutdown; the launcher then kills the others, and a finished run would look
    failed (or stop before metrics.json is written)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _quiet_library_warnings() -> None:
    """DeepSpeed still calls torch.distributed APIs that warn once per call, every step."""
    warnings.filterwarnings(
        "ignore", message=r"`torch\.distributed\.\w+` is deprecated", category=FutureWarning
    )


def _silent(*_: object) -> None:
    return None
