"""Editor context for prompts: the code in question (targets.py finds it), its language,
path and diagnostics, cut to a token budget.

`build_user_message` is the pure, token-budgeted prompt builder (like llm-ls `build_prompt`):
it takes a token-counting function and a budget instead of an engine, so it is tested
without a model.
"""

import itertools
import os
import posixpath
import re
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

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
"""Line breaks as LSP counts lines (a cursor's line is in these)."""

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
    return language_of_path(urlparse(document.uri).path)


def language_of_path(path: str) -> str:
    """The LSP language id for a file name, by its extension ("text" when unknown)."""
    return _EXTENSIONS.get(posixpath.splitext(path)[1].lower(), "text")


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
    message: str,
    context: ActionSlots | None,
    count: Callable[[str], int],
    budget: int,
    cursor_line: int = 0,
) -> str:
    """The user turn: the message, then the editor context with as much of its code as keeps
    `count(turn)` (the prompt's tokens with this turn) within `budget` — whole lines around
    line `cursor_line` of the code (by default from the top), and notes saying how many were
    left out above and below."""
    if context is None:
        return message

    def render(code: str) -> str:
        return render_template("context.jinja", replace(context, code=code), message=message)

    code = fit_code(
        context.code,
        lambda code: count(render(code)) <= budget,
        budget * MAX_CHARS_PER_TOKEN,
        cursor_line,
    )
    return render(code)


def fit_code(code: str, fits: Callable[[str], bool], max_chars: int, centre: int = 0) -> str:
    """The longest run of whole lines of `code` around line `centre` that `fits`: as many
    lines above that line as below it, then, where one side runs out, more on the other
    (`centre` 0: from the top). A note above and one below say how many lines were left
    out. Text beyond `max_chars` is never measured: it could not fit."""
    if len(code) <= max_chars and fits(code):
        return code
    lines = _LINE_BREAK.split(code)
    centre = min(max(centre, 0), len(lines) - 1)
    offsets = [0, *itertools.accumulate(len(line) + 1 for line in lines)]

    def window(size: int) -> tuple[int, int]:
        # Windows grow by one line at a time and hold every smaller one: sizes bisect.
        start = max(0, min(centre - size // 2, len(lines) - size))
        return start, start + size

    def cut(size: int) -> str:
        start, end = window(size)
        above = [f"… ({start} lines above not shown)"] if start else []
        below = [f"… ({len(lines) - end} more lines not shown)"] if end < len(lines) else []
        return "\n".join([*above, *lines[start:end], *below])

    def short_enough(size: int) -> bool:
        start, end = window(size)
        return offsets[end] - offsets[start] <= max_chars

    return cut(_largest(lambda size: fits(cut(size)), _largest(short_enough, len(lines))))


def _largest(ok: Callable[[int], bool], high: int) -> int:
    """The largest n in 0..high with ok(n), for an `ok` that holds up to some n and not after
    (0 when none does)."""
    low = 0
    while low < high:
        middle = (low + high + 1) // 2
        if ok(middle):
            low = middle
        else:
            high = middle - 1
    return low
