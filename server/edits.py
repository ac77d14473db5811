"""Turning an answer into an edit: the code it offers, fitted to the place it goes.

The code comes from `extract_code` (the same function `starchat eval` scores), so a fence or
prose never lands in a file. It is re-indented to match the original, gets the document's
line endings, and keeps the original's trailing newline (or lack of one), so a replacement
of exactly the target range leaves the surrounding code untouched. Tests go to a file beside
the source named by the language's convention, and only inside the workspace folder that
holds the source: a URI the editor sends may be crafted (`..`, `%2F`, another scheme or
host), so the test file's path is decoded, normalised and checked before the model runs.
"""

import ast
import os
import posixpath
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse, urlunparse

from lsprotocol import types
from starchat.prompts import extract_code, reindent
from starchat.server.context import Target, uri_path
from starchat.server.documents import Document, Span
from starchat.server.lsp.errors import UserInputError


def replacement(answer: str, document: Document, target: Target, language: str) -> str | None:
    """The text to put in place of `target`, or None when the answer holds no code."""
    code = extract_code(answer, language)
    if code is None or not code.strip():
        return None
    if language == "python":
        code = only_the_target(code, target.code, document.text)
    line_start = document.line_start(document.line_of(target.span.start))
    before = document.text[line_start : target.span.start]
    text = reindent(code, before + target.code)
    if before:  # the range starts inside its first line, after what `before` holds
        text = text[len(text) - len(text.lstrip(" \t")) :]
    text = text.rstrip("\r\n") + ("\n" if target.code.endswith(("\n", "\r")) else "")
    return with_line_endings(text, document.text)


_DEFINITION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def only_the_target(code: str, target_code: str, document_text: str) -> str:
    """Python: when an answer for one function or class holds it among code the file already
    has (the whole file, repeated), that definition alone; otherwise `code` unchanged."""
    try:
        offered = ast.parse(textwrap.dedent(code))
        wanted = ast.parse(textwrap.dedent(target_code))
        document = ast.parse(document_text.replace("\r\n", "\n").replace("\r", "\n"))
    except (SyntaxError, ValueError):
        return code
    if len(offered.body) < 2 or len(wanted.body) != 1:
        return code
    if not isinstance(wanted.body[0], _DEFINITION):
        return code
    name = wanted.body[0].name
    found = [n for n in ast.walk(offered) if isinstance(n, _DEFINITION) and n.name == name]
    if len(found) != 1:
        return code
    node = found[0]
    known = {ast.dump(n) for n in ast.walk(document) if isinstance(n, ast.stmt)}
    for statement in offered.body:
        if node not in ast.walk(statement) and ast.dump(statement) not in known:
            return code  # something new besides the definition: leave it to the checks
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    lines = textwrap.dedent(code).split("\n")
    return "\n".join(lines[first - 1 : node.end_lineno])


def with_line_endings(text: str, like: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", line_ending(like))


def line_ending(text: str) -> str:
    """The document's line break (that of its first line), "\\n" when it has none."""
    index = text.find("\n")
    return "\r\n" if index > 0 and text[index - 1] == "\r" else "\n"


ANNOTATION_ID = "starchat"


@dataclass(frozen=True)
class EditStyle:
    """How this client takes edits: versioned (`documentChanges`), with file creation, and,
    for a preview, with a change annotation that asks the user to confirm."""

    versioned: bool
    create: bool
    annotation: types.ChangeAnnotation | None = None

    @classmethod
    def of(
        cls, capabilities: types.ClientCapabilities | None, label: str, preview: bool
    ) -> "EditStyle":
        versioned = supports_document_changes(capabilities)
        edit = (
            capabilities.workspace.workspace_edit
            if capabilities and capabilities.workspace
            else None
        )
        annotate = preview and versioned and edit is not None and edit.change_annotation_support
        annotation = (
            types.ChangeAnnotation(
                label,
                needs_confirmation=True,
                description="Written by the model: review the change before applying it",
            )
            if annotate
            else None
        )
        return cls(versioned, supports_create(capabilities), annotation)

    def plain(self) -> "EditStyle":
        """The same edits without asking for confirmation (the user already chose)."""
        return replace(self, annotation=None)

    def workspace_edit(
        self, uri: str, version: int | None, range_: types.Range, text: str, create: bool = False
    ) -> types.WorkspaceEdit:
        """Replace `range_` of `uri` with `text` (after creating the file, with `create`):
        versioned where the client can take it, annotated for a preview where asked."""
        if not self.versioned:
            return types.WorkspaceEdit(changes={uri: [types.TextEdit(range_, text)]})
        edit: types.TextEdit | types.AnnotatedTextEdit = types.TextEdit(range_, text)
        annotation_id = ANNOTATION_ID if self.annotation is not None else None
        if annotation_id is not None:
            edit = types.AnnotatedTextEdit(annotation_id, range_, text)
        identifier = types.OptionalVersionedTextDocumentIdentifier(uri, version)
        changes: list[types.TextDocumentEdit | types.CreateFile] = [
            types.TextDocumentEdit(identifier, [edit])
        ]
        if create:
            options = types.CreateFileOptions(ignore_if_exists=True)
            changes.insert(0, types.CreateFile(uri, options=options, annotation_id=annotation_id))
        annotations = {ANNOTATION_ID: self.annotation} if self.annotation else None
        return types.WorkspaceEdit(document_changes=changes, change_annotations=annotations)


def supports_document_changes(capabilities: types.ClientCapabilities | None) -> bool:
    """Whether the client takes `documentChanges` (versioned edits, file creation); a client
    that lists resource operations must, even if it does not say so (Neovim 0.7)."""
    edit = (
        capabilities.workspace.workspace_edit if capabilities and capabilities.workspace else None
    )
    return bool(edit and (edit.document_changes or edit.resource_operations))


def supports_create(capabilities: types.ClientCapabilities | None) -> bool:
    edit = (
        capabilities.workspace.workspace_edit if capabilities and capabilities.workspace else None
    )
    return bool(edit and types.ResourceOperationKind.Create in (edit.resource_operations or []))


def replace_edit(
    document: Document, span: Span, text: str, style: EditStyle
) -> types.WorkspaceEdit:
    """Replace exactly `span`; versioned, the client rejects it if the document changed."""
    return style.workspace_edit(document.uri, document.version, document.range(span), text)


@dataclass(frozen=True)
class UnitTestFile:
    uri: str
    module: str
    """How the tests import the code under test."""
    framework: str


_TEST_CONVENTIONS = {
    "python": ("test_{stem}{ext}", "pytest"),
    "javascript": ("{stem}.test{ext}", "the node:test runner"),
    "javascriptreact": ("{stem}.test{ext}", "Jest and React Testing Library"),
    "typescript": ("{stem}.test{ext}", "the node:test runner"),
    "typescriptreact": ("{stem}.test{ext}", "Jest and React Testing Library"),
    "go": ("{stem}_test{ext}", "the testing package"),
    "ruby": ("{stem}_spec{ext}", "RSpec"),
}


def unit_test_file(uri: str, relative: str, language: str) -> UnitTestFile:
    """Where tests for the document at `uri` (`relative` to its workspace) go."""
    parsed = urlparse(uri)
    folder, name = posixpath.split(parsed.path)
    stem, ext = posixpath.splitext(name)
    pattern, framework = _TEST_CONVENTIONS.get(language, ("test_{stem}{ext}", ""))
    test_name = pattern.format(stem=stem, ext=ext)
    test_uri = urlunparse(parsed._replace(path=posixpath.join(folder, test_name)))
    if language == "python":
        module = posixpath.splitext(relative)[0].replace("/", ".")
        module = module.removeprefix("src.")
    else:
        module = f"./{stem}"
    return UnitTestFile(test_uri, module, framework)


def confine_test_file(test: UnitTestFile, source_uri: str, roots: Iterable[str]) -> UnitTestFile:
    """`test` with a canonical `file:` URI, if the source is a local file inside one of the
    workspace folders `roots` and the test file lands beside it, in that folder (symbolic
    links followed); otherwise a `UserInputError` saying why nothing will be written."""
    source, path = _local_path(source_uri), _local_path(test.uri)
    if source is None or path is None:
        raise UserInputError(
            f"Write tests only writes beside a file saved on this machine; {source_uri} is not "
            "one (save it inside the workspace first)"
        )
    folders = [p for p in (_local_path(root) for root in roots if root) if p is not None]
    folder = next((f for f in folders if _within(source, f)), None)
    if folder is None or posixpath.dirname(path) != posixpath.dirname(source):
        raise UserInputError(
            f"Write tests only writes inside the workspace folder that holds the source; "
            f"{source} is not inside one ({', '.join(folders) or 'no folder is open'})"
        )
    real_folder = os.path.realpath(folder)
    if not _within(os.path.realpath(posixpath.dirname(path)), real_folder):
        raise UserInputError(
            f"Write tests only writes inside the workspace; {posixpath.dirname(path)} leads "
            f"outside {folder} through a symbolic link"
        )
    return replace(test, uri=PurePosixPath(path).as_uri())


def _local_path(uri: str) -> str | None:
    """The normalised, absolute path of a `file:` URI on this machine, else None."""
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    path = unquote(parsed.path)
    if not path.startswith("/") or "\x00" in path:
        return None
    return posixpath.normpath("/" + path.lstrip("/"))


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def unit_test_edit(
    test: UnitTestFile, code: str, existing: Document | None, encoding: str, style: EditStyle
) -> types.WorkspaceEdit:
    """Append `code` to the test file, without the imports it already has, or create it (a
    create-file operation when the client supports one; otherwise an edit the client
    applies to a new, unsaved buffer).

    `existing` is the test file if the editor has it open; otherwise it is read from disk
    (read only to find its end and its imports)."""
    version: int | None = None
    if existing is not None:
        current: str | None = existing.text
        version = existing.version
    else:
        current = read_disk(test.uri)
    if current is not None:
        code = without_known_imports(code, current)
        end = Document(test.uri, current, 0, "", encoding).position(len(current))
        separator = "" if not current.strip() else "\n\n" if current.endswith("\n") else "\n\n\n"
        text = with_line_endings(separator + code.rstrip("\n") + "\n", current)
        return style.workspace_edit(test.uri, version, types.Range(end, end), text)
    start = types.Range(types.Position(0, 0), types.Position(0, 0))
    text = code.rstrip("\n") + "\n"
    return replace(style, versioned=style.versioned and style.create).workspace_edit(
        test.uri, None, start, text, create=style.create
    )


def without_known_imports(code: str, current: str) -> str:
    """`code` without the imports `current` already has: a repeated import line goes, and a
    Python `from m import a, b` keeps only the names not yet imported from `m`."""
    known = {_squeeze(line) for line in current.splitlines() if _IMPORT.match(line)}
    names = _python_imported(current)
    kept: list[str] = []
    for line in code.split("\n"):
        if not _IMPORT.match(line):
            kept.append(line)
        elif _squeeze(line) not in known:
            kept += [missing] if (missing := _missing_names(line, names)) is not None else []
    return "\n".join(kept).lstrip("\n")


_IMPORT = re.compile(r"^(import|from|#include|use|require)\b|^(const|let|var)\b.*\brequire\(")


def _python_imported(text: str) -> set[tuple[str, str, str | None]]:
    """(module, name, alias) of each name a Python text imports ("" module for `import`)."""
    try:
        tree = ast.parse(text.replace("\r\n", "\n"))
    except (SyntaxError, ValueError):
        return set()
    found: set[tuple[str, str, str | None]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = getattr(node, "module", None) or ""
            found.update((module, alias.name, alias.asname) for alias in node.names)
    return found


def _missing_names(line: str, known: set[tuple[str, str, str | None]]) -> str | None:
    """An import line with the names already imported taken out (None: all were)."""
    try:
        (node,) = ast.parse(line.strip()).body
    except (SyntaxError, ValueError):
        return line
    if not isinstance(node, ast.Import | ast.ImportFrom):
        return line
    module = getattr(node, "module", None) or ""
    missing = [a for a in node.names if (module, a.name, a.asname) not in known]
    if not missing:
        return None
    if len(missing) == len(node.names):
        return line
    node.names = missing
    return ast.unparse(node)


def _squeeze(line: str) -> str:
    return re.sub(r"\s+", "", line).rstrip(";")


def read_disk(uri: str) -> str | None:
    path = uri_path(uri)
    if urlparse(uri).scheme != "file" or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="replace", newline="") as file:
        return file.read()
