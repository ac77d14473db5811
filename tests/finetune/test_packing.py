"""Packing keeps dialogues apart; `--dump-examples` shows exactly what the trainer computes on."""

import json
from pathlib import Path
from typing import Any

import pytest
from starchat.finetune.cli import main
from starchat.finetune.labels import IGNORE_INDEX, tokenize_dialogues
from starchat.finetune.modeling import load_tokenizer
from starchat.finetune.packing import collator_for, pack, trainer_batches
from starchat.prompts import Message

from tests.finetune.conftest import DIALOGUES, RECIPE

THREE: list[list[Message]] = [
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


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_dialogues_have_their_unpacked_logits(base_model_dir: Path, attn: str) -> None:
    """Two packed rows in one batch, as the trainer collates them: every dialogue's logits
    equal those of the dialogue alone, so no token attends across a dialogue boundary."""
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer, _ = load_tokenizer(str(base_model_dir))
    model = AutoModelForCausalLM.from_pretrained(base_model_dir, attn_implementation=attn)
    model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
    model.eval()
    tokenized, _ = tokenize_dialogues(THREE + THREE[:2], tokenizer, 128, "test")
    packed = pack(tokenized, 128, "bfd")
    assert len(packed) == 2 and max(len(r) for r in packed["seq_lengths"]) > 1
    collator = collator_for(attn, tokenizer.pad_token_id, packed=True)
    [batch] = trainer_batches(packed, collator, 2, 1)
    input_ids = torch.tensor(batch["input_ids"])
    positions = torch.tensor(batch["position_ids"])
    assert "attention_mask" not in batch and input_ids.shape[0] == 2
    # As in training: TRL's loss passes use_cache=False, and without a cache and without an
    # attention mask transformers reads the dialogue boundaries from the restarting positions.
    with torch.no_grad():
        logits = model(input_ids=input_ids, position_ids=positions, use_cache=False).logits
        concatenated = model(input_ids=input_ids, use_cache=False).logits  # no restarts
    checked, crossed = 0, 0.0
    for row, lengths in enumerate(packed["seq_lengths"]):
        begin = 0
        for length in lengths:
            end = begin + length
            alone = input_ids[row : row + 1, begin:end]
            with torch.no_grad():
                expected = model(input_ids=alone, use_cache=False).logits[0]
            torch.testing.assert_close(logits[row, begin:end], expected, atol=1e-5, rtol=1e-4)
            crossed = max(crossed, float((concatenated[row, begin:end] - expected).abs().max()))
            checked, begin = checked + 1, end
    assert checked == 5
    assert crossed > 1e-2  # the control: without restarting positions, dialogues would mix


def test_flash_attention_gets_one_flat_sequence(base_model_dir: Path) -> None:
    """flash-attention finds boundaries only in a flat batch: TRL's padding-free layout."""
    tokenizer, _ = load_tokenizer(str(base_model_dir))
    tokenized, _ = tokenize_dialogues(THREE + THREE[:2], tokenizer, 128, "test")
    packed = pack(tokenized, 128, "bfd")
    collator = collator_for("flash_attention_2", tokenizer.pad_token_id, packed=True)
    [batch] = trainer_batches(packed, collator, 2, 1)
    assert len(batch["input_ids"]) == 1
    assert len(batch["input_ids"][0]) == sum(map(sum, packed["seq_lengths"]))
    assert batch["position_ids"][0].count(0) == 5


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
