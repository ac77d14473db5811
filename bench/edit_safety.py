"""Are the edits the server applies safe? Add docstring and Improve on real functions from
CPython's standard library (as installed here; nobody in this project wrote them), through a
real LSP client over stdio, with the server's default settings (the offline default model
unless --model says otherwise).

Each function is copied into a file of its own in a temporary workspace and opened; the
command runs with the cursor in the function. The client accepts every edit it is sent, as
a user clicking Apply without reading would, and applies it to its copy of the file. Counts:

- applied: edits the server sent with workspace/applyEdit;
- not applied, by reason: answers the server refused (rejected by validation, or unusable);
- applied but unparseable: the file no longer parses as Python after the edit;
- docstring edits that change code: Add docstring edits after which the file's syntax tree
  (docstrings left out) differs from the original's.

Goal: the last two are 0.

    .venv/bin/python bench/edit_safety.py [--model default|DIR] [--actions addDocstring,improve]
"""

import argparse
import ast
import asyncio
import difflib
import importlib
import inspect
import os
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pytest_lsp import client_capabilities
from starchat.server import methods

FUNCTIONS = (
    "textwrap.dedent",
    "shlex.quote",
    "heapq.nsmallest",
    "fnmatch.filter",
    "colorsys.rgb_to_hsv",
    "string.capwords",
)
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


class Client(LanguageClient):
    """Accepts every edit and keeps the text of each file as the edits leave it."""

    def __init__(self) -> None:
        super().__init__("edit-safety-bench", "1")
        self.texts: dict[str, str] = {}
        self.applied: list[types.WorkspaceEdit] = []

        @self.feature(types.WORKSPACE_APPLY_EDIT)
        def apply_edit(
            ls: Client, params: types.ApplyWorkspaceEditParams
        ) -> types.ApplyWorkspaceEditResult:
            ls.applied.append(params.edit)
            for change in params.edit.document_changes or []:
                if isinstance(change, types.TextDocumentEdit):
                    uri = change.text_document.uri
                    ls.texts[uri] = apply_edits(ls.texts.get(uri, ""), change.edits)
            return types.ApplyWorkspaceEditResult(applied=True)

        @self.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create(ls: Client, params: types.WorkDoneProgressCreateParams) -> None:
            return None

        @self.feature(types.WINDOW_SHOW_MESSAGE)
        def show(ls: Client, params: types.ShowMessageParams) -> None:
            return None

        @self.feature(types.WINDOW_SHOW_DOCUMENT)
        def show_document(ls: Client, params: types.ShowDocumentParams) -> types.ShowDocumentResult:
            return types.ShowDocumentResult(success=True)

        @self.feature(methods.STATUS)
        def status(ls: Client, params: Any) -> None:
            return None


def apply_edits(text: str, edits: Any) -> str:
    """Apply LSP edits (ASCII source: characters are code points) from the end backwards."""
    lines = text.split("\n")

    def offset(position: types.Position) -> int:
        return sum(len(line) + 1 for line in lines[: position.line]) + position.character

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character))[::-1]:
        start, end = offset(edit.range.start), offset(edit.range.end)
        text = text[:start] + edit.new_text + text[end:]
    return text


def shape(text: str) -> str | None:
    """The syntax tree without docstrings, or None when the text does not parse."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return ast.dump(tree)


def source_of(dotted: str) -> str:
    module, name = dotted.rsplit(".", 1)
    return textwrap.dedent(inspect.getsource(getattr(importlib.import_module(module), name)))


async def wait_ready(client: Client) -> None:
    while True:
        status = await client.protocol.send_request_async(methods.STATUS, {})
        state = getattr(status, "state", None)
        if state == "ready":
            return
        if state == "error":
            raise SystemExit(f"the model did not load: {getattr(status, 'message', '')}")
        await asyncio.sleep(0.5)


async def start(model: str, workspace: Path) -> Client:
    """The server with default settings (the model aside), ready."""
    client = Client()
    await client.start_io(
        sys.executable, "-m", "starchat.server", "--log-level", "warning", env=ENV
    )
    await client.initialize_async(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            initialization_options={} if model == "default" else {"model": model},
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(workspace.as_uri(), "bench")],
        )
    )
    client.initialized(types.InitializedParams())
    await wait_ready(client)
    return client


async def run_one(client: Client, path: Path, action: str, original: str) -> str | None:
    """Run `action` on the function in `path`; None when an edit was applied, else why not."""
    path.write_text(original)
    uri = path.as_uri()
    client.texts[uri] = original
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, original))
    )
    cursor = types.Position(1, 4)
    before = len(client.applied)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            f"starchat.{action}", [{"uri": uri, "range": {"start": cursor, "end": cursor}}]
        )
    )
    if len(client.applied) > before:
        return None
    message = (result if isinstance(result, dict) else result._asdict()).get("message") or ""
    return message.split("—", 1)[-1].strip().rstrip(".")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="default (offline model) or a path")
    parser.add_argument("--actions", default="addDocstring,improve")
    parser.add_argument("--show", action="store_true", help="print each applied edit as a diff")
    args = parser.parse_args()
    workspace = Path(tempfile.mkdtemp(prefix="edit-safety-"))
    client = await start(args.model, workspace)
    counts: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    started = time.perf_counter()
    for dotted in FUNCTIONS:
        original = source_of(dotted)
        for action in args.actions.split(","):
            path = workspace / f"{dotted.replace('.', '_')}_{action}.py"
            reason = await run_one(client, path, action, original)
            if reason is None:
                after = client.texts[path.as_uri()]
                counts["applied"] += 1
                if args.show:
                    diff = difflib.unified_diff(
                        original.splitlines(), after.splitlines(), lineterm=""
                    )
                    print("\n".join(diff))
                if shape(after) is None:
                    counts["applied but unparseable"] += 1
                elif action == "addDocstring" and shape(after) != shape(original):
                    counts["docstring edits that change code"] += 1
            else:
                counts["not applied"] += 1
                refused[reason.split(" (")[0]] += 1
            print(f"{dotted:22} {action:13} {reason or 'applied'}", flush=True)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    commands = counts["applied"] + counts["not applied"]
    elapsed = time.perf_counter() - started
    print(f"\n{len(FUNCTIONS)} functions, {commands} commands in {elapsed:.0f} s")
    for key in ("applied", "not applied", "applied but unparseable"):
        print(f"{key:34} {counts[key]}")
    print(f"{'docstring edits that change code':34} {counts['docstring edits that change code']}")
    for reason, count in refused.most_common():
        print(f"  not applied — {reason}: {count}")


if __name__ == "__main__":
    asyncio.run(main())
