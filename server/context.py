"""Editor context for prompts: the code in question (targets.py finds it), its language,
path and diagnostics, cut to a token budget.

`build_user_message` is the pure, token-budgeted prompt builder (like llm-ls `build_prompt`):
it takes a token-counting function and a budget instead of an engine, so it is tested
without a model.
"""

import os
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import replace
from urllib.parse import unquote, urlparse

from lsprotocol import types
from starchat.prompts import Diagnostic
from starchat.prompts.actions import ActionSlots, render_template
from starchat.server.documents import Document, Span
from starchat.server.targets import Target, target

MAX_CHARS_PER_TOKEN = 16
"""Code tokenizers average 3–4 characters per token and rarely reach 16, so text longer than
budget × 16 characters is cut before it is measured (measuring megabytes would be slow)."""

_EXTENSIONS = {
    ".html": "html",
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


def editor_context(
    document: Document,
    range_: types.Range | None,
    roots: Iterable[str],
    diagnostics: Iterable[types.Diagnostic],
) -> tuple[Target, ActionSlots]:
    """The target code of a request and the context a prompt shows about it."""
    found = target(document, range_)
    return found, ActionSlots(
        language_of(document),
        relative_path(document.uri, roots),
        found.code.rstrip("\r\n"),  # a line-wise selection's last line break is no code
        diagnostics_in(document, found.span, diagnostics),
    )


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
    message: str, context: ActionSlots | None, count: Callable[[str], int], budget: int
) -> str:
    """The user turn: the message, then the editor context with as much of its code as keeps
    `count(turn)` (the prompt's tokens with this turn) within `budget` — whole lines from the
    top, and a note saying how many were left out."""
    if context is None:
        return message

    def render(code: str) -> str:
        return render_template("context.jinja", replace(context, code=code), message=message)

    code = fit_code(
        context.code, lambda code: count(render(code)) <= budget, budget * MAX_CHARS_PER_TOKEN
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
