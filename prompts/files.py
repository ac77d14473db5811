"""Reading the prompt files shipped beside this module."""

from functools import cache
from importlib.resources import files

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.parser
from jinja2.sandbox import ImmutableSandboxedEnvironment


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


class _Generation(jinja2.ext.Extension):
    """`{% generation %}…{% endgeneration %}` renders its body: the markers only matter to
    training, which reads them through transformers (finetune/labels.py)."""

    tags = {"generation"}  # noqa: RUF012 (jinja declares it an instance attribute)

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.Scope(body).set_lineno(lineno)


@cache
def chat_environment() -> jinja2.Environment:
    """The settings transformers renders chat templates with (sandboxed, trimmed blocks), so
    a template renders here exactly as `apply_chat_template` renders it."""
    return ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[_Generation, jinja2.ext.loopcontrols]
    )
