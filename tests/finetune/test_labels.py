"""Labels are right by construction: checked against the template's own answer spans, over
random dialogues, with the tokenizer the trainer uses."""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starchat.finetune.labels import IGNORE_INDEX, tokenize_dialogue
from starchat.finetune.modeling import load_tokenizer
from starchat.prompts import STARCHAT_SPECIAL_TOKENS, Message, assistant_spans


@pytest.fixture(scope="module")
def tokenizer(base_model_dir: Any) -> Any:
    return load_tokenizer(str(base_model_dir))[0]


_text = st.text(
    alphabet=st.sampled_from(list("abc xyz\n\t{}()<>|_-:;'\"\\`#éü你😀0123456789")),
    min_size=1,
    max_size=40,
).filter(lambda t: t.strip() and not any(tok in t for tok in STARCHAT_SPECIAL_TOKENS))


@st.composite
def dialogues(draw: st.DrawFn) -> list[dict[str, str]]:
    turns = []
    if draw(st.booleans()):
        turns.append({"role": "system", "content": draw(st.one_of(st.just(""), _text))})
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        turns.append({"role": "user", "content": draw(_text)})
        turns.append({"role": "assistant", "content": draw(_text)})
    return turns


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
