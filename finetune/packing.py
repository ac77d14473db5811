"""Packing as the trainer does it, measured, and shown to the user.

TRL packs tokenized dialogues best-fit-decreasing into rows of at most `max_length` tokens
and its collator flattens a batch padding-free: one sequence whose `position_ids` restart at
0 for every dialogue, which is what keeps attention inside each dialogue (transformers
builds a block-diagonal causal mask from them; flash-attention reads the boundaries). The
collator also drops the label of every dialogue's first token, which is `<|system|>` and
never trained anyway.

`trainer_batches` uses those same TRL functions with the recipe's settings so that
`--dump-examples` shows what the trainer computes on without loading any weights.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starchat.finetune.labels import IGNORE_INDEX

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase


@dataclass
class PackingStats:
    rows: int
    dialogues: int
    tokens: int
    max_length: int

    @property
    def efficiency(self) -> float:
        """Share of the packed rows' capacity that holds real tokens."""
        return self.tokens / max(self.rows * self.max_length, 1)

    def summary(self) -> str:
        return (
            f"packing: {self.dialogues} dialogues in {self.rows} rows of {self.max_length} tokens, "
            f"efficiency {self.efficiency:.1%} (share of real tokens; padding-free, so no compute "
            "goes to padding)"
        )

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "efficiency": self.efficiency}


def packing_stats(packed: "Dataset", max_length: int) -> PackingStats:
    lengths = packed["seq_lengths"] if "seq_lengths" in packed.column_names else None
    if lengths is None:
        sizes = [len(ids) for ids in packed["input_ids"]]
        return PackingStats(len(sizes), len(sizes), sum(sizes), max_length)
    return PackingStats(
        len(lengths), sum(len(row) for row in lengths), sum(sum(row) for row in lengths), max_length
    )


def pack(tokenized: "Dataset", max_length: int, strategy: str) -> "Dataset":
    from trl.data_utils import pack_dataset

    return pack_dataset(tokenized.select_columns(["input_ids", "labels"]), max_length, strategy)


def trainer_batches(
    dataset: "Dataset", pad_token_id: int, batch_size: int, count: int, padding_free: bool
) -> list[dict[str, list[list[int]]]]:
    """The first `count` micro-batches as TRL's collator builds them (2-D, like the tensors).

    Padding-free batches carry `position_ids`; padded ones (packing off) an `attention_mask`.
    """
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=padding_free)
    keys = ("input_ids", "labels", "position_ids" if padding_free else "attention_mask")
    batches = []
    for start in range(0, min(count * batch_size, len(dataset)), batch_size):
        rows = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        batch = collator(rows)
        batches.append({key: batch[key].tolist() for key in keys})
    return batches


def write_examples(
    batches: list[dict[str, list[list[int]]]], tokenizer: "PreTrainedTokenizerBase", path: Path
) -> None:
    """JSON lines: the tensors as lists, plus the text and the trained stretches to read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for batch in batches:
            rows = zip(batch["input_ids"], batch["labels"], strict=True)
            record = {
                **batch,
                "text": [tokenizer.decode(ids) for ids in batch["input_ids"]],
                "trained_text": [
                    [tokenizer.decode(run) for run in _runs(ids, labels)] for ids, labels in rows
                ],
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _runs(input_ids: list[int], labels: list[int]) -> list[list[int]]:
    """Consecutive stretches of trained tokens."""
    runs: list[list[int]] = []
    previous = False
    for token, label in zip(input_ids, labels, strict=True):
        trained = label != IGNORE_INDEX
        if trained and not previous:
            runs.append([])
        if trained:
            runs[-1].append(token)
        previous = trained
    return runs
