"""`--estimate-memory`: DeepSpeed's ZeRO-3 estimate for the recipe's model, no weights loaded.

The parameter counts come from the architecture alone: the model is built from its config on
PyTorch's meta device (shapes without storage), with the vocabulary grown by the chat tokens
and padded as training will. The config is read from a local directory, else from a small
built-in table of the StarCoder family (so the documented 8 × 80 GB figure needs no Hub),
else from the Hugging Face cache. `estimate_total_params` and
`estimate_largest_layer_params` override all of that for any other model.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starchat.finetune.config import Recipe
from starchat.finetune.errors import FinetuneError
from starchat.prompts import STARCHAT_SPECIAL_TOKENS

if TYPE_CHECKING:
    from transformers import PretrainedConfig

_STARCODER_15B = {
    "model_type": "gpt_bigcode",
    "vocab_size": 49152,
    "n_positions": 8192,
    "n_embd": 6144,
    "n_layer": 40,
    "n_head": 48,
    "n_inner": 24576,
    "multi_query": True,
    "bos_token_id": 0,
    "eos_token_id": 0,
}
KNOWN_ARCHITECTURES = {
    "bigcode/starcoderbase": _STARCODER_15B,
    "bigcode/starcoder": _STARCODER_15B,
    "bigcode/starcoderplus": _STARCODER_15B,
    "HuggingFaceH4/starchat-alpha": {**_STARCODER_15B, "vocab_size": 49156},
    "bigcode/starcoderbase-1b": {
        **_STARCODER_15B,
        "n_embd": 2048,
        "n_layer": 24,
        "n_head": 16,
        "n_inner": 8192,
    },
}

_GB = 1024**3


@dataclass
class ModelSize:
    total: int
    largest_layer: int
    source: str
    config: "PretrainedConfig | None" = None

    def checkpointed_activations(self, rows: int, max_length: int) -> int | None:
        """Bytes kept between layers with activation checkpointing (bf16), per GPU."""
        if self.config is None:
            return None
        hidden = getattr(self.config, "n_embd", None) or getattr(self.config, "hidden_size", None)
        layers = getattr(self.config, "n_layer", None) or getattr(
            self.config, "num_hidden_layers", None
        )
        if not hidden or not layers:
            return None
        return int(rows * max_length * hidden * layers * 2)


def parameter_counts(recipe: Recipe) -> ModelSize:
    """Total and largest-layer parameters, and where the numbers came from."""
    run = recipe.run
    if run.estimate_total_params:
        largest = run.estimate_largest_layer_params
        if not largest:
            raise FinetuneError("set estimate_largest_layer_params with estimate_total_params")
        return ModelSize(int(run.estimate_total_params), int(largest), "the estimate_* settings")
    config, source = _architecture(recipe.model.model_name_or_path or "")
    multiple = recipe.model.pad_vocab_to_multiple_of
    vocab = config.vocab_size + len(STARCHAT_SPECIAL_TOKENS)
    config.vocab_size = -(-vocab // multiple) * multiple
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    total = sum(p.numel() for p in model.parameters())
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    return ModelSize(total, largest, source, config)


def estimate_memory(recipe: Recipe) -> str:
    """DeepSpeed's table for every offload choice, then the verdict for the recipe's setup."""
    import contextlib
    import io

    from deepspeed.runtime.zero.stage3 import (
        estimate_zero3_model_states_mem_needs,
        estimate_zero3_model_states_mem_needs_all_cold,
    )

    size = parameter_counts(recipe)
    total, largest = size.total, size.largest_layer
    run = recipe.run
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        estimate_zero3_model_states_mem_needs_all_cold(
            total_params=total,
            largest_layer_params=largest,
            num_gpus_per_node=run.gpus_per_node,
            num_nodes=run.num_nodes,
        )
    _, per_gpu, _ = estimate_zero3_model_states_mem_needs(
        total,
        largest,
        run.gpus_per_node,
        run.num_nodes,
        cpu_offload=False,
        cpu_offload_params=False,
    )
    gpus = run.gpus_per_node * run.num_nodes
    headroom = run.gpu_memory_gb - per_gpu / _GB
    verdict = (
        f"fits, leaving {headroom:.1f} GB per GPU for activations, buffers and the CUDA context"
        if headroom > 0
        else "does not fit: use more GPUs, or offload (offload_optimizer / offload_param)"
    )
    rows = int(recipe.training.get("per_device_train_batch_size", 1))
    activations = size.checkpointed_activations(rows, recipe.max_length)
    lines = [
        f"model: {recipe.model.model_name_or_path} — {total / 1e9:.2f}B parameters, largest "
        f"layer {largest / 1e6:.0f}M (from {size.source})",
        table.getvalue().rstrip().replace("OffloadDeviceEnum.", ""),
        "",
        f"recipe setup (ZeRO-3, no offload, {gpus} × {run.gpu_memory_gb:g} GB): model states "
        f"need {per_gpu / _GB:.1f} GB per GPU: {verdict}.",
    ]
    if activations is not None:
        lines.append(
            f"activations on top (checkpointed, bf16, {rows} × {recipe.max_length} tokens per "
            f"GPU): about {activations / _GB:.1f} GB, plus one layer's recomputation."
        )
    return "\n".join(lines)


def _architecture(name: str) -> tuple["PretrainedConfig", str]:
    from pathlib import Path

    from transformers import AutoConfig

    if (Path(name) / "config.json").is_file():
        return AutoConfig.from_pretrained(name), f"{name}/config.json"
    if name in KNOWN_ARCHITECTURES:
        values = dict(KNOWN_ARCHITECTURES[name])
        model_type = str(values.pop("model_type"))
        return AutoConfig.for_model(model_type, **values), "the built-in table"
    try:
        return AutoConfig.from_pretrained(name, local_files_only=True), "the Hugging Face cache"
    except (OSError, ValueError):
        raise FinetuneError(
            f"the architecture of {name!r} is not known here (not a local directory, not in the "
            "built-in table, not cached); set estimate_total_params and "
            "estimate_largest_layer_params"
        ) from None
