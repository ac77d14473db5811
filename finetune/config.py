"""A recipe: typed settings read from a YAML file, overridden by `--field value` arguments.

The fields are TRL's `SFTConfig` (itself Transformers' `TrainingArguments`) plus three small
dataclasses for what TRL leaves to the script: the model, the data and the run. Field names
follow TRL's (`model_name_or_path`, `dataset_name`, `max_length`, …) so a TRL or
alignment-handbook recipe reads the same here. Every key is checked before anything heavy
starts: an unknown key is an error that names it (and the closest known one).
"""

import difflib
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starchat.finetune.errors import FinetuneError

if TYPE_CHECKING:
    from transformers import HfArgumentParser
    from trl import SFTConfig

DEFAULT_LORA_TARGETS = ["c_attn", "c_proj", "c_fc"]


@dataclass
class ModelArguments:
    """Which model to start from and how to adapt it (full fine-tuning or LoRA)."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Base model: a Hugging Face Hub id or a local directory."},
    )
    dtype: str = field(
        default="float32",
        metadata={
            "help": "dtype the weights are loaded in. float32 for full fine-tuning (mixed "
            "precision and DeepSpeed keep fp32 master weights); bfloat16 for a frozen LoRA base.",
            "choices": ["float32", "bfloat16", "float16"],
        },
    )
    attn_implementation: str = field(
        default="sdpa",
        metadata={
            "help": "Attention kernel: sdpa, or flash_attention_2 on GPUs that have it. Both keep "
            "packed dialogues apart through the restarting position ids."
        },
    )
    pad_vocab_to_multiple_of: int = field(
        default=64,
        metadata={"help": "Resize the embeddings (with the chat tokens) to a multiple of this."},
    )
    use_peft: bool = field(
        default=False,
        metadata={"help": "Train LoRA adapters, not all weights (one GPU; merged at the end)."},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA branch."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: list(DEFAULT_LORA_TARGETS),
        metadata={"help": "Modules that get adapters; gpt_bigcode: c_attn, c_proj, c_fc."},
    )


@dataclass
class DataArguments:
    """Which dialogues to train on and how they are cleaned."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A Hub dataset id, or a local .json/.jsonl/.parquet file, with a `messages` "
            "column ([{role, content}]) or ShareGPT `conversations` ([{from, value}])."
        },
    )
    dataset_config: str | None = field(
        default=None, metadata={"help": "Hub dataset configuration name, if it has several."}
    )
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on."})
    dataset_test_split: str = field(
        default="test",
        metadata={"help": "Split to evaluate on; when absent, eval_fraction is held out instead."},
    )
    eval_fraction: float = field(
        default=0.05,
        metadata={"help": "Share of dialogues held out for evaluation without a test split."},
    )
    english_only: bool = field(
        default=False,
        metadata={"help": "Drop dialogues whose user turns do not read as English (a heuristic)."},
    )
    decontaminate: bool = field(
        default=True,
        metadata={"help": "Drop dialogues that quote HumanEval prompts or canonical solutions."},
    )


@dataclass
class RunArguments:
    """What happens around training: the output directory's fate, the closing sample, sizing."""

    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Start afresh in an output_dir holding another run (deletes it)."},
    )
    sample_prompt: str = field(
        default="Write a Python function that checks whether a number is prime.",
        metadata={"help": "Asked of the trained model at the end (all ranks); '' skips it."},
    )
    sample_max_new_tokens: int = field(default=128, metadata={"help": "Length of that sample."})
    gpus_per_node: int = field(default=8, metadata={"help": "GPUs per node (--estimate-memory)."})
    num_nodes: int = field(default=1, metadata={"help": "Nodes (--estimate-memory)."})
    gpu_memory_gb: float = field(default=80.0, metadata={"help": "GB per GPU (--estimate-memory)."})
    estimate_total_params: float | None = field(
        default=None,
        metadata={"help": "Parameter count for --estimate-memory of a model not known here."},
    )
    estimate_largest_layer_params: float | None = field(
        default=None,
        metadata={"help": "Largest single layer's parameters, with estimate_total_params."},
    )


# SFTConfig fields this package sets itself; a recipe that sets them gets told why.
MANAGED = {
    "assistant_only_loss": "labels come from the chat template's generation markers, always",
    "completion_only_loss": "labels come from the chat template's generation markers, always",
    "dataset_text_field": "dialogues are read from `messages` or `conversations`",
    "chat_template_path": "the chat template is prompts/starchat.jinja, the one the server uses",
    "eos_token": "the turn end is <|end|>, from the chat template",
    "pad_token": "the tokenizer's pad token is used",
    "padding_free": "packing with packing_strategy bfd is padding-free already",
    "dataset_kwargs": "the dataset is prepared by starchat finetune",
    "model_init_kwargs": "use dtype and attn_implementation",
}

# Paths in a recipe file are relative to the recipe's folder (command-line paths to the cwd).
_RECIPE_RELATIVE = ("deepspeed",)

_DEFAULTS: dict[str, Any] = {
    "activation_checkpointing": True,
    "packing": True,
    "packing_strategy": "bfd",
    "report_to": ["tensorboard"],
}

_ARGUMENT_CLASSES = (ModelArguments, DataArguments, RunArguments)


@dataclass
class Recipe:
    """Everything a run needs, validated; `training` becomes TRL's SFTConfig on demand."""

    path: Path
    model: ModelArguments
    data: DataArguments
    run: RunArguments
    training: dict[str, Any]

    @property
    def output_dir(self) -> Path:
        return Path(self.training["output_dir"])

    @property
    def max_length(self) -> int:
        return int(self.training["max_length"])

    def deepspeed_config(self) -> dict[str, Any] | None:
        value = self.training.get("deepspeed")
        if not value:
            return None
        if isinstance(value, dict):
            return value
        return dict(json.loads(Path(value).read_text(encoding="utf-8")))

    def zero_stage(self) -> int:
        config = self.deepspeed_config() or {}
        return int(config.get("zero_optimization", {}).get("stage", 0))

    def identity(self) -> dict[str, Any]:
        """The settings that make two runs the same run (so one may resume the other)."""
        keys = (
            "seed",
            "data_seed",
            "max_length",
            "packing",
            "packing_strategy",
            "learning_rate",
            "lr_scheduler_type",
            "warmup_steps",
            "weight_decay",
            "num_train_epochs",
            "max_steps",
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
        )
        dataset = self.data.dataset_name or ""
        if Path(dataset).exists():
            dataset = str(Path(dataset).resolve())
        return {
            "model_name_or_path": self.model.model_name_or_path,
            "use_peft": self.model.use_peft,
            "lora": [self.model.lora_r, self.model.lora_alpha, self.model.lora_target_modules],
            "dataset_name": dataset,
            "dataset_config": self.data.dataset_config,
            "splits": [self.data.dataset_train_split, self.data.dataset_test_split],
            "eval_fraction": self.data.eval_fraction,
            "english_only": self.data.english_only,
            "decontaminate": self.data.decontaminate,
            **{key: self.training.get(key) for key in keys},
        }

    def sft_config(self) -> "SFTConfig":
        """TRL's config; on a machine without a GPU it trains in float32 on the CPU."""
        import torch
        from trl import SFTConfig

        values = dict(self.training)
        # Dialogues reach the trainer packed already (see packing.py), with the collator for
        # the attention kernel; TRL must not pack (or flatten) them again.
        values["packing"] = False
        if not torch.cuda.is_available():
            values.update(use_cpu=True, bf16=False, fp16=False, tf32=False)
        try:
            return SFTConfig(**values)
        except (ValueError, TypeError) as error:
            raise FinetuneError(f"invalid training setting: {error}") from None


def build_parser() -> "HfArgumentParser":
    """The argument parser: every field of every settings class, plus the actions."""
    from transformers import HfArgumentParser
    from trl import SFTConfig

    parser = HfArgumentParser(
        [*_ARGUMENT_CLASSES, SFTConfig],  # type: ignore[list-item]
        prog="starchat finetune",
        allow_abbrev=False,  # a typo such as --max_step must not pass as --max_steps
        description="Fine-tune a StarCoder-family model on dialogues (StarChat-alpha recipe). "
        "Settings come from RECIPE.yaml; --field value overrides it.",
    )
    parser.add_argument("recipe", help="the YAML recipe, e.g. finetune/recipes/starchat-alpha.yaml")
    parser.add_argument(
        "--dump-examples",
        nargs=2,
        metavar=("N", "FILE"),
        help="write N training batches, as the trainer sees them, to FILE (JSON lines) and exit",
    )
    parser.add_argument(
        "--estimate-memory",
        action="store_true",
        help="print DeepSpeed's ZeRO-3 memory estimate for the recipe's model and GPUs and exit",
    )
    return parser


@dataclass
class Invocation:
    recipe: Recipe
    dump_examples: tuple[int, Path] | None
    estimate_memory: bool


def parse_invocation(argv: list[str]) -> Invocation:
    """Read the recipe file and the command line into a validated `Recipe`."""
    recipe_path = _recipe_path(argv)
    values = read_recipe_file(recipe_path)
    parser = build_parser()
    known = {f.name for cls in parser.dataclass_types for f in fields(cls)}
    unknown = [key for key in values if key not in known]
    if unknown:
        raise FinetuneError(_unknown_message(recipe_path.name, unknown, known, noun="key"))
    managed = [key for key in values if key in MANAGED]
    if managed:
        key = managed[0]
        raise FinetuneError(f"{recipe_path.name}: remove `{key}`: {MANAGED[key]}")
    for action in parser._actions:
        if action.dest in values:
            action.required = False
    parser.set_defaults(**{**_DEFAULTS, **values})
    namespace, rest = parser.parse_known_args(argv)
    if rest:
        options = [item for item in rest if item.startswith("--")] or rest
        names = {f"--{name}" for name in known} | {"--dump-examples", "--estimate-memory"}
        raise FinetuneError(_unknown_message("command line", options, names, noun="option"))
    given = vars(namespace)
    overridden = [key for key in MANAGED if given.get(key) != _field_default(parser, key)]
    if overridden:
        key = overridden[0]
        raise FinetuneError(f"remove --{key}: {MANAGED[key]}")

    def pick(cls: type) -> dict[str, Any]:
        return {f.name: given[f.name] for f in fields(cls) if f.name in given}

    from trl import SFTConfig

    training = {k: v for k, v in pick(SFTConfig).items() if k not in MANAGED}
    recipe = Recipe(
        path=recipe_path,
        model=ModelArguments(**pick(ModelArguments)),
        data=DataArguments(**pick(DataArguments)),
        run=RunArguments(**pick(RunArguments)),
        training=training,
    )
    validate(recipe)
    dump = None
    if namespace.dump_examples:
        count, target = namespace.dump_examples
        if not count.isdigit() or int(count) < 1:
            raise FinetuneError(
                f"--dump-examples N FILE: N must be a positive count, not {count!r}"
            )
        dump = (int(count), Path(target))
    return Invocation(recipe, dump, bool(namespace.estimate_memory))


def read_recipe_file(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise FinetuneError(f"recipe not found: {path}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise FinetuneError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise FinetuneError(f"{path}: a recipe is a mapping of field: value")
    for key in _RECIPE_RELATIVE:
        value = values.get(key)
        if isinstance(value, str) and not os.path.isabs(value):
            candidate = path.parent / value
            if candidate.exists():
                values[key] = str(candidate)
    return values


def validate(recipe: Recipe) -> None:
    """Checks that need no model, no data and no GPU."""
    required = {
        "model_name_or_path": recipe.model.model_name_or_path,
        "dataset_name": recipe.data.dataset_name,
        "output_dir": recipe.training.get("output_dir"),
        "max_length": recipe.training.get("max_length"),
    }
    missing = [name for name, value in required.items() if value in (None, "")]
    if missing:
        raise FinetuneError(f"{recipe.path.name}: set {', '.join(missing)}")
    if recipe.max_length < 16:
        raise FinetuneError(f"max_length must be at least 16, not {recipe.max_length}")
    if not 0 <= recipe.data.eval_fraction < 1:
        raise FinetuneError(f"eval_fraction must be in [0, 1), not {recipe.data.eval_fraction}")
    strategy = recipe.training.get("packing_strategy")
    if recipe.training.get("packing") and strategy not in ("bfd", "bfd_split"):
        raise FinetuneError(
            f"packing_strategy {strategy!r} is not supported: 'wrapped' cuts dialogues and lets "
            "them attend to each other; use bfd (truncate long dialogues) or bfd_split"
        )
    if recipe.model.pad_vocab_to_multiple_of < 1:
        raise FinetuneError("pad_vocab_to_multiple_of must be a positive number")
    deepspeed = recipe.training.get("deepspeed")
    if deepspeed:
        if isinstance(deepspeed, str) and not Path(deepspeed).is_file():
            raise FinetuneError(f"DeepSpeed config not found: {deepspeed}")
        try:
            config = recipe.deepspeed_config() or {}
        except json.JSONDecodeError as error:
            raise FinetuneError(f"DeepSpeed config {deepspeed}: not valid JSON: {error}") from None
        if "scheduler" in config:
            raise FinetuneError(
                f"DeepSpeed config {deepspeed} has a `scheduler` block: it would silently replace "
                "the recipe's lr_scheduler_type; remove it and set the schedule in the recipe"
            )
        if recipe.model.use_peft and recipe.zero_stage() == 3:
            raise FinetuneError(
                "use_peft with DeepSpeed ZeRO-3 is not supported: LoRA is the one-GPU recipe; "
                "drop `deepspeed` (or use_peft)"
            )


def _recipe_path(argv: list[str]) -> Path:
    if "-h" in argv or "--help" in argv:
        build_parser().print_help()
        raise SystemExit(0)
    if not argv or argv[0].startswith("-"):
        raise FinetuneError("usage: starchat finetune RECIPE.yaml [--field value ...]")
    return Path(argv[0])


def _field_default(parser: "HfArgumentParser", name: str) -> Any:
    return next((a.default for a in parser._actions if a.dest == name), None)


def _unknown_message(where: str, unknown: list[str], known: set[str], noun: str) -> str:
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
        parts.append(f"{key} (did you mean {close[0]}?)" if close else key)
    plural = "" if len(unknown) == 1 else "s"
    return f"{where}: unknown {noun}{plural}: {', '.join(parts)}"
