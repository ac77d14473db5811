"""bench/gpu.py keeps working without a GPU: its --tiny run (CPU, a 2-layer model) goes
through every section's code, and its helpers give the figures the GPU run relies on."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "gpu.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tiny_run_reports_every_row_with_a_number() -> None:
    # Nominal bandwidth and peak, so the share arithmetic runs too (a CPU has neither).
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--bandwidth-tbs", "0.02", "--peak-tflops", "0.1"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    sections = [r["section"] for r in result["rows"]]
    assert sections == ["engine"] * 5 + ["decode"] * 6 + ["prefill", "train"]

    # The server's own engine on the device: every path ran, with the same greedy text.
    engine = {row["name"]: row for row in result["rows"] if row["section"] == "engine"}
    assert engine.pop("compiled decoding (compile: true)")["note"].startswith("unsupported")
    for name, row in engine.items():
        assert isinstance(row["value"], float) and row["value"] > 0, (name, row)
    assert "(76 characters): True" in engine["chat answer, prompt lookup"]["note"]
    follow_up = engine["follow-up, keys and values kept"]
    assert follow_up["figures"]["cached_tokens"] > 800 and "same text: True" in follow_up["note"]
    assert "still streaming after them: True" in engine["completion beside a chat answer"]["note"]
    rows = {row["name"]: row for row in result["rows"] if row["section"] != "engine"}

    static = rows.pop("static cache + torch.compile")
    assert static["value"] is not None or static["note"].startswith("unsupported"), static
    if static["value"] is not None:
        assert static["figures"]["graphs"] == 1  # compiled once: no recompilation per token
    for name, row in rows.items():
        assert isinstance(row["value"], float) and row["value"] > 0, name
        if not name.startswith("bandwidth bound"):
            assert isinstance(row["share"], float) and row["share"] > 0, name

    copy = rows["prompt lookup (10 tokens), edit copies the block"]["figures"]
    nothing = rows["prompt lookup (10 tokens), nothing to copy"]["figures"]
    assert copy["tokens_per_forward"] > 3  # drafts from the prompt were accepted
    assert nothing["tokens_per_forward"] == pytest.approx(1.0)  # and here none were
    assert rows["prompt lookup ceiling: all 10 drafts accepted"]["figures"]["verify_cost_ratio"] > 0
    train = rows["ZeRO-3 training (starchat-alpha recipe settings)"]
    assert 0 < train["share"] < train["figures"]["hfu"]

    assert all(line.startswith("|") for line in lines[:-1])  # nothing else on stdout
    table = [line for line in lines[:-1] if "---" not in line]
    assert len(table) == 1 + len(result["rows"])  # the header, then one line per row
    for line in table[1:]:
        value = line.split(" | ")[2]
        assert value[0].isdigit() or "unsupported" in line, line
    assert "[" in done.stderr and "decode: done" in done.stderr  # timestamped progress


def test_gpu_limits_by_device_name() -> None:
    limits = _bench().gpu_limits
    assert limits("NVIDIA H100 80GB HBM3") == (3.35, 989)
    assert limits("NVIDIA H100 PCIe") == (2.0, 756)
    assert limits("NVIDIA H200") == (4.8, 989)
    assert limits("NVIDIA A100-SXM4-80GB") == (2.0, 312)
    assert limits("NVIDIA A100-SXM4-40GB") == (1.555, 312)
    assert limits("NVIDIA L40S") == (0.864, 362)
    assert limits("NVIDIA GH200 480GB") == (None, None)  # two memory versions: use the flags
    assert limits("NVIDIA GeForce RTX 4090") == (None, None)


def test_starcoder_bandwidth_bound_is_the_issue_figure() -> None:
    """≈31 GB of bf16 weights read per token: ≈108 tokens/s at 3.35 TB/s, ≈155 at 4.8."""
    import torch
    from transformers import AutoModelForCausalLM, GPTBigCodeConfig

    bench = _bench()
    config = GPTBigCodeConfig(vocab_size=bench.VOCAB, multi_query=True, **bench.STARCODER)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(15.5e9, rel=0.01)
    read = bench.weights_used_per_token(model) * 2
    assert 3.35e12 / read == pytest.approx(108, abs=1)
    assert 4.8e12 / read == pytest.approx(155, abs=1)


def test_zero3_config_is_the_recipes_with_auto_filled() -> None:
    bench = _bench()
    recipe = bench.read_recipe()
    config = bench.zero3_config(recipe, micro=4, accum=8, hidden=2048, bf16=True)
    zero = config["zero_optimization"]
    assert zero["stage"] == 3 and config["bf16"]["enabled"] and not config["fp16"]["enabled"]
    assert (config["train_batch_size"], config["gradient_accumulation_steps"]) == (32, 8)
    assert zero["reduce_bucket_size"] == 2048 * 2048
    assert "scheduler" not in config  # the Trainer's cosine schedule stays the recipe's


def test_edit_prompt_copies_the_block_with_edits_and_nothing_else() -> None:
    bench = _bench()
    sizes = bench.PROMPT
    prompt, copy, nothing = bench.edit_prompt(sizes, 256)
    assert len(prompt) == sum(sizes.values()) == len(set(prompt))
    block = prompt[sizes["system"] : sizes["system"] + sizes["code"]]
    same = sum(a == b for a, b in zip(copy, block, strict=False))
    assert same == len(copy) - math.floor(len(copy) / bench.EDIT_EVERY)
    assert not set(nothing) & set(prompt) and len(set(nothing)) == len(nothing)
    assert min(prompt + copy + nothing) >= 1_000  # clear of <|endoftext|> and the special tokens
