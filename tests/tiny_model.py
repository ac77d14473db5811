"""A tiny but real StarChat-style model (GPTBigCode + byte-level BPE with the chat tokens).

Built in seconds from nothing, so tests and benchmarks never need the Hub. Its weights are
random: it produces real tokens through the real code paths, not sensible answers.
"""

from pathlib import Path

from starchat.prompts import END_TOKEN, STARCHAT_SPECIAL_TOKENS, STARCHAT_TEMPLATE
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GenerationConfig,
    GPTBigCodeConfig,
    GPTBigCodeForCausalLM,
    PreTrainedTokenizerFast,
)

_CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "How do I sort a list in Python? Use sorted(items) or items.sort().",
    "class Stack:\n    def __init__(self):\n        self.items = []\n",
    "Write a function that checks whether a number is prime.",
    "for i in range(10):\n    print(i)\n",
    "Explain what this code does: it reads a file and counts the words.",
    "é ü ñ 你好 世界 😀 🚀",
]


def build_tokenizer(vocab_size: int = 400, *, chat: bool = True) -> PreTrainedTokenizerFast:
    """A byte-level BPE; with `chat`, the four StarChat tokens and the chat template."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_CORPUS * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    if chat:
        fast.add_special_tokens({"additional_special_tokens": list(STARCHAT_SPECIAL_TOKENS)})
        fast.chat_template = STARCHAT_TEMPLATE
    return fast


def build_tiny_starchat(
    out: Path,
    *,
    seed: int = 0,
    n_positions: int = 2048,
    chat: bool = True,
    n_embd: int = 64,
    n_layer: int = 2,
) -> Path:
    """Write a tiny StarChat-format model (weights, tokenizer, chat template) to `out`.

    With `chat=False` it is a "base" model: no chat tokens, no chat template.
    """
    import torch

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(chat=chat)
    config = GPTBigCodeConfig(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=4,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPTBigCodeForCausalLM(config)
    stop = [tokenizer.convert_tokens_to_ids(END_TOKEN)] if chat else []
    model.generation_config = GenerationConfig(
        eos_token_id=[*stop, tokenizer.eos_token_id],
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
