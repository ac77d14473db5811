"""The command line: recipes as shipped, overrides, the memory estimate, and bad input answered
with one clear line before anything heavy starts."""

import json
from pathlib import Path

import pytest
from starchat.finetune.cli import main
from starchat.finetune.config import parse_invocation

from tests.finetune.conftest import DIALOGUES, LORA_RECIPE, RECIPE, run_finetune

DEEPSPEED = RECIPE.parent / "deepspeed" / "zero3.json"


def test_starchat_alpha_recipe_is_the_reference_recipe() -> None:
    recipe = parse_invocation([str(RECIPE)]).recipe
    assert recipe.model.model_name_or_path == "bigcode/starcoderbase"
    assert recipe.data.dataset_name == "HuggingFaceH4/oasst1_en"
    t = recipe.training
    assert (t["learning_rate"], t["num_train_epochs"], t["lr_scheduler_type"]) == (
        2e-5,
        3,
        "cosine",
    )
    assert (t["warmup_steps"], t["weight_decay"], t["max_length"]) == (0.03, 0.0, 1024)
    assert (t["per_device_train_batch_size"], t["gradient_accumulation_steps"]) == (4, 8)
    assert t["bf16"] and t["activation_checkpointing"] and t["packing"]
    assert Path(t["deepspeed"]).resolve() == DEEPSPEED.resolve()


def test_deepspeed_config_is_zero3_bf16_without_a_scheduler() -> None:
    config = json.loads(DEEPSPEED.read_text(encoding="utf-8"))
    zero = config["zero_optimization"]
    assert zero["stage"] == 3 and zero["overlap_comm"] and zero["contiguous_gradients"]
    assert zero["stage3_gather_16bit_weights_on_model_save"] is True
    assert config["bf16"]["enabled"] == "auto"
    assert "scheduler" not in config and "optimizer" not in config
    for key in (
        "train_batch_size",
        "train_micro_batch_size_per_gpu",
        "gradient_accumulation_steps",
    ):
        assert config[key] == "auto"


def test_lora_recipe_targets_gpt_bigcode_modules() -> None:
    recipe = parse_invocation([str(LORA_RECIPE)]).recipe
    assert recipe.model.use_peft and recipe.model.dtype == "bfloat16"
    assert recipe.model.lora_target_modules == ["c_attn", "c_proj", "c_fc"]
    assert not recipe.training.get("deepspeed")


def test_command_line_overrides_the_file() -> None:
    recipe = parse_invocation(
        [str(RECIPE), "--learning_rate", "1e-4", "--max-steps", "7", "--english_only", "true"]
    ).recipe
    assert (recipe.training["learning_rate"], recipe.training["max_steps"]) == (1e-4, 7)
    assert recipe.data.english_only is True
    assert recipe.training["num_train_epochs"] == 3  # the rest stays the file's


def test_one_lora_target_is_one_module_name() -> None:
    recipe = parse_invocation([str(LORA_RECIPE), "--lora_target_modules", "c_attn"]).recipe
    assert recipe.model.lora_target_modules == ["c_attn"]  # not a regular expression for PEFT


def test_memory_estimate_for_starcoderbase_on_8_gpus(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(RECIPE), "--estimate-memory"]) == 0
    out = capsys.readouterr().out
    assert "15.52B parameters" in out and "from the built-in table" in out
    assert "1 node, 8 GPUs per node" in out
    assert "model states need 33.6 GB per GPU: fits" in out


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("starchat finetune:")]
    assert len(lines) == 1 and "Traceback" not in captured.err + captured.out
    assert "Loading weights" not in captured.err  # refused before any model loads
    return lines[0]


@pytest.fixture
def tiny(base_model_dir: Path, tmp_path: Path) -> list[str]:
    return [
        "--model_name_or_path", str(base_model_dir),
        "--dataset_name", str(DIALOGUES),
        "--output_dir", str(tmp_path / "out"),
        "--deepspeed", "",
    ]  # fmt: skip


def test_typo_in_recipe_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.read_text(encoding="utf-8") + "learning_rat: 1e-5\n", encoding="utf-8")
    message = _error(capsys, str(recipe))
    assert "unknown key: learning_rat (did you mean learning_rate?)" in message


def test_typo_on_command_line_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    message = _error(capsys, str(RECIPE), "--max_step", "3")
    assert "--max_step (did you mean --max_steps?)" in message


def test_actions_are_not_recipe_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.read_text(encoding="utf-8") + "estimate_memory: true\n", "utf-8")
    assert "r.yaml: unknown key: estimate_memory" in _error(capsys, str(recipe))


def test_missing_dataset_file(tiny: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    message = _error(capsys, str(RECIPE), *tiny, "--dataset_name", "data/nope.jsonl")
    assert "dataset file not found: data/nope.jsonl" in message


def test_missing_column(
    tiny: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "text.jsonl"
    path.write_text('{"text": "hello"}\n{"text": "world"}\n', encoding="utf-8")
    message = _error(capsys, str(RECIPE), *tiny, "--dataset_name", str(path))
    assert "no `messages` column (columns: text)" in message


def test_max_length_above_context(tiny: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    message = _error(capsys, str(RECIPE), *tiny, "--max_length", "4096")
    assert "max_length 4096 is above the context" in message and "2048 tokens" in message


def test_output_dir_of_another_run(
    tiny: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from starchat.finetune.rundir import start_run

    start_run(parse_invocation([str(RECIPE), *tiny, "--learning_rate", "1e-3"]).recipe)
    message = _error(capsys, str(RECIPE), *tiny)
    assert "holds another run (it differs in learning_rate)" in message
    assert "--overwrite_output_dir true" in message

    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "model.safetensors").write_bytes(b"weights")
    message = _error(capsys, str(RECIPE), *tiny, "--output_dir", str(stranger))
    assert "is not empty and holds no finetune run" in message


def test_refused_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "remove --assistant_only_loss" in _error(
        capsys, str(RECIPE), "--assistant_only_loss", "true"
    )
    assert "remove --dataset_streaming" in _error(capsys, str(RECIPE), "--dataset-streaming")
    quantized = tmp_path / "q.yaml"
    quantized.write_text(LORA_RECIPE.read_text(encoding="utf-8") + "load_in_4bit: true\n", "utf-8")
    assert "q.yaml: remove `load_in_4bit`: quantized bases" in _error(capsys, str(quantized))
    assert "'wrapped' cuts dialogues" in _error(
        capsys, str(RECIPE), "--packing_strategy", "wrapped"
    )
    scheduled = tmp_path / "ds.json"
    config = json.loads(DEEPSPEED.read_text(encoding="utf-8"))
    scheduled.write_text(json.dumps({**config, "scheduler": {"type": "WarmupLR"}}), "utf-8")
    assert "has a `scheduler` block" in _error(capsys, str(RECIPE), "--deepspeed", str(scheduled))


def test_hub_dataset_without_network_in_a_real_process(tiny: list[str]) -> None:
    done = run_finetune(str(RECIPE), *tiny, "--dataset_name", "HuggingFaceH4/oasst1_en")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("starchat finetune:")]
    assert "cannot load dataset 'HuggingFaceH4/oasst1_en'" in line and "HF_HUB_OFFLINE" in line
