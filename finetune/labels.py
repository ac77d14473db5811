"""Token ids and labels for one dialogue, from the chat template's generation markers.

The loss mask is not computed here by hand: `prompts/starchat.jinja` marks each answer
(`"\\n" + content + "<|end|>"` after `<|assistant|>`) with `{% generation %}`, and
transformers' `return_assistant_tokens_mask` turns those character spans into a token mask.
So the system turn, the user turns and every role header are -100, each answer and its
`<|end|>` are trained, and the format trained is by construction the format served.

The labels are a new list, never an alias of `input_ids` (the reference's shallow copy).
Labels are not shifted: the model shifts them when computing the loss.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starchat.prompts import STARCHAT_TEMPLATE, Message

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100


def tokenize_dialogue(
    tokenizer: "PreTrainedTokenizerBase", messages: list[Message]
) -> dict[str, list[int]]:
    """`input_ids` of the rendered dialogue and `labels`: the id on answer tokens, else -100."""
    encoded = tokenizer.apply_chat_template(
        list(messages),  # type: ignore[arg-type]
        chat_template=STARCHAT_TEMPLATE,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    input_ids = [int(token) for token in encoded["input_ids"]]  # type: ignore[index,call-overload]
    mask = encoded["assistant_masks"]  # type: ignore[index,call-overload]
    labels = [token if keep else IGNORE_INDEX for token, keep in zip(input_ids, mask, strict=True)]
    return {"input_ids": input_ids, "labels": labels}


@dataclass
class TokenStats:
    """What tokenization found: sizes, and what `max_length` will cut off."""

    dialogues: int
    tokens: int
    trained_tokens: int
    too_long: int
    trained_tokens_cut: int

    def summary(self, max_length: int, strategy: str) -> str:
        share = self.trained_tokens / max(self.tokens, 1)
        line = (
            f"tokens: {self.tokens} in {self.dialogues} dialogues, {self.trained_tokens} "
            f"({share:.1%}) carry loss (assistant answers and their <|end|>)"
        )
        if self.too_long and strategy == "bfd":
            line += (
                f"\n  {self.too_long} dialogues exceed max_length {max_length} and are truncated "
                f"(losing {self.trained_tokens_cut} trained tokens); packing_strategy bfd_split "
                "keeps them as continuations instead"
            )
        elif self.too_long:
            line += f"\n  {self.too_long} dialogues exceed max_length {max_length} and are split"
        return line

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def tokenize_dialogues(
    dialogues: list[list[Message]],
    tokenizer: "PreTrainedTokenizerBase",
    max_length: int,
    desc: str,
) -> tuple["Dataset", TokenStats]:
    """A dataset of `input_ids` and `labels` (one row per dialogue), with stats."""
    from datasets import Dataset
    from tqdm.auto import tqdm

    rows = [tokenize_dialogue(tokenizer, m) for m in tqdm(dialogues, desc=f"Tokenizing {desc}")]
    tokens = trained = too_long = cut = 0
    for row in rows:
        labels = row["labels"]
        tokens += len(labels)
        trained += sum(label != IGNORE_INDEX for label in labels)
        if len(labels) > max_length:
            too_long += 1
            cut += sum(label != IGNORE_INDEX for label in labels[max_length:])
    dataset = Dataset.from_dict(
        {"input_ids": [r["input_ids"] for r in rows], "labels": [r["labels"] for r in rows]}
    )
    return dataset, TokenStats(len(rows), tokens, trained, too_long, cut)
