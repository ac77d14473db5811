"""Fill-in-the-middle formats (`fim.toml`): the one place that says how each model family is
asked for the code between a prefix and a suffix.

StarCoder — the base of every StarChat model — was trained to infill: given
`<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>` it writes the middle and ends with
`<|endoftext|>`. Other code models use other tokens for the same idea; a model with none of
them gets `None` here and completes left to right from the prefix.
"""

import tomllib
from collections.abc import Collection
from dataclasses import dataclass, replace
from functools import cache

from starchat.prompts.files import read_text

FILE = "fim.toml"


@dataclass(frozen=True)
class FimFormat:
    name: str
    models: str
    tokens: tuple[str, ...]
    """Special tokens a tokenizer must have for this format to be chosen."""
    names: tuple[str, ...]
    """Parts of a served model's name that mean this format (openai backend)."""
    template: str
    stop: tuple[str, ...]
    bos: bool
    header: str = ""
    header_token: str = ""

    def render(self, prefix: str, suffix: str, path: str | None = None) -> str:
        """The prompt for the middle between `prefix` and `suffix` (the tokenizer's BOS, when
        `bos`, is added by tokenizing with special tokens, not written here)."""
        head = self.header.replace("{path}", path) if path and self.header else ""
        # One pass, so a `{suffix}` inside the user's prefix stays text.
        before, _, after = self.template.partition("{prefix}")
        return head + before + prefix + after.replace("{suffix}", suffix, 1)


@cache
def fim_formats() -> tuple[FimFormat, ...]:
    table = tomllib.loads(read_text(FILE))
    return tuple(
        FimFormat(
            name=row["name"],
            models=row["models"],
            tokens=tuple(row["tokens"]),
            names=tuple(row["names"]),
            template=row["template"],
            stop=tuple(row["stop"]),
            bos=bool(row["bos"]),
            header=row.get("header", ""),
            header_token=row.get("header_token", ""),
        )
        for row in table["format"]
    )


def named_format(name: str) -> FimFormat:
    for candidate in fim_formats():
        if candidate.name == name:
            return candidate
    known = ", ".join(f.name for f in fim_formats())
    raise KeyError(f"no fill-in-the-middle format named {name!r} (known: {known})")


def format_for_tokens(special_tokens: Collection[str]) -> FimFormat | None:
    """The format of a tokenizer with these special tokens, or None (left to right only)."""
    for candidate in fim_formats():
        if all(token in special_tokens for token in candidate.tokens):
            return candidate
    return None


def format_for_model_name(model: str) -> FimFormat | None:
    """The format a served model's name suggests (no tokenizer to ask), or None."""
    lowered = model.lower().replace("_", "-")
    for candidate in fim_formats():
        if any(name in lowered for name in candidate.names):
            return candidate
    return None


def with_header(fmt: FimFormat, special_tokens: Collection[str] | None) -> FimFormat:
    """`fmt` without its file-path header when the tokenizer lacks the header's token (None:
    unknown, as for a served model, keeps it)."""
    if fmt.header_token and special_tokens is not None and fmt.header_token not in special_tokens:
        return replace(fmt, header="", header_token="")
    return fmt
