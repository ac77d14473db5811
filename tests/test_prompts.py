"""The dialogue format, its loss mask, the prompt files and code extraction."""

import functools
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starchat.prompts import (
    ACTIONS,
    STARCHAT_SPECIAL_TOKENS,
    ActionSlots,
    Diagnostic,
    Message,
    PromptTooLongError,
    extract_code,
    fit_messages,
    reindent,
    render_action,
    render_fewshot,
    render_starchat,
    system_prompt,
)

MODEL_CARD = "<|system|>\n<|end|>\n<|user|>\nHow do I sort a list in Python?<|end|>\n<|assistant|>"


def test_cli_prints_the_model_card_prompt_byte_for_byte() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "starchat.server.cli",
            "prompt",
            "--format",
            "starchat",
            "How do I sort a list in Python?",
        ],
        capture_output=True,
        check=True,
    ).stdout
    assert out == MODEL_CARD.encode()


# Content never contains the format's own control tokens (the server cannot stop a user
# from typing them, but then no format can be unambiguous).
content = st.text(min_size=0, max_size=40).filter(
    lambda s: not any(t in s for t in STARCHAT_SPECIAL_TOKENS)
)


@st.composite
def dialogues(draw: st.DrawFn) -> list[Message]:
    messages: list[Message] = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(content)})
    for _ in range(draw(st.integers(1, 4))):
        messages.append({"role": "user", "content": draw(content)})
        messages.append({"role": "assistant", "content": draw(content)})
    return messages


@given(dialogues())
def test_inference_prompt_is_a_prefix_of_the_training_text(dialogue: list[Message]) -> None:
    prompt = render_starchat(dialogue[:-1])
    training = render_starchat(dialogue, add_generation_prompt=False)
    assert training.startswith(prompt)
    assert training[len(prompt) :] == "\n" + dialogue[-1]["content"] + "<|end|>\n"


@settings(max_examples=30, deadline=None)
@given(dialogues())
def test_token_mask_from_the_template_matches_the_answers(dialogue: list[Message]) -> None:
    tokenizer = _tiny_tokenizer()
    out = tokenizer.apply_chat_template(
        dialogue, return_assistant_tokens_mask=True, return_dict=True, tokenize=True
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    trained = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m])
    answers = "".join("\n" + m["content"] + "<|end|>" for m in dialogue if m["role"] == "assistant")
    assert trained == answers


@functools.cache
def _tiny_tokenizer() -> Any:
    from tests.tiny_model import build_tokenizer

    return build_tokenizer()


def test_system_prompts_are_files() -> None:
    assert system_prompt("starchat-alpha") == ""
    assert "technical assistant" in system_prompt("technical-assistant")
    assert system_prompt("Be terse.") == "Be terse."


def test_fewshot_prompt_ends_with_the_question_and_an_open_assistant_turn() -> None:
    prompt = render_fewshot([{"role": "user", "content": "What is a closure?"}])
    assert prompt.endswith("Human: What is a closure?\n\nAssistant:")
    assert prompt.count("Human:") == 4


@pytest.mark.parametrize("name", list(ACTIONS))
def test_every_code_action_renders_its_slots(name: str) -> None:
    slots = ActionSlots(
        "python",
        "pkg/mod.py",
        "def f(x):\n    return x +",
        [Diagnostic(2, "invalid syntax", "ruff")],
        module="pkg.mod",
    )
    text = render_action(name, slots)
    assert "```python\ndef f(x):\n    return x +\n```" in text
    assert "pkg/mod.py" in text
    if name == "fix":
        assert "line 2: invalid syntax (ruff)" in text


def test_fit_drops_oldest_exchanges_never_the_question() -> None:
    messages: list[Message] = [{"role": "system", "content": "s"}]
    for i in range(5):
        messages += [
            {"role": "user", "content": f"q{i} " * 10},
            {"role": "assistant", "content": "a " * 10},
        ]
    messages.append({"role": "user", "content": "last"})

    def count(ms: list[Message]) -> int:
        return sum(len(m["content"].split()) + 2 for m in ms)

    kept, dropped, tokens = fit_messages(messages, count, 40)
    assert kept[0]["role"] == "system" and kept[-1]["content"] == "last"
    assert dropped == 8 and kept[1]["content"].startswith("q4")
    assert tokens == count(kept) <= 40
    with pytest.raises(PromptTooLongError) as error:
        fit_messages([{"role": "user", "content": "w " * 100}], count, 40)
    assert error.value.excess == 62


ANSWER = """Sure! Here is the fix:

```python
def add(a, b):
    return a + b
```

And a usage example:

```
print(add(1, 2))
```
"""


def test_extract_code_prefers_the_longest_block_of_the_language() -> None:
    assert extract_code(ANSWER, "python") == "def add(a, b):\n    return a + b"
    assert extract_code("No code here, sorry.", "python") is None
    assert extract_code("```js\nlet x = 1;\n```", "python") == "let x = 1;"


def test_extract_code_reads_an_unterminated_block_and_tilde_fences() -> None:
    assert extract_code("text\n```py\nx = 1\ny = 2", "python") == "x = 1\ny = 2"
    assert extract_code("~~~python\nz = 3\n~~~\n", "python") == "z = 3"


def test_reindent_matches_the_original_indentation() -> None:
    original = "    def f(self):\n        return 1\n"
    assert reindent("def f(self):\n    return 2", original) == "    def f(self):\n        return 2"
