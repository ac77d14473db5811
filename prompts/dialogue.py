"""The StarChat dialogue format: rendering, loss-mask spans, system and few-shot prompts."""

from typing import Any, Literal, TypedDict

from starchat.prompts.files import environment, read_text
from transformers.utils.chat_template_utils import render_jinja_template

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


def _render(messages: list[Message], **options: Any) -> tuple[list[str], list[Any]]:
    # transformers annotates this as returning str; it returns (texts, generation spans).
    result: Any = render_jinja_template(
        conversations=[[dict(m) for m in messages]], chat_template=STARCHAT_TEMPLATE, **options
    )
    return result[0], result[1]


def render_starchat(messages: list[Message], *, add_generation_prompt: bool = True) -> str:
    """The dialogue as StarChat text; with `add_generation_prompt` it ends in `<|assistant|>`."""
    texts, _ = _render(messages, add_generation_prompt=add_generation_prompt)
    return texts[0]


def assistant_spans(messages: list[Message]) -> tuple[str, list[tuple[int, int]]]:
    """The training text and the character spans that carry loss (the `generation` blocks)."""
    texts, spans = _render(messages, return_assistant_tokens_mask=True)
    return texts[0], [(int(a), int(b)) for a, b in spans[0]]


def render_fewshot(messages: list[Message]) -> str:
    """The few-shot `Human:`/`Assistant:` prompt for a base StarCoder; stop at FEWSHOT_STOP."""
    turns = [m for m in messages if m["role"] != "system"]
    return environment().get_template("fewshot/technical-assistant.jinja").render(turns=turns)
