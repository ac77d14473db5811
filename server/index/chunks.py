"""Cutting a file into the pieces the index finds: definitions where the file can be parsed,
runs of lines elsewhere.

Python is cut with `ast`: each function, each class's header (its line, docstring and class
attributes) and each method, and the module's other statements in runs. Other files are cut
at top-level lines (no indentation) that follow a blank line, in runs of at most
`MAX_CHUNK_LINES`. A chunk knows the names it defines, which search weighs above mere uses.
"""

import ast
from dataclasses import dataclass

MAX_CHUNK_LINES = 60
"""Longer definitions are cut into runs of this many lines."""
MAX_CHUNK_CHARS = 6_000

Span = tuple[int, int, tuple[str, ...]]
"""First line, last line (0-based, inclusive), names defined."""


@dataclass(frozen=True)
class Chunk:
    path: str
    """Workspace-relative, `/`-separated."""
    start: int
    """First line, 0-based."""
    end: int
    """Last line, 0-based, inclusive."""
    text: str
    names: tuple[str, ...] = ()
    """Functions, classes and methods it defines."""


def chunk_file(path: str, text: str) -> list[Chunk]:
    lines = text.splitlines()
    if not lines:
        return []
    spans: list[Span] | None = None
    if path.endswith((".py", ".pyi")):
        spans = _python_spans(text, len(lines))
    if spans is None:
        spans = _plain_spans(lines)
    chunks = []
    for start, end, names in spans:
        for first in range(start, end + 1, MAX_CHUNK_LINES):
            last = min(end, first + MAX_CHUNK_LINES - 1)
            body = "\n".join(lines[first : last + 1])[:MAX_CHUNK_CHARS]
            if body.strip():
                chunks.append(Chunk(path, first, last, body, names if first == start else ()))
    return chunks


def _python_spans(text: str, count: int) -> list[Span] | None:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    spans: list[Span] = []
    covered = [False] * count
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            spans.extend(_definition_spans(node))
            for line in range(_first_line(node), _last_line(node) + 1):
                covered[line] = True
    run_start = None
    for line in range(count + 1):
        loose = line < count and not covered[line]
        if loose and run_start is None:
            run_start = line
        elif not loose and run_start is not None:
            spans.append((run_start, line - 1, ()))
            run_start = None
    return sorted(spans)


def _definition_spans(node: ast.stmt) -> list[Span]:
    first, last = _first_line(node), _last_line(node)
    if not isinstance(node, ast.ClassDef):
        return [(first, last, (getattr(node, "name", ""),))]
    methods = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if not methods or last - first < MAX_CHUNK_LINES:
        return [(first, last, (node.name, *(m.name for m in methods)))]
    header_end = _first_line(methods[0]) - 1
    spans: list[Span] = [(first, max(first, header_end), (node.name,))]
    for method in methods:
        spans.append((_first_line(method), _last_line(method), (f"{node.name}.{method.name}",)))
    return spans


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)]) - 1


def _last_line(node: ast.stmt) -> int:
    return (node.end_lineno or node.lineno) - 1


def _plain_spans(lines: list[str]) -> list[Span]:
    spans: list[Span] = []
    start = 0
    for i in range(1, len(lines)):
        top_level = lines[i][:1] not in ("", " ", "\t", "}", ")", "]")
        if (top_level and not lines[i - 1].strip()) or i - start >= MAX_CHUNK_LINES:
            spans.append((start, i - 1, ()))
            start = i
    spans.append((start, len(lines) - 1, ()))
    return spans
