"""Turning an answer into an edit: the code it offers, fitted to the place it goes.

The code comes from `extract_code` (the same function `starchat eval` scores), so a fence or
prose never lands in a file. It is re-indented to match the original, gets the document's
line endings, and keeps the original's trailing newline (or lack of one), so a replacement
of exactly the target range leaves the surrounding code untouched. Tests go to a file beside
the source named by the language's convention, and only inside the workspace folder that
holds the source: a URI the editor sends may be crafted (`..`, `%2F`, another scheme or
host), so the test file's path is decoded, normalised and checked before the model runs.
"""

import os
import posixpath
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
    line_start = document.line_start(document.line_of(target.span.start))
    before = document.text[line_start : target.span.start]
    text = reindent(code, before + target.code)
    if before:  # the range starts inside its first line, after what `before` holds
        text = text[len(text) - len(text.lstrip(" \t")) :]
    text = text.rstrip("\r\n") + ("\n" if target.code.endswith(("\n", "\r")) else "")
    return with_line_endings(text, document.text)


def with_line_endings(text: str, like: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", line_ending(like))


def line_ending(text: str) -> str:
    """The document's line break (that of its first line), "\\n" when it has none."""
    index = text.find("\n")
    return "\r\n" if index > 0 and text[index - 1] == "\r" else "\n"


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


def replace_edit(document: Document, span: Span, text: str, versioned: bool) -> types.WorkspaceEdit:
    """Replace exactly `span`; versioned, the client rejects it if the document changed."""
    edit = types.TextEdit(document.range(span), text)
    if versioned:
        identifier = types.OptionalVersionedTextDocumentIdentifier(document.uri, document.version)
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(identifier, [edit])])
    return types.WorkspaceEdit(changes={document.uri: [edit]})


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
    test: UnitTestFile,
    code: str,
    existing: Document | None,
    encoding: str,
    capabilities: types.ClientCapabilities | None,
) -> types.WorkspaceEdit:
    """Append `code` to the test file, or create it (a create-file operation when the
    client supports one; otherwise an edit the client applies to a new, unsaved buffer).

    `existing` is the test file if the editor has it open; otherwise it is read from disk
    (read only to find its end)."""
    version: int | None = None
    if existing is not None:
        current: str | None = existing.text
        version = existing.version
    else:
        current = _read_disk(test.uri)
    if current is not None:
        end = Document(test.uri, current, 0, "", encoding).position(len(current))
        separator = "" if not current.strip() else "\n\n" if current.endswith("\n") else "\n\n\n"
        text = with_line_endings(separator + code.rstrip("\n") + "\n", current)
        edit = types.TextEdit(types.Range(end, end), text)
        if supports_document_changes(capabilities):
            identifier = types.OptionalVersionedTextDocumentIdentifier(test.uri, version)
            return types.WorkspaceEdit(
                document_changes=[types.TextDocumentEdit(identifier, [edit])]
            )
        return types.WorkspaceEdit(changes={test.uri: [edit]})
    insert = types.TextEdit(
        types.Range(types.Position(0, 0), types.Position(0, 0)), code.rstrip("\n") + "\n"
    )
    if supports_create(capabilities):
        return types.WorkspaceEdit(
            document_changes=[
                types.CreateFile(test.uri, options=types.CreateFileOptions(ignore_if_exists=True)),
                types.TextDocumentEdit(
                    types.OptionalVersionedTextDocumentIdentifier(test.uri, None), [insert]
                ),
            ]
        )
    return types.WorkspaceEdit(changes={test.uri: [insert]})


def _read_disk(uri: str) -> str | None:
    path = uri_path(uri)
    if urlparse(uri).scheme != "file" or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="replace", newline="") as file:
        return file.read()
