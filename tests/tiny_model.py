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


FIM_TOKENS = ("<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<filename>")
"""StarCoder's fill-in-the-middle and file-name tokens, as its tokenizer has them."""


def build_tokenizer(
    vocab_size: int = 400, *, chat: bool = True, fim: bool = False
) -> PreTrainedTokenizerFast:
    """A byte-level BPE; with `chat`, the four StarChat tokens and the chat template; with
    `fim`, StarCoder's fill-in-the-middle tokens."""
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
    special = [*(FIM_TOKENS if fim else ()), *(STARCHAT_SPECIAL_TOKENS if chat else ())]
    if special:
        fast.add_special_tokens({"additional_special_tokens": special})
    if chat:
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
    fim: bool = False,
    lessons: list[tuple[str, str]] | None = None,
) -> Path:
    """Write a tiny StarChat-format model (weights, tokenizer, chat template) to `out`.

    With `chat=False` it is a "base" model: no chat tokens, no chat template. With `fim` its
    tokenizer has StarCoder's FIM tokens, and `lessons` — (prompt, middle) — are taught
    until greedy decoding writes each middle, then `<|endoftext|>`, after its prompt (a few
    seconds): a real model whose completions a test can predict.
    """
    import torch

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(chat=chat, fim=fim or bool(lessons))
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
    if lessons:
        _teach(model, tokenizer, lessons)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _teach(
    model: GPTBigCodeForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    lessons: list[tuple[str, str]],
) -> None:
    """Train on each prompt + middle + `<|endoftext|>` (loss on the middle and the end) until
    greedy decoding writes them."""
    import torch

    rows = [
        (
            tokenizer(prompt)["input_ids"],
            tokenizer(middle)["input_ids"] + [tokenizer.eos_token_id],
        )
        for prompt, middle in lessons
    ]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(2000):
        for prompt, answer in rows:
            ids = torch.tensor([prompt + answer])
            labels = torch.tensor([[-100] * len(prompt) + answer])
            loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        if step % 20 == 19 and _learnt(model, rows):
            break
    else:
        raise RuntimeError("the tiny model did not learn its fill-in-the-middle lessons")
    model.eval()


def _learnt(model: GPTBigCodeForCausalLM, rows: list[tuple[list[int], list[int]]]) -> bool:
    import torch

    model.eval()
    try:
        with torch.inference_mode():
            for prompt, answer in rows:
                out = model.generate(
                    torch.tensor([prompt]),
                    attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                    max_new_tokens=len(answer),
                    do_sample=False,
                    pad_token_id=answer[-1],
                )
                if out[0, len(prompt) :].tolist() != answer:
                    return False
        return True
    finally:
        model.train()


FIM_LESSONS: list[tuple[str, str, str]] = [
    ("def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n", "a + b"),
    ('s = "😀"\r\ny = ["😀", ', "]\r\nprint(y)\r\n", "1, 2]  # two"),
    ("result = max(", ")\nprint(result)\n", "a, b)"),
    ("def area(w, h):\n", "\n\nprint(area(2, 3))\n", "    '''Area.'''\n    return w * h\n"),
]
"""(prefix, suffix, middle) that `build_tiny_fim`'s model fills exactly, in a file `calc.py`:
a line's end, a range after an emoji in a CRLF file, an auto-closed bracket, a block."""


def build_tiny_fim(out: Path, path: str = "calc.py") -> Path:
    """A tiny StarCoder-format model that fills `FIM_LESSONS` as the editor asks for them
    (the StarCoder format with the file's name, as prompts/fim.toml renders it)."""
    from starchat.prompts.fim import named_format

    fmt = named_format("starcoder")
    return build_tiny_starchat(
        out,
        lessons=[(fmt.render(p, s, path), middle) for p, s, middle in FIM_LESSONS],
    )
