"""A recipe: TRL's settings, read by TRL's parser from a YAML file and the command line.

`starchat finetune RECIPE.yaml --field value …` is TRL's `TrlParser.parse_args_and_config`
with the recipe as its `--config`: the YAML sets the defaults, the command line overrides
them, and TRL's `env:` mapping sets environment variables. The fields are TRL's
`ModelConfig`, `ScriptArguments` and `SFTConfig` (itself Transformers' `TrainingArguments`),
the first two subclassed for the few fields this project adds, plus `RunArguments` for what
happens around training. So a TRL or alignment-handbook recipe reads the same here.

What the parser leaves open is checked right after it, before anything heavy starts: an
unknown key or option is an error that names it (and the closest known one), and a field
this package sets itself, or does not support, is refused with the reason.
"""

import difflib
import json
from dataclasses import Field, dataclass, field, fields, make_dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starchat.finetune.errors import FinetuneError
from trl import ModelConfig, ScriptArguments, TrlParser

if TYPE_CHECKING:
    from trl import SFTConfig

DEFAULT_LORA_TARGETS = ["c_attn", "c_proj", "c_fc"]


@dataclass
class ModelArguments(ModelConfig):
    """TRL's model settings, with StarCoder's attention kernel and LoRA targets as defaults."""

    attn_implementation: str | None = field(
        default="sdpa",
        metadata={
            "help": "Attention kernel: sdpa, or flash_attention_2 on GPUs that have it. Both keep "
            "packed dialogues apart through the restarting position ids."
        },
    )
    lora_target_modules: list[str] | None = field(
        default_factory=lambda: list(DEFAULT_LORA_TARGETS),
        metadata={"help": "Modules that get adapters; gpt_bigcode: c_attn, c_proj, c_fc."},
    )
    pad_vocab_to_multiple_of: int = field(
        default=64,
        metadata={"help": "Resize the embeddings (with the chat tokens) to a multiple of this."},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        # TRL passes a one-item list on as a string, for PEFT's "all-linear"; any other string
        # is a regular expression over whole module paths to PEFT, where "c_attn" finds nothing.
        targets = self.lora_target_modules
        if isinstance(targets, str) and targets != "all-linear":
            self.lora_target_modules = [targets]


@dataclass
class DataArguments(ScriptArguments):
    """TRL's dataset settings, and how the dialogues are cleaned and split."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A Hub dataset id, or a local .json/.jsonl/.parquet file, with a `messages` "
            "column ([{role, content}]) or ShareGPT `conversations` ([{from, value}])."
        },
    )
    eval_fraction: float = field(
        default=0.05,
        metadata={"help": "Share of dialogues held out for eval when there is no test split."},
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


# TRL fields this package sets itself or does not support; setting one is refused with why.
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
    "model_revision": "give the directory of a downloaded revision as model_name_or_path",
    "load_in_8bit": "quantized bases are not supported: the output is a full model",
    "load_in_4bit": "quantized bases are not supported: the output is a full model",
    "dataset_streaming": "dialogues are validated, filtered and split in memory",
    "ignore_bias_buffers": "a DDP workaround of TRL's preference scripts, not needed here",
}

# Paths in a recipe file are relative to the recipe's folder (command-line paths to the cwd).
_RECIPE_RELATIVE = ("deepspeed",)

_DEFAULTS: dict[str, Any] = {
    "activation_checkpointing": True,
    "packing": True,
    "packing_strategy": "bfd",
    "report_to": ["tensorboard"],
}

_ACTIONS = {"--dump-examples": "dump_examples", "--estimate-memory": "estimate_memory"}


@cache
def training_arguments() -> type:
    """`SFTConfig`'s fields without its `__post_init__`, which sets up devices and the
    distributed state: that must wait until the launcher's ranks are set up for DeepSpeed
    (see `train._init_distributed`), and never happen for a refused recipe,
    `--estimate-memory` or `--dump-examples`. `Recipe.sft_config` builds the real one."""
    from trl import SFTConfig

    def copy(source: Field[Any]) -> Any:
        return field(
            default=source.default,
            default_factory=source.default_factory,
            metadata=source.metadata,
        )

    return make_dataclass(
        "TrainingArguments", [(f.name, f.type, copy(f)) for f in fields(SFTConfig) if f.init]
    )


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


def build_parser() -> TrlParser:
    """TRL's parser over every settings class, plus the two actions."""
    classes: list[Any] = [ModelArguments, DataArguments, RunArguments, training_arguments()]
    parser = TrlParser(
        classes,
        prog="starchat finetune",
        usage="starchat finetune RECIPE.yaml [--field value ...]",
        allow_abbrev=False,  # a typo such as --max_step must not pass as --max_steps
        description="Fine-tune a StarCoder-family model on dialogues (StarChat-alpha recipe). "
        "Settings come from RECIPE.yaml (e.g. finetune/recipes/starchat-alpha.yaml); "
        "--field value overrides it.",
    )
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
    parser.set_defaults(**_DEFAULTS)
    return parser


@dataclass
class Invocation:
    recipe: Recipe
    dump_examples: tuple[int, Path] | None
    estimate_memory: bool


def parse_invocation(argv: list[str]) -> Invocation:
    """Read the recipe file and the command line into a validated `Recipe`."""
    import yaml

    path = _recipe_path(argv)
    parser = build_parser()
    try:
        *settings, actions, from_file, from_command_line = parser.parse_args_and_config(
            ["--config", str(path), *argv[1:]],
            return_remaining_strings=True,
            separate_remaining_strings=True,
        )
    except yaml.YAMLError as error:
        raise FinetuneError(f"{path}: not valid YAML: {error}") from None
    except ValueError as error:  # TRL's own checks (a mapping, `env:`, LoRA/quantization)
        raise FinetuneError(str(error)) from None
    known = {f.name for cls in parser.dataclass_types for f in fields(cls)}
    keys = [key.removeprefix("--") for key in from_file[::2]]
    # TRL's parser takes the two actions from the file too; they stay command-line options.
    keys += [dest for flag, dest in _ACTIONS.items() if getattr(actions, dest) and flag not in argv]
    _refuse_unknown(path.name, keys, from_command_line, known)
    _refuse_managed(path.name, settings, argv)
    model, data, run, training = settings
    values = {f.name: getattr(training, f.name) for f in fields(training)}
    recipe = Recipe(path, model, data, run, {k: v for k, v in values.items() if k not in MANAGED})
    _resolve_recipe_paths(recipe, argv)
    validate(recipe)
    return Invocation(recipe, _dump_examples(actions.dump_examples), actions.estimate_memory)


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
    if recipe.training.get("deepspeed"):
        _validate_deepspeed(recipe)


def _validate_deepspeed(recipe: Recipe) -> None:
    deepspeed = recipe.training["deepspeed"]
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
    path = Path(argv[0])
    if not path.is_file():
        raise FinetuneError(f"recipe not found: {path}")
    return path


def _refuse_unknown(recipe_name: str, keys: list[str], options: list[str], known: set[str]) -> None:
    """Keys of the file and options of the command line that no settings class has."""
    if keys:
        raise FinetuneError(_unknown_message(recipe_name, keys, known, noun="key"))
    if options:
        flags = [item for item in options if item.startswith("--")] or options
        names = {f"--{name}" for name in known} | set(_ACTIONS)
        raise FinetuneError(_unknown_message("command line", flags, names, noun="option"))


def _refuse_managed(recipe_name: str, settings: list[Any], argv: list[str]) -> None:
    for group in settings:
        defaults = type(group)()
        for name in (f.name for f in fields(group) if f.name in MANAGED):
            if getattr(group, name) != getattr(defaults, name):
                if _on_command_line(name, argv):
                    raise FinetuneError(f"remove --{name}: {MANAGED[name]}")
                raise FinetuneError(f"{recipe_name}: remove `{name}`: {MANAGED[name]}")


def _resolve_recipe_paths(recipe: Recipe, argv: list[str]) -> None:
    for key in _RECIPE_RELATIVE:
        value = recipe.training.get(key)
        if isinstance(value, str) and value and not _on_command_line(key, argv):
            candidate = recipe.path.parent / value
            if not Path(value).is_absolute() and candidate.exists():
                recipe.training[key] = str(candidate)


def _dump_examples(value: list[str] | None) -> tuple[int, Path] | None:
    if not value:
        return None
    count, target = value
    if not count.isdigit() or int(count) < 1:
        raise FinetuneError(f"--dump-examples N FILE: N must be a positive count, not {count!r}")
    return int(count), Path(target)


def _on_command_line(name: str, argv: list[str]) -> bool:
    flags = {f"--{name}", f"--{name.replace('_', '-')}"}  # TRL's parser takes both spellings
    return any(arg.split("=", 1)[0] in flags for arg in argv)


def _unknown_message(where: str, unknown: list[str], known: set[str], noun: str) -> str:
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
        parts.append(f"{key} (did you mean {close[0]}?)" if close else key)
    plural = "" if len(unknown) == 1 else "s"
    return f"{where}: unknown {noun}{plural}: {', '.join(parts)}"
