"""Fill-in-the-middle formats (prompts/fim.toml) and the reading of a completion
(prompts/completion.py): what the editor sends a model and what it shows of the answer."""

from typing import get_args

import pytest
from starchat.prompts.completion import Infill, enough, finish, shape_at
from starchat.prompts.fim import (
    fim_formats,
    format_for_model_name,
    format_for_tokens,
    named_format,
    with_header,
)
from starchat.server.options import FimChoice

STARCODER_TOKENS = {"<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<filename>"}


def test_a_starcoder_prompt_is_exactly_the_papers_format() -> None:
    fmt = format_for_tokens(STARCODER_TOKENS)
    assert fmt is not None and fmt.name == "starcoder"
    assert fmt.render("def f(x):\n    return ", "\n") == (
        "<fim_prefix>def f(x):\n    return <fim_suffix>\n<fim_middle>"
    )
    assert (
        fmt.render("a", "b", "pkg/m.py")
        == "<filename>pkg/m.py\n<fim_prefix>a<fim_suffix>b<fim_middle>"
    )


def test_template_slots_in_the_users_code_stay_text() -> None:
    fmt = named_format("starcoder")
    assert fmt.render("x = '{suffix}'", "{prefix}") == (
        "<fim_prefix>x = '{suffix}'<fim_suffix>{prefix}<fim_middle>"
    )


@pytest.mark.parametrize(
    ("tokens", "name"),
    [
        ({"<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"}, "deepseek-coder"),
        ({"▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"}, "codellama"),
        ({"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"}, "codegemma"),
        ({"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_sep|>"}, "qwen2.5-coder"),
        ({"<|im_start|>", "<|im_end|>", "<filename>"}, None),
    ],
)
def test_the_format_comes_from_the_tokenizers_special_tokens(
    tokens: set[str], name: str | None
) -> None:
    fmt = format_for_tokens(tokens)
    assert (fmt.name if fmt else None) == name


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("bigcode/starcoder2-15b", "starcoder"),
        ("HuggingFaceH4/starchat-alpha", "starcoder"),
        ("deepseek-ai/deepseek-coder-6.7b-base", "deepseek-coder"),
        ("codellama/CodeLlama-7b-hf", "codellama"),
        ("Qwen/Qwen2.5-Coder-7B", "qwen2.5-coder"),
        ("google/codegemma-2b", "codegemma"),
        ("meta-llama/Llama-3.1-8B-Instruct", None),
    ],
)
def test_a_served_models_format_comes_from_its_name(model: str, name: str | None) -> None:
    fmt = format_for_model_name(model)
    assert (fmt.name if fmt else None) == name


def test_the_header_needs_its_token() -> None:
    fmt = named_format("starcoder")
    assert with_header(fmt, {"<fim_prefix>"}).render("a", "b", "m.py").startswith("<fim_prefix>")
    assert with_header(fmt, None).render("a", "b", "m.py").startswith("<filename>m.py\n")


def test_the_setting_names_every_format() -> None:
    choices = list(get_args(FimChoice))
    assert choices[0] == "auto" and choices[-1] == "none"
    assert choices[1:-1] == [f.name for f in fim_formats()]


# ---- the shape of a completion ------------------------------------------------------------


def test_inside_a_line_the_completion_is_one_line() -> None:
    shape = shape_at("total = sum(", ")\n")
    assert not shape.multiline
    assert enough(shape, "values)\n") and not enough(shape, "values")
    assert finish(shape, "values)\nprint(total)") == Infill("values")


def test_on_an_empty_line_after_an_opener_it_is_the_block() -> None:
    shape = shape_at("def area(w, h):\n", "\n\nprint(area(2, 3))\n")
    assert shape.multiline
    text = "    '''Area.'''\n\n    return w * h\n\nprint(area(2, 3))\n"
    assert not enough(shape, "    '''Area.'''\n\n    return w")
    assert enough(shape, text)
    assert finish(shape, text) == Infill("    '''Area.'''\n\n    return w * h")


def test_an_indented_cursor_counts_its_indentation() -> None:
    shape = shape_at("if ready:\n    ", "\n")
    assert finish(shape, "go()\n    stay()\nleave()") == Infill("go()\n    stay()")


def test_a_comment_after_the_opener_still_opens_a_block() -> None:
    assert shape_at("for x in xs:  # each\n", "\n").multiline
    assert not shape_at("x = 1  # done\n", "\n").multiline


def test_a_closing_brace_at_the_openers_depth_is_kept_unless_it_follows() -> None:
    open_ = shape_at("function f() {\n", "\n")
    assert finish(open_, "  return 1;\n}\n\nfunction g() {") == Infill("  return 1;\n}")
    closed = shape_at("function f() {\n", "\n}\n")
    assert finish(closed, "  return 1;\n}\n") == Infill("  return 1;")


def test_a_block_that_already_has_a_body_below_gets_one_line() -> None:
    shape = shape_at("def f(xs):\n    ", "\n    return out\n")
    assert not shape.multiline
    assert enough(shape, "out = sorted(xs)\n")
    assert finish(shape, "out = sorted(xs)\n    return out") == Infill("out = sorted(xs)")


def test_lines_that_repeat_what_follows_are_dropped() -> None:
    shape = shape_at("if (ready) {\n", "\n}\ngo();\n")
    assert shape.multiline
    assert finish(shape, "  start();\n}\ngo();") == Infill("  start();")


@pytest.mark.parametrize(
    ("prefix", "after", "middle", "expected"),
    [
        ("print(", ")", "total)", Infill("total")),  # the editor's auto-closed bracket
        ("print(", ")", "total", Infill("total")),
        ("f(g(", "))", "x))", Infill("x")),
        ("call(", "):", "a, b)", Infill("a, b")),  # a partial overlap
        ("y = [", "]", "1, 2]  # two", Infill("1, 2]  # two", replaces=1)),
        ("name = ", "", "'x'   ", Infill("'x'")),
        ("x = ", "", "   ", None),
        ("x = ", "", "\n", None),
    ],
)
def test_one_line_never_doubles_what_follows_the_cursor(
    prefix: str, after: str, middle: str, expected: Infill | None
) -> None:
    assert finish(shape_at(prefix, after + "\n"), middle) == expected


def test_crlf_documents() -> None:
    shape = shape_at("def f():\r\n", "\r\n\r\nx = 1\r\n")
    assert shape.multiline and shape.line_after == ""
    assert finish(shape, "    return 1\r\n\r\nx = 1") == Infill("    return 1")


# ---- a prompt start that stays put while the user types ------------------------------------


def test_the_prompt_starts_on_a_grid_line_that_stays_while_typing() -> None:
    from starchat.server.completions import stable_start

    lines = [f"line_{i} = {i}\n" for i in range(100)]
    prefix = "".join(lines)
    cut = prefix[len("".join(lines[:37])) + 3 :]  # a budget cut inside line 37
    assert stable_start(prefix, cut) == "".join(lines[48:])
    typed = prefix + "x = li"
    assert (
        stable_start(typed, typed[len(prefix) - len(cut) + 5 :]) == "".join(lines[48:]) + "x = li"
    )
    assert stable_start(prefix, prefix) == prefix  # all of it fits: nothing is dropped
    assert stable_start(prefix, prefix[-30:]) == prefix[-30:]  # no grid line within: as cut


def test_after_auto_indent_the_models_leading_spaces_are_not_doubled() -> None:
    inside = shape_at("def f(x):\n    y = x\n    ", "\n    return y\n")
    assert finish(inside, " y += 1\n") == Infill("y += 1")
    block = shape_at("if ready:\n    ", "\n")
    assert finish(block, "  go()\n    stay()\nleave()") == Infill("go()\n    stay()")
    # A cursor inside a line's code keeps the space the model writes.
    assert finish(shape_at("x =", "\n"), " 1") == Infill(" 1")


def test_a_leading_space_after_auto_indent_does_not_end_the_block_early() -> None:
    # A model whose tokens carry their leading space writes " x" after the editor's indent;
    # the block must still run to its dedent rather than stop after its first line.
    shape = shape_at("def f(a):\n    ", "\n\nprint(1)\n")
    text = " x = a + 1\n    y = x * 2\n    return y\n\nprint(1)"
    assert not enough(shape, " x = a + 1\n    y")
    assert finish(shape, text) == Infill("x = a + 1\n    y = x * 2\n    return y")


def test_spaces_that_complete_an_indentation_being_typed_are_kept() -> None:
    code = "class A:\n    def f(self):\n        return 1\n\n"
    assert finish(shape_at(code + "  ", "\n"), "  def g(self):") == Infill("  def g(self):")
    # At a level (or at the line above's depth) the editor indented: the spaces are dropped.
    assert finish(shape_at(code + "    ", "\n"), " def g(self):") == Infill("def g(self):")
    aligned = "x = call(a,\n         "
    assert finish(shape_at(aligned, "\n"), " b)") == Infill("b)")


@pytest.mark.parametrize(
    "prefix",
    [
        'def area(w, h):\n    """The area."""\n    ',
        "def area(w, h):\n    '''The area of a\n    rectangle.'''\n\n    ",
        "def area(w, h):\n    # the area\n    ",
        'def area(w,\n         h):\n    r"""The area."""\n    ',
    ],
)
def test_a_docstring_or_comments_under_the_opener_still_leave_the_block_empty(
    prefix: str,
) -> None:
    shape = shape_at(prefix, "\n\nprint(area(2, 3))\n")
    assert shape.multiline
    text = "w = abs(w)\n    return w * h\n\nprint(area(2, 3))\n"
    assert finish(shape, text) == Infill("w = abs(w)\n    return w * h")
    # With the body already below, one line.
    assert not shape_at(prefix, "\n    return w * h\n").multiline


def test_a_string_that_is_not_a_docstring_opens_nothing() -> None:
    assert not shape_at('def f():\n    s = """x"""\n    ', "\n").multiline
    assert not shape_at('x = 1\n"""A module string."""\n', "\n").multiline


def test_a_repeated_tail_is_found_past_blank_lines() -> None:
    shape = shape_at("def f(xs):\n    ", "\n    # done\n\nf([])\n")
    assert shape.multiline  # a comment below is not a body
    assert finish(shape, "xs.sort()\n    # done\n\nf([])") == Infill("xs.sort()")
