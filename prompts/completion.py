"""Reading a completion: what part of the model's middle fits the cursor.

The other half of the fill-in-the-middle format (fim.py), used by the server's inline
completions and by `starchat eval infilling` alike, so that evaluation scores what the editor
shows. A model asked for a middle may write more than belongs there; the rules:

- **One line** when the cursor is inside a line's code (text before it on the line, or code
  after it), or on a blank line that does not open a block: the completion ends at the line's
  end.
- **A block** on a blank line after a block opener (a line ending in `:`, `{`, `(`, `[`, `=>`,
  `->`, `do`, `then`; or such a line, then a docstring or comments) whose block is still
  empty (no code after the cursor goes on inside it): lines go on while they stay indented
  at least as deep as the first; a dedent ends the block (a closing bracket at the
  opener's depth is kept when the code after the cursor does not close it already). Where
  the block already has a body below the cursor, one line.
- After the indentation of an otherwise empty line, the model's leading spaces are dropped
  (the editor indented the line already) — unless the cursor sits between two indentation
  levels (the user is still typing the indentation) and the model's spaces complete it.
- What the code after the cursor already holds is not written twice: closing brackets the
  editor inserted after the cursor, and whole lines that repeat the lines that follow.
- A blank completion is no completion.
"""

import re
from collections import Counter
from dataclasses import dataclass

_OPENER = re.compile(r"(?:[:{(\[]|=>|->|\bdo|\bthen)\s*$")
_CLOSERS = frozenset(")]}>\"'`;:,")
_CLOSING_LINE = re.compile(r"^\s*[)\]}]+[;,)]*\s*$")


@dataclass(frozen=True)
class Shape:
    """How much a completion at this cursor may write."""

    multiline: bool
    line_before: str
    """The cursor's line up to the cursor."""
    line_after: str
    """The cursor's line after the cursor (no line break)."""
    opener_indent: str
    """Indentation of the line that opened the block (when the cursor's line follows one)."""
    following: tuple[str, ...]
    """The next few non-blank lines after the cursor's line, stripped (for repeats)."""
    typing_indent: int = 0
    """The code's indentation step (the commonest step up before the cursor) when the cursor
    sits between two of its levels, not where auto-indent puts it: the user is still typing
    the indentation. 0 otherwise."""


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def shape_at(prefix: str, suffix: str) -> Shape:
    """The shape of a completion between `prefix` and `suffix` (the document split at the
    cursor)."""
    before = prefix[prefix.rfind("\n") + 1 :]
    line_end = suffix.find("\n")
    after = (suffix if line_end < 0 else suffix[:line_end]).rstrip("\r")
    rest = "" if line_end < 0 else suffix[line_end + 1 :]
    following = tuple(line.strip() for line in rest[:4000].splitlines() if line.strip())[:8]
    opener = ""
    multiline = False
    if not before.strip() and not after.strip():
        previous = prefix[: len(prefix) - len(before)].rstrip("\r\n")
        opener_indent = _opener_above(previous)
        if opener_indent is not None:
            opener = opener_indent
            below = next((line for line in rest[:4000].splitlines() if _is_code(line)), "")
            multiline = len(_indent(below)) <= len(opener)
    return Shape(multiline, before, after, opener, following, _typing_indent(prefix, before))


def _opener_above(code: str) -> str | None:
    """The indentation of the block opener that `code` ends with — or of the one above the
    docstring that `code` ends with (a `def` and its docstring: the block has no body yet)
    — or None. Blank lines and comments in between do not count. The block's lines are
    indented deeper than what is returned."""
    lines = [line for line in code[-4000:].splitlines() if line.strip()]
    while lines and not _is_code(lines[-1]):
        lines.pop()  # comments above the cursor are not the block's body
    if not lines:
        return None
    last = lines[-1]
    if _OPENER.search(_code_part(last)):
        return _indent(last)
    quote = last.rstrip()[-3:]
    if quote not in ('"""', "'''"):
        return None
    start = len(lines) - 1
    if last.count(quote) < 2:  # the docstring began on an earlier line
        start = next((i for i in range(start - 1, -1, -1) if quote in lines[i]), -1)
    if start < 1 or not lines[start].lstrip().lstrip("rRuUbBfF").startswith(quote):
        return None
    above, body = _indent(lines[start - 1]), _indent(lines[start])
    if not _OPENER.search(_code_part(lines[start - 1])) or not body:
        return None
    # A signature over several lines may end deeper than the body: the body's depth decides.
    return above if len(above) < len(body) else body[:-1]


def _typing_indent(prefix: str, before: str) -> int:
    if not before or before.strip():
        return 0
    above = prefix[: len(prefix) - len(before)].rstrip()
    previous = above[above.rfind("\n") + 1 :]
    unit = _indent_unit(above[-4000:])
    at_level = len(before) % unit == 0 or before == _indent(previous)
    return 0 if at_level else unit


def _indent_unit(code: str) -> int:
    """The commonest step by which a line is indented deeper than the line before it."""
    steps: Counter[int] = Counter()
    previous = None
    for line in code.splitlines():
        if not line.strip():
            continue
        width = len(_indent(line))
        if previous is not None and width > previous:
            steps[width - previous] += 1
        previous = width
    return steps.most_common(1)[0][0] if steps else 4


def _is_code(line: str) -> bool:
    """Whether `line` holds code: not blank, not only a comment."""
    return bool(line.strip()) and not line.lstrip().startswith(("#", "//"))


def _code_part(line: str) -> str:
    """`line` without a trailing `#` or `//` comment (rough: enough to see an opener)."""
    for marker in (" #", "\t#", " //", "\t//"):
        cut = line.find(marker)
        if cut >= 0:
            line = line[:cut]
    return line.rstrip()


def _block_lines(shape: Shape, text: str, final: bool) -> tuple[list[str], bool]:
    """The lines of `text` that stay in the block, and whether the block has ended. Unless
    `final`, the last line is still being written and is not judged yet."""
    lines = text.split("\n")
    partial = lines[-1].strip()
    judged = lines if final or (partial and partial[0] not in ")]}") else lines[:-1]
    first = shape.line_before + lines[0]
    depth = len(_indent(first)) if first.strip() else None
    kept: list[str] = []
    for index, line in enumerate(judged):
        if index == 0 or not line.strip():
            kept.append(line)
            continue
        indent = len(_indent(line))
        if depth is None:  # the model began with a line break: the block starts here
            if indent <= len(shape.opener_indent):
                return kept, True
            depth = indent
        if indent < depth:
            if _CLOSING_LINE.match(line) and indent == len(shape.opener_indent):
                kept.append(line)
            return kept, True
        kept.append(line)
    return kept + lines[len(judged) :], False


def _unindented(shape: Shape, text: str) -> str:
    """`text` without the model's leading spaces where the editor indented the line already.

    After auto-indent the cursor sits at an indentation level, and the model's own leading
    spaces would indent the line twice (a model whose tokens carry their leading space
    writes one more there). Between two levels the user is still typing the indentation:
    spaces that complete it are kept."""
    if not shape.line_before or shape.line_before.strip():
        return text
    body = text.lstrip(" \t")
    lead = len(text) - len(body)
    step = shape.typing_indent
    if lead and step and (len(shape.line_before) + lead) % step == 0:
        return text
    return body


def enough(shape: Shape, text: str) -> bool:
    """Whether `text` (the middle so far) already holds all the completion can use, so that
    decoding can stop."""
    text = _unindented(shape, text)
    if not shape.multiline:
        return "\n" in text
    return _block_lines(shape, text, final=False)[1]


@dataclass(frozen=True)
class Infill:
    """What to insert at the cursor, and how many characters after it the insert replaces
    (closing brackets on the cursor's line that the completion writes itself)."""

    text: str
    replaces: int = 0


def finish(shape: Shape, text: str) -> Infill | None:
    """The part of the model's middle `text` to offer at the cursor, or None."""
    text = _unindented(shape, text)
    if shape.multiline:
        lines, _ = _block_lines(shape, text.replace("\r\n", "\n"), final=True)
        body = "\n".join(_without_repeats(lines, shape.following)).rstrip()
        return Infill(body) if body.strip() else None
    line = text.replace("\r\n", "\n").split("\n", 1)[0].rstrip()
    return _fit_line(shape, line)


def _without_repeats(lines: list[str], following: tuple[str, ...]) -> list[str]:
    """`lines` without a tail that repeats the lines after the cursor."""
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    written = [line.strip() for line in lines]
    for size in range(min(len(written), len(following)), 0, -1):
        tail = written[-size:]
        if tail == list(following[:size]) and any(tail):
            return lines[:-size]
    return lines


def _fit_line(shape: Shape, line: str) -> Infill | None:
    """A one-line completion that does not double what follows the cursor on its line."""
    after = shape.line_after.rstrip()
    if not line.strip():
        return None
    if not after:
        return Infill(line)
    if line.endswith(after):
        line = line[: len(line) - len(after)]
    elif after.strip() and set(after.strip()) <= _CLOSERS:
        overlap = next(
            (k for k in range(len(after), 0, -1) if line.endswith(after[:k])),
            0,
        )
        if overlap:
            line = line[: len(line) - overlap]
        elif _in_order(after.strip(), line):
            # The completion closes what the editor auto-closed, in its own way: replace it.
            return Infill(line, replaces=len(shape.line_after.rstrip()))
    return Infill(line) if line.strip() else None


def _in_order(chars: str, text: str) -> bool:
    position = 0
    for char in chars:
        position = text.find(char, position)
        if position < 0:
            return False
        position += 1
    return True
