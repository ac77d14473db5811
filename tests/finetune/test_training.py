"""The starchat-alpha recipe end to end: 2 CPU ranks under DeepSpeed ZeRO-3 through torchrun,
an interrupted run resumed, and the one-process LoRA recipe. The output must serve as is."""

import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from starchat.prompts import Message

from tests.finetune.conftest import (
    LORA_RECIPE,
    RECIPE,
    REPO,
    TINY_RUN,
    failure,
    finetune_command,
    finetune_env,
    run_finetune,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zero3_run(base_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted 2-rank ZeRO-3 run of the real recipe file, scaled down."""
    out = tmp_path_factory.mktemp("zero3") / "run"
    done = run_finetune(
        str(RECIPE),
        "--model_name_or_path", str(base_model_dir),
        "--output_dir", str(out),
        *TINY_RUN,
        ranks=2,
    )  # fmt: skip
    assert done.returncode == 0, failure(done)
    (out / "stdout.txt").write_text(done.stdout, encoding="utf-8")
    return out


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text(encoding="utf-8"))


def _losses(out: Path) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in _metrics(out)["log_history"] if "loss" in e}


def test_zero3_run_trains_on_two_ranks(zero3_run: Path, base_model_dir: Path) -> None:
    from safetensors.torch import load_file

    metrics = _metrics(zero3_run)
    assert (metrics["world_size"], metrics["deepspeed_zero_stage"]) == (2, 3)
    assert metrics["global_step"] == 10
    losses = _losses(zero3_run)
    assert sorted(losses) == list(range(1, 11))
    assert losses[10] < losses[1] - 0.2, losses
    # The Trainer's cosine schedule ran under DeepSpeed (no DS scheduler replaced it): one
    # warmup step (3 % of 10, rounded up), then lr·½(1+cos(π·t/9)) down to the last step.
    rates = {e["step"]: e["learning_rate"] for e in metrics["log_history"] if "loss" in e}
    for step in range(2, 11):
        cosine = 3e-3 * 0.5 * (1 + math.cos(math.pi * (step - 2) / 9))
        assert rates[step] == pytest.approx(cosine, rel=1e-5), step
    assert metrics["eval"]["eval_loss"] > 0
    assert metrics["eval"]["perplexity"] == pytest.approx(
        2.718281828 ** metrics["eval"]["eval_loss"]
    )

    before = load_file(base_model_dir / "model.safetensors")
    after = load_file(zero3_run / "model.safetensors")
    name = "transformer.h.0.mlp.c_fc.weight"
    assert before[name].shape == after[name].shape
    assert (before[name] - after[name]).abs().max() > 1e-3
    # Four chat tokens added to 400, then padded to a multiple of 64.
    assert after["transformer.wte.weight"].shape[0] == 448


def test_run_reports_data_packing_and_sample(zero3_run: Path) -> None:
    out = (zero3_run / "stdout.txt").read_text(encoding="utf-8")
    assert "53 rows read, 41 kept" in out
    assert "1  quotes HumanEval (decontamination)" in out
    assert "packing: 41 dialogues in" in out and "efficiency" in out
    assert "sample — assistant:" in out
    metrics = _metrics(zero3_run)
    assert metrics["data"]["train"]["dropped"]["wrong turn order"] == 2
    assert 0.5 < metrics["packing"]["efficiency"] <= 1
    assert metrics["sample"]["prompt"] and isinstance(metrics["sample"]["answer"], str)
    assert metrics["train_tokens_per_second"] > 0


def test_run_leaves_curve_tensorboard_and_checkpoints(zero3_run: Path) -> None:
    assert (zero3_run / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(zero3_run.glob("runs/*/events.out.tfevents.*"))
    assert (zero3_run / "checkpoint-10" / "trainer_state.json").is_file()


def test_output_is_a_starchat_model(zero3_run: Path) -> None:
    from starchat.prompts import STARCHAT_TEMPLATE
    from transformers import AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(zero3_run)
    end = tokenizer.convert_tokens_to_ids("<|end|>")
    ids = [tokenizer.convert_tokens_to_ids(t) for t in ("<|system|>", "<|user|>", "<|assistant|>")]
    assert all(isinstance(i, int) and i >= 400 for i in [*ids, end])
    assert tokenizer.chat_template == STARCHAT_TEMPLATE
    generation = GenerationConfig.from_pretrained(zero3_run)
    assert generation.eos_token_id[0] == end
    assert (generation.temperature, generation.top_p, generation.top_k) == (0.2, 0.95, 50)


def test_trained_model_ends_its_answer_with_end_token(zero3_run: Path) -> None:
    """Sampled answers of the trained model end on <|end|>, and generation stops there."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(zero3_run)
    model = AutoModelForCausalLM.from_pretrained(zero3_run)
    end = tokenizer.convert_tokens_to_ids("<|end|>")
    prompt: Any = tokenizer.apply_chat_template(
        [{"role": "user", "content": "How do I reverse a list in Python?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    endings = []
    for seed in range(8):  # sampled, seeded: stop at the first answer that ends
        torch.manual_seed(seed)
        out = model.generate(**prompt, temperature=1.0, max_new_tokens=120)
        answer = out[0, prompt["input_ids"].shape[1] :].tolist()
        endings.append(answer[-1] if len(answer) < 120 else None)
        if endings[-1] is not None:
            break
    assert endings[-1] == end, endings


async def test_engine_serves_the_output_and_stops_at_end(zero3_run: Path) -> None:
    from starchat.engine import (
        Chunk,
        EngineSettings,
        GenerationRequest,
        Sampling,
        Usage,
        create_engine,
    )

    engine = create_engine(EngineSettings(model=str(zero3_run)))
    await engine.load()
    question: list[Message] = [{"role": "user", "content": "How do I reverse a list in Python?"}]
    assert engine.render_prompt(question).endswith(
        "<|user|>\nHow do I reverse a list in Python?<|end|>\n<|assistant|>"
    )
    finishes = []
    for seed in range(8):
        request = GenerationRequest(
            question, Sampling(max_new_tokens=120, temperature=1.0), seed=seed
        )
        text, usage = "", None
        async for item in engine.generate(request):
            if isinstance(item, Chunk):
                text += item.text
            elif isinstance(item, Usage):
                usage = item
        assert usage is not None and "<|end|>" not in text
        finishes.append(usage.finish_reason)
    await engine.close()
    assert "stop" in finishes, finishes


def test_finished_run_is_not_run_again(zero3_run: Path, base_model_dir: Path) -> None:
    done = run_finetune(
        str(RECIPE),
        "--model_name_or_path", str(base_model_dir),
        "--output_dir", str(zero3_run),
        *TINY_RUN,
    )  # fmt: skip
    assert done.returncode == 1 and "holds this run, finished" in done.stderr


def test_interrupted_run_resumes_with_the_same_data_order(
    zero3_run: Path, base_model_dir: Path, tmp_path: Path
) -> None:
    """Kill a ZeRO-3 run after its first checkpoint; the same command resumes and ends on the
    same step with the same per-step losses as the uninterrupted run (same batches, same state)."""
    out = tmp_path / "run"
    args = [
        str(RECIPE),
        "--model_name_or_path", str(base_model_dir),
        "--output_dir", str(out),
        *TINY_RUN,
    ]  # fmt: skip
    process = subprocess.Popen(
        finetune_command(*args, ranks=2),
        env=finetune_env(),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while not _complete_checkpoint(out):
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    for rank in _children(process.pid):  # a crash: every rank dies at once, no clean-up
        os.kill(rank, signal.SIGKILL)
    process.wait(timeout=60)
    assert not (out / "metrics.json").exists(), "the run finished before the kill"

    resumed = run_finetune(*args, ranks=2)
    assert resumed.returncode == 0, failure(resumed)
    assert "resuming from" in resumed.stdout
    metrics = _metrics(out)
    start = int(metrics["resumed_from"].split("-")[1])
    assert metrics["global_step"] == 10 and 2 <= start < 10
    reference, after = (
        _losses(zero3_run),
        _losses(out),
    )  # steps up to `start` come from the checkpoint
    assert sorted(after) == list(range(1, 11))
    for step, loss in after.items():
        assert loss == pytest.approx(reference[step], rel=1e-4), step


def _complete_checkpoint(out: Path) -> bool:
    return any(
        (c / "trainer_state.json").is_file() and len(list(c.glob("rng_state_*.pth"))) == 2
        for c in out.glob("checkpoint-*")
    )


def _children(pid: int) -> list[int]:
    """The worker processes torchrun started (they run in sessions of their own)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_lora_recipe_runs_on_one_process(base_model_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    out = tmp_path / "lora"
    done = run_finetune(
        str(LORA_RECIPE),
        "--model_name_or_path", str(base_model_dir),
        "--output_dir", str(out),
        "--dtype", "float32",
        *TINY_RUN,
        "--max_steps", "4",
    )  # fmt: skip
    assert done.returncode == 0, failure(done)
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text(encoding="utf-8"))
    assert set(adapter["target_modules"]) == {"c_attn", "c_proj", "c_fc"}
    assert adapter["modules_to_save"] == ["wte"]  # the new chat tokens' rows train
    merged = load_file(out / "model.safetensors")
    assert not any("lora" in name for name in merged)
    losses = _losses(out)
    assert losses[4] < losses[1]
    assert _metrics(out)["world_size"] == 1
