"""Token ids and labels for one dialogue, from the chat template's generation markers.

The loss mask is not computed here by hand: `prompts/starchat.jinja` marks each answer
(`"\\n" + content + "<|end|>"` after `<|assistant|>`) with `{% generation %}`, and
transformers' `return_assistant_tokens_mask` turns those character spans into a token mask.
So the system turn, the user turns and every role header are -100, each answer and its
`<|end|>` are trained, and the format trained is by construction the format served.

The labels are a new list, never an alias of `input_ids` (the reference's shallow copy).
Labels are not shifted: the model shifts them when computing the loss.

A dialogue is cut before it is tokenized when its text is longer than `max_length` tokens
could ever span (`max_length` × the vocabulary's longest token, in characters): a 10 MB row
would otherwise become millions of token ids, labels and offsets in memory, only for
packing to keep the first `max_length` of them.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from starchat.prompts import STARCHAT_TEMPLATE, Message

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100


def assistant_spans(messages: list[Message]) -> tuple[str, list[tuple[int, int]]]:
    """The training text and the character spans that carry loss (the `generation` blocks)."""
    from transformers.utils.chat_template_utils import render_jinja_template

    # transformers annotates this as returning str; it returns (texts, generation spans).
    texts, spans = cast(
        tuple[list[str], list[list[tuple[int, int]]]],
        render_jinja_template(
            conversations=[[dict(m) for m in messages]],
            chat_template=STARCHAT_TEMPLATE,
            return_assistant_tokens_mask=True,
        ),
    )
    return texts[0], [(int(a), int(b)) for a, b in spans[0]]


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
    cut_before_tokenizing: int
    max_chars: int

    def summary(self, max_length: int, strategy: str) -> str:
        share = self.trained_tokens / max(self.tokens, 1)
        line = (
            f"tokens: {self.tokens} in {self.dialogues} dialogues, {self.trained_tokens} "
            f"({share:.1%}) carry loss (assistant answers and their <|end|>)"
        )
        at_least = "at least " if self.cut_before_tokenizing else ""
        if self.too_long and strategy == "bfd":
            line += (
                f"\n  {self.too_long} dialogues exceed max_length {max_length} and are truncated "
                f"(losing {at_least}{self.trained_tokens_cut} trained tokens); packing_strategy "
                "bfd_split keeps them as continuations instead"
            )
        elif self.too_long:
            line += f"\n  {self.too_long} dialogues exceed max_length {max_length} and are split"
        if self.cut_before_tokenizing:
            reach = "well past what bfd keeps" if strategy == "bfd" else "continued only that far"
            line += (
                f"\n  {self.cut_before_tokenizing} of them were cut to their first "
                f"{self.max_chars} characters before tokenizing ({reach})"
            )
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

    max_chars = max_length * max(len(token) for token in tokenizer.get_vocab())
    kept = [cut_dialogue(m, max_chars) for m in dialogues]
    shortened = sum(k is not m for k, m in zip(kept, dialogues, strict=True))
    rows = [tokenize_dialogue(tokenizer, m) for m in tqdm(kept, desc=f"Tokenizing {desc}")]
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
    stats = TokenStats(len(rows), tokens, trained, too_long, cut, shortened, max_chars)
    return dataset, stats


def cut_dialogue(messages: list[Message], max_chars: int) -> list[Message]:
    """The dialogue itself, or its first `max_chars` characters of content when it is longer.

    No token spans more characters than the vocabulary's longest, so with `max_chars` at
    `max_length` times that the cut text still renders to more than `max_length` tokens.
    """
    if sum(len(m["content"]) for m in messages) <= max_chars:
        return messages
    kept: list[Message] = []
    left = max_chars
    for message in messages:
        if left <= 0:
            break
        kept.append({"role": message["role"], "content": message["content"][:left]})
        left -= len(message["content"])
    return kept
