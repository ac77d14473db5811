"""Add docstring without letting the model touch the code: the model writes the docstring
alone, and the server puts it in place.

Python: the docstring goes first in the body of the first function or class of the target,
indented like that body, replacing the docstring already there. Other languages: the doc
comment goes on the lines just above the definition, indented like it, replacing the
comment lines already there. An answer that brings the whole function anyway gives up its
docstring (Python) and nothing else: the code in the file is never replaced.
"""

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass

from starchat.prompts import extract_code
from starchat.server.documents import Document, Span
from starchat.server.edits import line_ending

_TRIPLE = re.compile(r'(?s)[rRuU]?("""|\'\'\')(.*?)\1')
_QUOTES = re.compile(r'^(?:[rRuU]?(?:"""|\'\'\')\s*)+|(?:\s*(?:"""|\'\'\'))+$')
_COMMENT_LINE = re.compile(r"^\s*(//|/\*|\*|#(?!!)|--)")


class NoDocstring(Exception):
    """The answer holds no docstring, or the target has nowhere to put one; the message says
    which, for the user."""


@dataclass(frozen=True)
class Placement:
    """Replace `span` with `text`: the docstring's place in the document."""

    span: Span
    text: str


def docstring_text(answer: str, language: str, name: str | None) -> str:
    """The docstring's text from an answer (its quotes and indentation taken off)."""
    answer = answer.replace("\r\n", "\n").replace("\r", "\n")
    code = extract_code(answer, language)
    if language != "python":
        lines = (code or "").strip("\n").split("\n")
        # an answer that repeats the code anyway: its leading comment lines are the doc
        count = next((i for i, line in enumerate(lines) if not _COMMENT_LINE.match(line)), None)
        comment = lines if count is None else lines[:count]
        if not "".join(comment).strip():
            raise NoDocstring("its answer held no doc comment in a code block")
        return "\n".join(comment)
    if code is not None:
        found = _python_docstring(code, name)
        if found is not None:
            return found
    quoted = next(
        (m for m in _TRIPLE.finditer(code if code is not None else answer) if m.group(2).strip()),
        None,
    )
    if quoted is not None:
        return _unquoted(quoted.group(2))
    if code is not None and _unquoted(code) and not _holds_definitions(code):
        return _unquoted(code)
    raise NoDocstring("its answer held no docstring")


def _unquoted(text: str) -> str:
    """`text` without stray triple quotes around it (an unterminated docstring, say)."""
    return inspect.cleandoc(_QUOTES.sub("", text.strip()))


def _holds_definitions(code: str) -> bool:
    """Whether a block is code (a definition, an import, an assignment) rather than text."""
    try:
        tree = ast.parse(textwrap.dedent(code))
    except (SyntaxError, ValueError):
        return False
    return any(not isinstance(node, ast.Expr) for node in tree.body)


def _python_docstring(code: str, name: str | None) -> str | None:
    """The docstring of the definition `name` in `code` (else its first one), or of `code`
    itself when it is a lone string."""
    try:
        tree = ast.parse(code.strip("\n"))
    except (SyntaxError, ValueError):
        return None
    documented = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and ast.get_docstring(node)
    ]
    chosen = next((n for n in documented if n.name == name), documented[0] if documented else None)
    if chosen is not None:
        return ast.get_docstring(chosen)
    return ast.get_docstring(tree)


def placement(document: Document, target: Span, answer: str, language: str) -> Placement:
    """Where and how the docstring in `answer` goes for the code at `target`; `NoDocstring`
    when the answer has none or the target has no place for one."""
    if language == "python":
        node, offset = _definition(document, target)
        text = docstring_text(answer, language, node.name)
        return _python_placement(document, node, offset, text)
    text = docstring_text(answer, language, None)
    first = document.line_of(target.start)
    while first + 1 < document.line_count and (
        not document.line_text(first).strip() or _COMMENT_LINE.match(document.line_text(first))
    ):
        first += 1
    header = document.line_text(first)
    indent = header[: len(header) - len(header.lstrip())]
    top = first
    while top > 0 and _COMMENT_LINE.match(document.line_text(top - 1)):
        top -= 1
    lines = textwrap.dedent(text).strip("\n").split("\n")
    eol = line_ending(document.text)
    block = eol.join(indent + line if line.strip() else "" for line in lines) + eol
    start = document.line_start(top)
    return Placement(Span(start, document.line_start(first)), block)


def _python_placement(
    document: Document,
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
    offset: int,
    text: str,
) -> Placement:
    body_nodes = node.body
    if not body_nodes:
        raise NoDocstring("the definition has no body to document")
    body = body_nodes[0]
    line = body.lineno - 1 + offset
    if line == node.lineno - 1 + offset:
        raise NoDocstring(
            "the body of the definition is on its header line; put it on a line of its own first"
        )
    source_line = document.line_text(line)
    indent = source_line[: len(source_line) - len(source_line.lstrip())]
    eol = line_ending(document.text)
    quoted = _quote(text, indent, eol) + eol
    if (
        isinstance(body, ast.Expr)
        and isinstance(body.value, ast.Constant)
        and isinstance(body.value.value, str)
    ):
        last = (body.end_lineno or body.lineno) - 1 + offset
        end = document.line_start(last + 1) if last + 1 < document.line_count else None
        span_end = end if end is not None else len(document.text)
        if end is None:
            quoted = quoted[: -len(eol)]
        return Placement(Span(document.line_start(line), span_end), quoted)
    start = document.line_start(line)
    return Placement(Span(start, start), quoted)


def _definition(
    document: Document, target: Span
) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, int]:
    """The first function or class that starts in `target`, and the line offset of the tree
    it was found in (the document's, or the target's alone when the document does not
    parse)."""
    first = document.line_of(target.start)
    last = document.line_of(max(target.start, target.end - 1))
    code, offset = document.text, 0
    try:
        tree = ast.parse(code.replace("\r\n", "\n").replace("\r", "\n"))
    except (SyntaxError, ValueError):
        offset = first
        lines = document.lines()[first : last + 1]
        code = "\n".join(lines)
        try:
            tree = ast.parse(textwrap.dedent(code))
        except (SyntaxError, ValueError):
            raise NoDocstring(
                "the code around the cursor does not parse, so there is no place for a docstring"
            ) from None
    definitions = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    for node in definitions:  # the first that starts in the target, else the innermost around
        if first <= node.lineno - 1 + offset <= last:
            return node, offset
    around = [n for n in definitions if n.lineno - 1 + offset < first <= _end(n) - 1 + offset]
    if around:
        return max(around, key=lambda n: n.lineno), offset
    raise NoDocstring("there is no function or class here to document; put the cursor in one")


def _end(node: ast.stmt) -> int:
    return node.end_lineno or node.lineno


def _quote(text: str, indent: str, eol: str) -> str:
    """`text` as a docstring at `indent`: one line, or a summary line and the rest below."""
    text = inspect.cleandoc(text).replace('"""', '\\"\\"\\"')
    prefix = "r" if "\\" in text and '\\"' not in text else ""
    lines = text.split("\n")
    if len(lines) == 1:
        return f'{indent}{prefix}"""{lines[0]}"""'
    body = [indent + line if line.strip() else "" for line in lines[1:]]
    return eol.join([f'{indent}{prefix}"""{lines[0]}', *body, f'{indent}"""'])
