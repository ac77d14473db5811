"""Reading the prompt files shipped beside this module."""

from functools import cache
from importlib.resources import files

import jinja2


@cache
def read_text(name: str) -> str:
    """The text of a prompt file, by its path relative to `prompts/`."""
    return (files("starchat.prompts") / name).read_text(encoding="utf-8")


@cache
def environment() -> jinja2.Environment:
    """Jinja settings for the prompt templates: a missing slot is an error, not an empty string."""
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(read_text),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )
