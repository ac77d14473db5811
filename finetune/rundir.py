"""The output directory: whose run it holds, and where an interrupted run resumes.

A run writes `finetune_run.json` (the settings that identify it, see `identity`) the
moment it starts. Starting again with the same recipe in the same directory resumes from the
last complete checkpoint (one cut off mid-save is skipped, see `is_complete`). A directory
holding anything else (another run, or files that are not a run) is refused unless
`overwrite_output_dir` is set: a typo in a path must not cost someone their previous model.
"""

import json
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starchat.finetune.config import Recipe
from starchat.finetune.errors import FinetuneError
from starchat.finetune.report import METRICS_FILE

RUN_FILE = "finetune_run.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_IDENTITY_TRAINING = (
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


def resume_checkpoint(recipe: Recipe) -> Path | None:
    """The checkpoint to resume from, None for a fresh start; raises for someone else's dir."""
    out = recipe.output_dir
    if recipe.run.overwrite_output_dir or not out.is_dir() or not any(out.iterdir()):
        return None
    record = out / RUN_FILE
    hint = "choose another output_dir, or pass --overwrite_output_dir true to replace it"
    if not record.is_file():
        raise FinetuneError(f"output_dir {out} is not empty and holds no finetune run; {hint}")
    try:
        stored = json.loads(record.read_text(encoding="utf-8")).get("identity", {})
    except (json.JSONDecodeError, AttributeError):
        stored = {}
    current = _jsonable(identity(recipe))
    if stored != current:
        differs = sorted(
            k for k in current.keys() | stored.keys() if stored.get(k) != current.get(k)
        )
        raise FinetuneError(
            f"output_dir {out} holds another run (it differs in {', '.join(differs)}); {hint}"
        )
    if (out / METRICS_FILE).is_file():
        raise FinetuneError(f"output_dir {out} holds this run, finished; {hint}")
    return last_complete_checkpoint(out)


def last_complete_checkpoint(out: Path) -> Path | None:
    steps = [
        (int(match.group(1)), path)
        for path in out.iterdir()
        if (match := _CHECKPOINT.match(path.name)) and is_complete(path)
    ]
    return max(steps)[1] if steps else None


def is_complete(checkpoint: Path) -> bool:
    """Rank 0 writes `trainer_state.json` last, but the other ranks write their RNG states
    on their own: a checkpoint cut off between the two would resume with other dropout."""
    if not (checkpoint / "trainer_state.json").is_file():
        return False
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1 or not any(checkpoint.glob("rng_state*.pth")):
        return True
    return all((checkpoint / f"rng_state_{rank}.pth").is_file() for rank in range(world_size))


def start_run(recipe: Recipe) -> None:
    """On the main process: clear an overwritten directory, then record this run."""
    out = recipe.output_dir
    if recipe.run.overwrite_output_dir and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "identity": _jsonable(identity(recipe)),
        "recipe": str(recipe.path),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (out / RUN_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def identity(recipe: Recipe) -> dict[str, Any]:
    """The settings that make two runs the same run (so one may resume the other)."""
    dataset = recipe.data.dataset_name or ""
    if Path(dataset).exists():
        dataset = str(Path(dataset).resolve())
    model, data = recipe.model, recipe.data
    return {
        "model_name_or_path": model.model_name_or_path,
        "use_peft": model.use_peft,
        "lora": [model.lora_r, model.lora_alpha, model.lora_target_modules],
        "dataset_name": dataset,
        "dataset_config": data.dataset_config,
        "splits": [data.dataset_train_split, data.dataset_test_split],
        "eval_fraction": data.eval_fraction,
        "english_only": data.english_only,
        "decontaminate": data.decontaminate,
        **{key: recipe.training.get(key) for key in _IDENTITY_TRAINING},
    }


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(value)))
