"""Editor context for prompts: the code in question, its language, path and diagnostics,
cut to a token budget.

The code in question is the selection; with only a cursor, the enclosing function or class
(Python: found with `ast`, falling back to indentation when the file does not parse — a Fix
target often does not; other languages: by indentation). Nothing in a document is ever
executed: Python source is only parsed, never compiled or run.

`build_user_message` is the pure, token-budgeted prompt builder (like llm-ls `build_prompt`):
it takes a token-counting function and a budget instead of an engine, so it is tested
without a model.
"""

import ast
import os
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import unquote, urlparse

from lsprotocol import types
from starchat.prompts import Diagnostic
from starchat.prompts.actions import ActionSlots, render_template
from starchat.server.documents import Document, Span

_AST_LIMIT = 300_000
"""Characters (some 8,000 lines) above which Python files are read by indentation only:
parsing a huge file would hold up the event loop for no better answer."""

_MAX_CHARS_PER_TOKEN = 16
"""Code tokenizers average 3–4 characters per token and rarely reach 16, so text longer than
budget × 16 characters is cut before it is measured (measuring megabytes would be slow)."""

_PY_HEADER = re.compile(r"^\s*(async\s+def|def|class)\b")
_CLOSER = re.compile(r"^\s*[\]\)}]|^\s*end\b")

_EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".jsx": "javascriptreact",
    ".ts": "typescript",
    ".tsx": "typescriptreact",
    ".rs": "rust",
    ".go": "go",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".java": "java",
    ".rb": "ruby",
    ".sh": "shellscript",
    ".lua": "lua",
}


@dataclass(frozen=True)
class Target:
    """The code a request is about and exactly where it sits in the document."""

    span: Span
    code: str
    kind: Literal["selection", "enclosing", "document"]


@dataclass(frozen=True)
class EditorContext:
    """Everything the prompt templates show about the editor."""

    language: str
    path: str
    code: str
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def slots(self, *, module: str = "", test_framework: str = "") -> ActionSlots:
        return ActionSlots(
            language=self.language,
            path=self.path,
            code=self.code,
            diagnostics=self.diagnostics,
            module=module,
            test_framework=test_framework,
        )


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


def editor_context(
    document: Document,
    range_: types.Range | None,
    roots: Iterable[str],
    diagnostics: Iterable[types.Diagnostic],
) -> tuple[Target, EditorContext]:
    """The target code of a request and the context a prompt shows about it."""
    found = target(document, range_)
    return found, EditorContext(
        language_of(document),
        relative_path(document.uri, roots),
        found.code.rstrip("\r\n"),  # a line-wise selection's last line break is no code
        diagnostics_in(document, found.span, diagnostics),
    )


def enclosing_lines(document: Document, line: int) -> tuple[int, int]:
    """First and last line (0-based) of the innermost function or class around `line`."""
    if document.language_id == "python" and len(document.text) <= _AST_LIMIT:
        found = _python_block(document.text, line)
        if found is not None:
            return found
    lines = [document.line_text(i) for i in range(document.line_count)]
    return _indented_block(lines, line, python=document.language_id == "python")


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


def language_of(document: Document) -> str:
    if document.language_id:
        return document.language_id
    extension = posixpath.splitext(urlparse(document.uri).path)[1].lower()
    return _EXTENSIONS.get(extension, "text")


def uri_path(uri: str) -> str:
    """The file-system path of a `file:` URI (the URI's path part for other schemes)."""
    return unquote(urlparse(uri).path)


def relative_path(uri: str, roots: Iterable[str]) -> str:
    """`uri` relative to the workspace folder holding it, else its file name."""
    path = uri_path(uri)
    for root in sorted((uri_path(r).rstrip("/") for r in roots if r), key=len, reverse=True):
        if root and path.startswith(root + "/"):
            return path[len(root) + 1 :]
    return os.path.basename(path) or uri


def diagnostics_in(
    document: Document, span: Span, diagnostics: Iterable[types.Diagnostic]
) -> list[Diagnostic]:
    """The diagnostics overlapping `span`, as the prompts show them (1-based lines)."""
    first, last = document.line_of(span.start), document.line_of(span.end)
    found: dict[tuple[int, str], Diagnostic] = {}
    for diagnostic in diagnostics:
        line = diagnostic.range.start.line
        if first <= line <= last or first <= diagnostic.range.end.line <= last:
            found.setdefault(
                (line, diagnostic.message),
                Diagnostic(line + 1, diagnostic.message, diagnostic.source),
            )
    return sorted(found.values(), key=lambda d: d.line)


def build_user_message(
    message: str, context: EditorContext | None, count: Callable[[str], int], budget: int
) -> str:
    """The user turn: the message, then the editor context with as much of its code as keeps
    `count(turn)` (the prompt's tokens with this turn) within `budget` — whole lines from the
    top, and a note saying how many were left out."""
    if context is None:
        return message

    def render(code: str) -> str:
        slots = replace(context, code=code).slots()
        return render_template("context.jinja", slots, message=message)

    code = fit_code(
        context.code, lambda code: count(render(code)) <= budget, budget * _MAX_CHARS_PER_TOKEN
    )
    return render(code)


def fit_code(code: str, fits: Callable[[str], bool], max_chars: int) -> str:
    """The longest run of whole lines from the top of `code` that `fits`, with a note when
    cut. Text beyond `max_chars` is never measured: it could not fit."""
    if len(code) <= max_chars and fits(code):
        return code
    lines = code.splitlines()
    high, used = 0, 0
    while high < len(lines) and used + len(lines[high]) + 1 <= max_chars:
        used += len(lines[high]) + 1
        high += 1

    def cut(keep: int) -> str:
        return "\n".join([*lines[:keep], f"… ({len(lines) - keep} more lines not shown)"])

    low = 0
    while low < high:
        middle = (low + high + 1) // 2
        if fits(cut(middle)):
            low = middle
        else:
            high = middle - 1
    return cut(low)
