"""The StarChat dialogue format: rendering, system and few-shot prompts.

Rendering needs only Jinja: the training side (loss-mask spans) reads the same template
through transformers, in finetune/labels.py.
"""

from functools import cache
from typing import Literal, TypedDict

import jinja2
from starchat.prompts.files import chat_environment, environment, read_text

Role = Literal["system", "user", "assistant"]


class Message(TypedDict):
    role: Role
    content: str


STARCHAT_TEMPLATE = read_text("starchat.jinja")
END_TOKEN = "<|end|>"
STARCHAT_SPECIAL_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>", END_TOKEN)
FEWSHOT_STOP = "\nHuman:"

SYSTEM_PROMPTS = {
    "starchat-alpha": "system/starchat-alpha.txt",
    "technical-assistant": "system/technical-assistant.txt",
}


def system_prompt(name_or_text: str) -> str:
    """A named system prompt from `prompts/system/`, or the given text itself."""
    path = SYSTEM_PROMPTS.get(name_or_text)
    return read_text(path).strip() if path else name_or_text


@cache
def _starchat() -> jinja2.Template:
    return chat_environment().from_string(STARCHAT_TEMPLATE)


def render_starchat(messages: list[Message], *, add_generation_prompt: bool = True) -> str:
    """The dialogue as StarChat text; with `add_generation_prompt` it ends in `<|assistant|>`."""
    return _starchat().render(
        messages=[dict(m) for m in messages], add_generation_prompt=add_generation_prompt
    )


def render_fewshot(messages: list[Message]) -> str:
    """The few-shot `Human:`/`Assistant:` prompt for a base StarCoder; stop at FEWSHOT_STOP."""
    turns = [m for m in messages if m["role"] != "system"]
    return environment().get_template("fewshot/technical-assistant.jinja").render(turns=turns)
