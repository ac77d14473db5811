"""Packing keeps dialogues apart; `--dump-examples` shows exactly what the trainer computes on."""

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from starchat.finetune.cli import main
from starchat.finetune.labels import IGNORE_INDEX, tokenize_dialogues
from starchat.finetune.modeling import load_tokenizer
from starchat.finetune.packing import pack, trainer_batches

from tests.finetune.conftest import DIALOGUES, RECIPE

THREE = [
    [
        {"role": "user", "content": "How do I sort a list?"},
        {"role": "assistant", "content": "sorted(x)"},
    ],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is a tuple?"},
        {"role": "assistant", "content": "An immutable sequence."},
    ],
    [{"role": "user", "content": "Reverse a string?"}, {"role": "assistant", "content": "s[::-1]"}],
]


def test_packed_dialogue_has_its_unpacked_logits(base_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer, _ = load_tokenizer(str(base_model_dir))
    model = AutoModelForCausalLM.from_pretrained(base_model_dir, attn_implementation="sdpa")
    model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
    model.eval()
    tokenized, _ = tokenize_dialogues(THREE, tokenizer, 512, "test")
    packed = pack(tokenized, 512, "bfd")
    assert len(packed) == 1  # all three share one row
    [batch] = trainer_batches(packed, tokenizer.pad_token_id, 1, 1, padding_free=True)
    input_ids = torch.tensor(batch["input_ids"])
    positions = torch.tensor(batch["position_ids"])
    # As in training: TRL's loss passes use_cache=False, and without a cache and without an
    # attention mask transformers reads the dialogue boundaries from the restarting positions.
    with torch.no_grad():
        logits = model(input_ids=input_ids, position_ids=positions, use_cache=False).logits[0]
        concatenated = model(input_ids=input_ids, use_cache=False).logits[0]  # no restart
    starts = [*(positions[0] == 0).nonzero().flatten().tolist(), input_ids.shape[1]]
    assert len(starts) == 4
    crossed = 0.0
    for begin, end in itertools.pairwise(starts):
        alone = torch.tensor([input_ids[0, begin:end].tolist()])
        with torch.no_grad():
            expected = model(input_ids=alone, use_cache=False).logits[0]
        torch.testing.assert_close(logits[begin:end], expected, atol=1e-5, rtol=1e-4)
        crossed = max(crossed, float((concatenated[begin:end] - expected).abs().max()))
    assert crossed > 1e-2  # the control: without restarting positions, dialogues would mix


def test_dump_examples_is_what_the_trainer_iterates(
    base_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from starchat.finetune.config import parse_invocation
    from starchat.finetune.train import build_trainer, check_inputs

    overrides = [
        "--model_name_or_path", str(base_model_dir),
        "--dataset_name", str(DIALOGUES),
        "--output_dir", str(tmp_path / "out"),
        "--max_length", "512",  # every fixture dialogue fits whole
        "--per_device_train_batch_size", "1",
        "--deepspeed", "",
        "--report_to", "none",
    ]  # fmt: skip
    dump = tmp_path / "examples.jsonl"
    assert main([str(RECIPE), "--dump-examples", "1000", str(dump), *overrides]) == 0
    printed = capsys.readouterr().out
    assert "packing: 44 dialogues in" in printed and "efficiency" in printed
    records = [json.loads(line) for line in dump.read_text(encoding="utf-8").splitlines()]
    assert not (tmp_path / "out").exists()  # dumping trains nothing and writes no run

    recipe = parse_invocation([str(RECIPE), *overrides]).recipe
    trainer = build_trainer(recipe, recipe.sft_config(), check_inputs(recipe), print).trainer
    seen = [
        {key: batch[key].tolist() for key in ("input_ids", "labels", "position_ids")}
        for batch in trainer.get_train_dataloader()
    ]
    dumped = [{key: r[key] for key in ("input_ids", "labels", "position_ids")} for r in records]
    assert len(dumped) == len(seen) > 10
    assert sorted(map(_key, dumped)) == sorted(map(_key, seen))  # same rows; the trainer shuffles

    for record in records:  # each trained stretch is one whole answer and its <|end|>
        [stretches] = record["trained_text"]
        assert stretches and all(t.startswith("\n") and t.endswith("<|end|>") for t in stretches)
        assert not any(tag in t for t in stretches for tag in ("<|user|>", "<|system|>"))
        [labels] = record["labels"]
        assert sum(label != IGNORE_INDEX for label in labels) > 0


def _key(batch: dict[str, Any]) -> str:
    return json.dumps(batch, sort_keys=True)
