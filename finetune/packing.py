"""Packing: whole dialogues in `max_length` rows, kept apart by restarting position ids.

TRL's `pack_dataset` places tokenized dialogues best-fit-decreasing into rows of at most
`max_length` tokens (`bfd` truncates a longer dialogue, `bfd_split` continues it in another
row) and records each row's dialogue lengths. A batch then carries `position_ids` that
restart at 0 for every dialogue and no attention mask; transformers turns the restarts into
a block-diagonal causal mask, so no token attends to another dialogue. The label of every
dialogue's first token is dropped too: the model would predict it from the previous
dialogue's last token (it is `<|system|>`, never trained anyway).

The layout of a batch depends on the attention kernel:
- flash-attention reads dialogue boundaries only from one flat sequence, so the batch is
  TRL's padding-free layout: all rows concatenated, `[1, Σ tokens]`, cost Σ length²;
- sdpa and eager build a dense mask, so each packed row stays a row, `[B, longest row]`,
  cost B × length², like unpacked rows (flattening B rows would cost (B × length)²). The
  few pad tokens at a row's end form a segment of their own and carry no label.

`trainer_batches` runs the same collator on the same packed rows, so `--dump-examples`
shows what the trainer computes on without loading any weights.
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
            f"packing: {self.dialogues} dialogues in {self.rows} rows of {self.max_length} "
            f"tokens, efficiency {self.efficiency:.1%} (share of real tokens)"
        )

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "efficiency": self.efficiency}


def packing_stats(packed: "Dataset", max_length: int) -> PackingStats:
    if "seq_lengths" not in packed.column_names:
        sizes = [len(ids) for ids in packed["input_ids"]]
        return PackingStats(len(sizes), len(sizes), sum(sizes), max_length)
    lengths = packed["seq_lengths"]
    return PackingStats(
        len(lengths), sum(len(row) for row in lengths), sum(sum(row) for row in lengths), max_length
    )


def pack(tokenized: "Dataset", max_length: int, strategy: str) -> "Dataset":
    from trl.data_utils import pack_dataset

    columns = tokenized.select_columns(["input_ids", "labels"])
    return pack_dataset(columns, max_length, strategy, {"desc": "Packing dialogues"})


@dataclass
class RowwisePackedCollator:
    """Packed rows as a `[B, longest row]` batch with per-dialogue `position_ids`, no mask."""

    pad_token_id: int

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        width = max(len(row["input_ids"]) for row in rows)
        input_ids, labels, positions = [], [], []
        for row in rows:
            pad = width - len(row["input_ids"])
            lengths = [*row["seq_lengths"], pad] if pad else list(row["seq_lengths"])
            [position] = DataCollatorForLanguageModeling.get_position_ids_from_packed_seq_lengths(
                [lengths]
            )
            label = torch.tensor([*row["labels"], *[IGNORE_INDEX] * pad])
            label[position == 0] = IGNORE_INDEX
            input_ids.append(torch.tensor([*row["input_ids"], *[self.pad_token_id] * pad]))
            labels.append(label)
            positions.append(position)
        return {
            "input_ids": torch.stack(input_ids),
            "labels": torch.stack(labels),
            "position_ids": torch.stack(positions),
        }


def collator_for(attn_implementation: str | None, pad_token_id: int, packed: bool) -> Any:
    """The batch layout the attention kernel keeps dialogues apart with (see module doc)."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    if not packed:
        return DataCollatorForLanguageModeling(pad_token_id=pad_token_id)
    if (attn_implementation or "").startswith("flash"):
        return DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=True)
    return RowwisePackedCollator(pad_token_id)


def trainer_batches(
    dataset: "Dataset", collator: Any, batch_size: int, count: int
) -> list[dict[str, list[list[int]]]]:
    """The first `count` micro-batches as `collator` builds them, as nested lists."""
    keys = ("input_ids", "labels", "position_ids", "attention_mask")
    batches = []
    for start in range(0, min(count * batch_size, len(dataset)), batch_size):
        batch = collator([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        batches.append({key: batch[key].tolist() for key in keys if key in batch})
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
