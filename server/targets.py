"""The code a request is about: the selection, or with only a cursor the enclosing function
or class (Python: found with `ast`, falling back to indentation when the file does not
parse — a Fix target often does not; other languages: by indentation). Nothing in a document
is ever executed: Python source is only parsed, never compiled or run.
"""

import ast
import re
from dataclasses import dataclass
from typing import Literal

from lsprotocol import types
from starchat.server.documents import Document, Span

_AST_LIMIT = 300_000
"""Characters (some 8,000 lines) above which Python files are read by indentation only:
parsing a huge file would hold up the event loop for no better answer."""


_PY_HEADER = re.compile(r"^\s*(async\s+def|def|class)\b")
_CLOSER = re.compile(r"^\s*[\]\)}]|^\s*end\b")


@dataclass(frozen=True)
class Target:
    """The code a request is about and exactly where it sits in the document."""

    span: Span
    code: str
    kind: Literal["selection", "enclosing", "document"]


def target(document: Document, range_: types.Range | None) -> Target:
    """The selection; with an empty range, the enclosing function or class (or the top-level
    statement at the cursor); with no range, the whole document."""
    if range_ is None:
        return Target(Span(0, len(document.text)), document.text, "document")
    span = document.span(range_)
    if not span.empty:
        return Target(span, document.text[span.start : span.end], "selection")
    first, last = enclosing_lines(document, document.line_of(span.start))
    block = document.lines_span(first, last)
    return Target(block, document.text[block.start : block.end], "enclosing")


def enclosing_lines(document: Document, line: int) -> tuple[int, int]:
    """First and last line (0-based) of the innermost function or class around `line`."""
    if document.language_id == "python" and len(document.text) <= _AST_LIMIT:
        found = _python_block(document.text, line)
        if found is not None:
            return found
    return _indented_block(document.lines(), line, python=document.language_id == "python")


def _python_block(text: str, line: int) -> tuple[int, int] | None:
    try:
        tree = ast.parse(text.replace("\r\n", "\n").replace("\r", "\n"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    row = line + 1
    best: tuple[int, int] | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            last = node.end_lineno or node.lineno
            if first <= row <= last and (best is None or first >= best[0]):
                best = (first, last)
    if best is None:
        best = next(
            (
                (s.lineno, s.end_lineno or s.lineno)
                for s in tree.body
                if s.lineno <= row <= (s.end_lineno or s.lineno)
            ),
            (row, row),
        )
    return best[0] - 1, best[1] - 1


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _indented_block(lines: list[str], line: int, *, python: bool) -> tuple[int, int]:
    """The block around `line` read from indentation alone (unparsable or non-Python code):
    for Python the innermost `def`/`class` header above it, else the top-level block."""
    line = min(line, len(lines) - 1)
    while line > 0 and not lines[line].strip():
        line -= 1
    if not lines[line].strip():
        return line, line
    header, depth = line, _indent(lines[line])
    if not (python and _PY_HEADER.match(lines[line])):
        for above in range(line - 1, -1, -1):
            text = lines[above]
            if not text.strip() or _indent(text) >= depth or _CLOSER.match(text):
                continue
            header, depth = above, _indent(text)
            if (python and _PY_HEADER.match(text)) or depth == 0:
                break
    while header > 0 and lines[header - 1].lstrip().startswith("@"):
        header -= 1
    base = _indent(lines[header])
    last = line
    for below in range(line + 1, len(lines)):
        text = lines[below]
        if not text.strip():
            continue
        if _indent(text) > base or (_indent(text) == base and _CLOSER.match(text)):
            last = below
        else:
            break
    return header, last
