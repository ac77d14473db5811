"""Applying LSP text edits in the tests, independently of the server's own position code."""

from lsprotocol import types


def column(line: str, character: int, encoding: str) -> int:
    """The code-point index of an LSP character offset."""
    codec = {"utf-8": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}[encoding]
    unit = {"utf-8": 1, "utf-16": 2, "utf-32": 4}[encoding]
    return len(line.encode(codec)[: character * unit].decode(codec))


def units(text: str, encoding: str) -> int:
    codec = {"utf-8": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}[encoding]
    return len(text.encode(codec)) // {"utf-8": 1, "utf-16": 2, "utf-32": 4}[encoding]


def offset(text: str, position: types.Position, encoding: str) -> int:
    lines = text.split("\n")
    before = sum(len(line) + 1 for line in lines[: position.line])
    return before + column(lines[position.line], position.character, encoding)


def apply(
    text: str, edit: types.TextEdit | types.AnnotatedTextEdit, encoding: str = "utf-16"
) -> str:
    start = offset(text, edit.range.start, encoding)
    end = offset(text, edit.range.end, encoding)
    return text[:start] + edit.new_text + text[end:]


def text_edits(
    edit: types.WorkspaceEdit, uri: str
) -> list[types.TextEdit | types.AnnotatedTextEdit]:
    """The text edits `edit` makes to `uri`, whichever form it takes (annotated or not)."""
    if edit.changes:
        return list(edit.changes.get(uri, []))
    found: list[types.TextEdit | types.AnnotatedTextEdit] = []
    for change in edit.document_changes or []:
        if isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri:
            found += [
                e for e in change.edits if isinstance(e, types.TextEdit | types.AnnotatedTextEdit)
            ]
    return found
