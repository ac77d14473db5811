"""Code from elsewhere in the workspace for a prompt: the chunks the index finds for a
question, and the definitions of the names a piece of code uses.

`fit_references` keeps whole references, best first, while the prompt stays within its
budget and the references within their own; a reference that does not fit is left out, never
cut. The prompt names each one's file and lines, and the result lists them, so what was sent
is never hidden from the user.
"""

import ast
import builtins
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starchat.prompts.files import environment
from starchat.server.context import language_of_path
from starchat.server.index.chunks import Chunk
from starchat.server.index.workspace import WorkspaceIndex

MAX_REFERENCES = 8
DEFAULT_REFERENCE_TOKENS = 1024
"""How many tokens of a prompt workspace references may take by default
(`workspaceContextTokens`)."""
_IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]{2,}\b")
_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class Reference:
    uri: str
    path: str
    """Workspace-relative, as the prompt shows it."""
    start: int
    """First line, 0-based."""
    end: int
    """Last line, 0-based, inclusive."""
    text: str
    fence: str

    @property
    def first_line(self) -> int:
        return self.start + 1

    @property
    def last_line(self) -> int:
        return self.end + 1

    def to_json(self) -> dict[str, object]:
        """`{uri, range}`, as the chat result lists it."""
        end = {"line": self.end, "character": len(self.text.rsplit("\n", 1)[-1])}
        return {
            "uri": self.uri,
            "range": {"start": {"line": self.start, "character": 0}, "end": end},
        }


def related(
    index: WorkspaceIndex, question: str, skip: list[Path], limit: int = MAX_REFERENCES
) -> list[Reference]:
    """The chunks that best match `question`, outside the `skip` files (already shown)."""
    return [_reference(index, hit.chunk) for hit in index.search(question, limit, skip)]


def definitions_used(
    index: WorkspaceIndex, code: str, skip: list[Path], limit: int = MAX_REFERENCES
) -> list[Reference]:
    """Where the names `code` uses but does not define are defined in the workspace."""
    found: list[Reference] = []
    seen: set[tuple[str, int]] = set()
    for name in used_names(code):
        for hit in index.search(name, 3, skip):
            chunk = hit.chunk
            defined = {n.rsplit(".", 1)[-1] for n in chunk.names}
            if name in defined and (chunk.path, chunk.start) not in seen:
                seen.add((chunk.path, chunk.start))
                found.append(_reference(index, chunk))
                break
        if len(found) >= limit:
            break
    return found


def used_names(code: str) -> list[str]:
    """Names `code` uses and does not define, in order of first use. Python code is read
    with `ast` (names, attributes, calls); other code by its identifiers."""
    try:
        tree = ast.parse(textwrap.dedent(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return list(dict.fromkeys(_IDENTIFIER.findall(code)))
    defined = set(_BUILTINS)
    used: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, ast.Name):
            used.append((node.lineno, node.col_offset, node.id))
        elif isinstance(node, ast.Attribute):
            used.append((node.end_lineno or node.lineno, node.end_col_offset or 0, node.attr))
    names = dict.fromkeys(name for _, _, name in sorted(used))
    return [name for name in names if name not in defined]


def fit_references(
    references: list[Reference],
    render: Callable[[list[Reference]], str],
    fits: Callable[[str], bool],
) -> list[Reference]:
    """The references, best first, whose `render(kept)` still `fits`; each whole or not at
    all (a later, shorter one may fit where a longer one did not)."""
    kept: list[Reference] = []
    for reference in references:
        trial = [*kept, reference]
        if fits(render(trial)):
            kept = trial
    return kept


def add_references(
    user: str,
    references: list[Reference],
    count: Callable[[str], int],
    budget: int,
    limit: int = DEFAULT_REFERENCE_TOKENS,
) -> tuple[str, list[Reference]]:
    """`user` (the user turn, already within budget) with the references that fit appended:
    `count(turn)` (the prompt's tokens with that user turn) stays within `budget`, and the
    references add at most `limit` tokens. Returns the turn and the references it holds."""
    if not references or limit <= 0:
        return user, []
    base = count(user)

    def turn(kept: list[Reference]) -> str:
        return f"{user}\n\n{render_references(kept)}"

    def fits(text: str) -> bool:
        tokens = count(text)
        return tokens <= budget and tokens - base <= limit

    kept = fit_references(references, turn, fits)
    return (turn(kept), kept) if kept else (user, [])


class Referencing:
    """A user-turn builder (turns.BuildUser) that appends the workspace references `find`
    gives for the turn another builder made, and remembers the ones it kept."""

    def __init__(
        self,
        build: Callable[[Callable[[str], int], int], str],
        find: Callable[[str], list[Reference]],
        limit: int,
    ) -> None:
        self._build, self._find, self._limit = build, find, limit
        self.kept: list[Reference] = []

    def __call__(self, count: Callable[[str], int], budget: int) -> str:
        user = self._build(count, budget)
        if self._limit <= 0:
            return user
        user, self.kept = add_references(user, self._find(user), count, budget, self._limit)
        return user


def file_references(index: WorkspaceIndex, path: Path) -> list[Reference]:
    """Every indexed chunk of one file, in order (a file the user named)."""
    return [_reference(index, chunk) for chunk in index.chunks_of(path)]


def render_references(references: list[Reference]) -> str:
    if not references:
        return ""
    return environment().get_template("references.jinja").render(references=references).strip()


def _reference(index: WorkspaceIndex, chunk: Chunk) -> Reference:
    path = index.path_of(chunk)
    return Reference(path.as_uri(), chunk.path, chunk.start, chunk.end, chunk.text, _fence(path))


def _fence(path: Path) -> str:
    return language_of_path(path.name)
