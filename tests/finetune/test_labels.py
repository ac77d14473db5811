"""Labels are right by construction: checked against the template's own answer spans, over
random dialogues, with the tokenizer the trainer uses."""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starchat.finetune.labels import (
    IGNORE_INDEX,
    assistant_spans,
    tokenize_dialogue,
    tokenize_dialogues,
)
from starchat.finetune.modeling import load_tokenizer
from starchat.prompts import STARCHAT_SPECIAL_TOKENS, Message


@pytest.fixture(scope="module")
def tokenizer(base_model_dir: Any) -> Any:
    return load_tokenizer(str(base_model_dir))[0]


_text = st.text(
    alphabet=st.sampled_from(list("abc xyz\n\t{}()<>|_-:;'\"\\`#éü你😀0123456789")),
    min_size=1,
    max_size=40,
).filter(lambda t: t.strip() and not any(tok in t for tok in STARCHAT_SPECIAL_TOKENS))

# Any text at all, blank included, short of the format's own control tokens (the server cannot
# stop a user from typing them, but then no format can be unambiguous).
_any_text = st.text(min_size=0, max_size=40).filter(
    lambda s: not any(t in s for t in STARCHAT_SPECIAL_TOKENS)
)


@st.composite
def dialogues(draw: st.DrawFn, content: st.SearchStrategy[str] = _text) -> list[Message]:
    turns: list[Message] = []
    if draw(st.booleans()):
        turns.append({"role": "system", "content": draw(st.one_of(st.just(""), content))})
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        turns.append({"role": "user", "content": draw(content)})
        turns.append({"role": "assistant", "content": draw(content)})
    return turns


@settings(deadline=None)  # the first example imports transformers' renderer
@given(dialogues(_any_text))
def test_mask_covers_exactly_the_answers_and_their_end(dialogue: list[Message]) -> None:
    text, spans = assistant_spans(dialogue)
    answers = [m["content"] for m in dialogue if m["role"] == "assistant"]
    assert [text[a:b] for a, b in spans] == ["\n" + a + "<|end|>" for a in answers]
    masked = set().union(*(range(a, b) for a, b in spans))
    unmasked = "".join(ch for i, ch in enumerate(text) if i not in masked)
    # What is left is every header and every system/user turn, nothing of the answers.
    expected = "" if dialogue[0]["role"] == "system" else "<|system|>\n<|end|>\n"
    for m in dialogue:
        expected += (
            "<|assistant|>\n"
            if m["role"] == "assistant"
            else f"<|{m['role']}|>\n{m['content']}<|end|>\n"
        )
    assert unmasked == expected


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(messages=dialogues())
def test_labels_are_exactly_the_assistant_answers(tokenizer: Any, messages: Any) -> None:
    row = tokenize_dialogue(tokenizer, messages)
    ids, labels = row["input_ids"], row["labels"]
    text, spans = assistant_spans(messages)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    assert encoded["input_ids"] == ids  # the same tokens as the rendered template
    for token, label, (start, end) in zip(ids, labels, encoded["offset_mapping"], strict=True):
        inside = any(a <= start and end <= b for a, b in spans)
        straddles = any(start < a < end or start < b < end for a, b in spans)
        assert not straddles  # no token crosses a masked/trained boundary
        if inside:
            assert label == token  # every answer token (and <|end|>) is trained, unshifted
        else:
            assert label == IGNORE_INDEX  # system, user turns, role headers: masked
    answers = "".join("\n" + m["content"] + "<|end|>" for m in messages if m["role"] == "assistant")
    trained = [t for t, label in zip(ids, labels, strict=True) if label != IGNORE_INDEX]
    assert tokenizer.decode(trained) == answers


def test_system_user_and_headers_are_masked(tokenizer: Any) -> None:
    """The reference's defects: masking that never ran, and a system turn never masked."""
    messages: list[Message] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Sort a list?"},
        {"role": "assistant", "content": "sorted(x)"},
        {"role": "user", "content": "Reverse?"},
        {"role": "assistant", "content": "x[::-1]"},
    ]
    row = tokenize_dialogue(tokenizer, messages)
    ids, labels = row["input_ids"], row["labels"]
    masked = tokenizer.decode(
        [t for t, lab in zip(ids, labels, strict=True) if lab == IGNORE_INDEX]
    )
    assert masked == (
        "<|system|>\nBe brief.<|end|>\n<|user|>\nSort a list?<|end|>\n<|assistant|>"
        "\n<|user|>\nReverse?<|end|>\n<|assistant|>\n"
    )
    assert labels is not ids and labels != ids  # a new list, not a shallow copy
    end = tokenizer.convert_tokens_to_ids("<|end|>")
    assert [t for t, lab in zip(ids, labels, strict=True) if lab == end] == [end, end]


def test_a_huge_dialogue_is_cut_before_it_is_tokenized(
    tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 200 kB answer must not become a whole row of token ids when 64 of them are kept."""
    short: list[Message] = [
        {"role": "user", "content": "Sort a list?"},
        {"role": "assistant", "content": "sorted(x)"},
    ]
    huge: list[Message] = [
        {"role": "user", "content": "Say it again and again."},
        {"role": "assistant", "content": "def add(a, b): return a + b\n" * 7_000},
    ]
    whole = tokenize_dialogue(tokenizer, huge)
    rendered: list[int] = []
    render = tokenizer.apply_chat_template

    def measured(messages: list[Message], **options: Any) -> Any:
        rendered.append(sum(len(m["content"]) for m in messages))
        return render(messages, **options)

    monkeypatch.setattr(tokenizer, "apply_chat_template", measured)
    dataset, stats = tokenize_dialogues([short, huge, short], tokenizer, 64, "train")

    assert max(rendered) < 2_000 < len(huge[1]["content"])  # never the whole answer
    rows = dataset.to_list()
    assert rows[0] == rows[2] == tokenize_dialogue(tokenizer, short)  # the others untouched
    assert len(rows[1]["input_ids"]) > 64  # still too long: bfd truncates it as before
    assert rows[1]["input_ids"][:64] == whole["input_ids"][:64]
    assert rows[1]["labels"][:64] == whole["labels"][:64]
    assert (stats.too_long, stats.cut_before_tokenizing) == (1, 1)
    assert "1 of them were cut to their first" in stats.summary(64, "bfd")
