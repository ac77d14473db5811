"""The one error a user of `starchat eval` sees as a message instead of a traceback, and the
reading of user-written JSONL files, whose every mistake is such an error naming its line."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class EvalError(Exception):
    """Bad input or an unusable environment, described so the user can fix it."""


class OtherRunError(EvalError):
    """The output folder holds results of a different run; nothing there was touched."""


class UnsafeOutputError(EvalError):
    """The output folder is, or holds, a link; nothing was written through it."""


def jsonl_objects(path: Path, what: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """("<path> line N", object) for each non-blank line of a JSONL file written by a user.

    An unreadable file, invalid JSON or a line that is not an object is an EvalError naming
    `what` (e.g. "samples file") or the line.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise EvalError(f"cannot read the {what} {path}: {error.strerror}") from error
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise EvalError(f"{where} is not valid JSON: {error}") from error
        if not isinstance(row, dict):
            raise EvalError(f"{where} must be a JSON object")
        yield where, row
