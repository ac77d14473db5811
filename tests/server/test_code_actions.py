"""Code actions end to end: offered without the model, run through workspace/executeCommand,
answered by a scripted OpenAI-compatible endpoint (the server's openai engine is real), and
checked down to the exact edit the editor receives."""

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from starchat.server import methods

from tests.openai_stub import OpenAIStub
from tests.server.conftest import (
    CONFIG,
    WORKSPACE,
    StarChatClient,
    as_dict,
    initialize_params,
    lsp_range,
    open_document,
    wait_ready,
)
from tests.server.edits import apply, column, text_edits, units

pytestmark = pytest.mark.asyncio(loop_scope="module")

STATS = f"{WORKSPACE}/pkg/stats.py"
STATS_TEXT = textwrap.dedent(
    """\
    import math


    def area(radius):
        return math.pi * radius ** 2


    class Summary:
        def mean(self, values):
            total = 0
            for v in values:
                total += v
            return total / len(value)
    """
)
UNDEFINED = types.Diagnostic(
    types.Range(types.Position(12, 27), types.Position(12, 32)),
    "undefined name 'value'",
    severity=types.DiagnosticSeverity.Error,
    source="pyflakes",
)


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: StarChatClient, scripted_openai: OpenAIStub) -> Any:
    await lsp_client.initialize_session(
        initialize_params(
            {"backend": "openai", "backendUrl": scripted_openai.url, "model": "scripted-starchat"}
        )
    )
    assert (await wait_ready(lsp_client))["state"] == "ready"
    yield
    await lsp_client.shutdown_session()


async def offered(
    client: StarChatClient, uri: str, range_: types.Range, diagnostics: list[types.Diagnostic]
) -> dict[str, types.CodeAction]:
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(uri), range_, types.CodeActionContext(diagnostics)
        )
    )
    return {
        a.command.command: a for a in actions or [] if isinstance(a, types.CodeAction) and a.command
    }


async def run(client: StarChatClient, action: types.CodeAction, token: str | None = None) -> Any:
    assert action.command is not None
    return as_dict(
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                action.command.command, action.command.arguments, work_done_token=token
            )
        )
    )


def cursor(line: int, character: int) -> types.Range:
    return types.Range(types.Position(line, character), types.Position(line, character))


async def test_fix_replaces_the_enclosing_function_with_the_answers_code(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(client, STATS, STATS_TEXT)
    actions = await offered(client, STATS, cursor(12, 30), [UNDEFINED])
    fix = actions["starchat.fix"]
    assert fix.kind == types.CodeActionKind.QuickFix and list(fix.diagnostics or []) == [UNDEFINED]
    assert set(actions) == {
        f"starchat.{n}" for n in ("explain", "fix", "writeTests", "addDocstring", "improve")
    }

    scripted_openai.answer(
        "The loop is fine; the name is wrong.\n\n```python\n"
        "def mean(self, values):\n    total = 0\n    for v in values:\n        total += v\n"
        "    return total / len(values)\n```\n\nI changed `value` to `values`."
    )
    client.edits.clear()
    result = await run(client, fix, token="fix-progress")

    assert result["applied"] is True and set(result) == {
        "applied",
        "text",
        "conversationId",
        "usage",
        "references",
    }
    assert result["usage"]["finishReason"] == "stop"
    assert result["references"] == []  # the test workspace is not on disk: no index
    prompt = scripted_openai.last_user_message()
    assert "- line 13: undefined name 'value' (pyflakes)" in prompt
    assert "def mean(self, values):" in prompt and "def area" not in prompt
    assert "`pkg/stats.py`" in prompt
    (params,) = client.edits
    change = params.edit.document_changes[0]
    assert change.text_document.version == 1  # versioned: the editor rejects a stale edit
    (edit,) = text_edits(params.edit, STATS)
    # VS Code shows it as a diff to apply or discard before anything changes
    assert isinstance(edit, types.AnnotatedTextEdit)
    annotation = params.edit.change_annotations[edit.annotation_id]
    assert annotation.label == "StarChat: Fix" and annotation.needs_confirmation is True
    assert edit.range == types.Range(types.Position(8, 0), types.Position(12, 33))
    assert apply(STATS_TEXT, edit) == STATS_TEXT.replace("len(value)", "len(values)")
    reports = client.progress_reports["fix-progress"]
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert reports[0].title == "StarChat: Fix" and isinstance(
        reports[-1], types.WorkDoneProgressEnd
    )


async def test_fix_is_offered_without_diagnostics_and_only_filters_kinds(
    client: StarChatClient,
) -> None:
    open_document(client, STATS, STATS_TEXT)
    plain = await offered(client, STATS, cursor(4, 8), [])
    fix = plain["starchat.fix"]
    assert fix.diagnostics is None and not fix.is_preferred
    assert "diagnostics" not in fix.command.arguments[0]
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(STATS),
            cursor(12, 30),
            types.CodeActionContext([UNDEFINED], only=[types.CodeActionKind.Refactor]),
        )
    )
    assert {a.title for a in actions or [] if isinstance(a, types.CodeAction)} == {
        "StarChat: Add docstring",
        "StarChat: Improve",
    }


async def test_add_docstring_matches_the_methods_indentation(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(client, STATS, STATS_TEXT)
    scripted_openai.answer('```python\n"""The average of `values`."""\n```')
    actions = await offered(client, STATS, cursor(9, 4), [])
    client.edits.clear()
    assert (await run(client, actions["starchat.addDocstring"]))["applied"] is True
    assert "docstring alone" in scripted_openai.last_user_message()
    (edit,) = text_edits(client.edits[0].edit, STATS)
    assert apply(STATS_TEXT, edit) == STATS_TEXT.replace(
        "def mean(self, values):\n",
        'def mean(self, values):\n        """The average of `values`."""\n',
    )


async def test_improve_replaces_exactly_a_selection_after_emoji_and_cjk(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    uri = f"{WORKSPACE}/labels.py"
    line = 'label = "😀 你好 🚀"; total = add(1, 2) + add(3, 4)'
    text = f"from calc import add\n{line}\n"
    open_document(client, uri, text)
    start = units(line[: line.index("add(1")], "utf-16")
    end = start + units("add(1, 2) + add(3, 4)", "utf-16")
    assert start == line.index("add(1") + 2  # each emoji is two UTF-16 units, CJK one
    selection = types.Range(types.Position(1, start), types.Position(1, end))

    scripted_openai.answer("Use sum:\n```python\nsum([add(1, 2), add(3, 4)])\n```")
    actions = await offered(client, uri, selection, [])
    client.edits.clear()
    assert (await run(client, actions["starchat.improve"]))["applied"] is True
    assert "```python\nadd(1, 2) + add(3, 4)\n```" in scripted_openai.last_user_message()
    (edit,) = text_edits(client.edits[0].edit, uri)
    assert edit.range == selection
    assert apply(text, edit) == text.replace("add(1, 2) + add(3, 4)", "sum([add(1, 2), add(3, 4)])")


async def test_chat_context_is_the_exact_selection_in_utf16(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    uri = f"{WORKSPACE}/greet.py"
    line = "msg = '𝒳😀 こんにちは'; n = len(msg)"
    open_document(client, uri, f"{line}\n")
    start = units(line[: line.index("len(")], "utf-16")
    assert column(line, start, "utf-16") == line.index("len(")
    result = as_dict(
        await client.protocol.send_request_async(
            methods.CHAT,
            {
                "message": "What does this return?",
                "context": {"uri": uri, "range": lsp_range((0, start), (0, start + 8))},
            },
        )
    )
    assert result["text"] == "OK."
    sent = scripted_openai.last_user_message()
    assert sent.startswith("What does this return?")
    assert "```python\nlen(msg)\n```" in sent and "`greet.py` (python)" in sent


async def test_write_tests_creates_the_test_file_then_appends(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(client, STATS, STATS_TEXT)
    actions = await offered(client, STATS, cursor(4, 8), [])
    tests = (
        "```python\nfrom pkg.stats import area\n\n\ndef test_area():\n    assert area(0) == 0\n```"
    )
    scripted_openai.answer(tests)
    client.edits.clear()
    first = await run(client, actions["starchat.writeTests"])
    assert first["applied"] is True
    prompt = scripted_openai.last_user_message()
    assert "imports the code from `pkg.stats`" in prompt and "with pytest" in prompt
    test_uri = f"{WORKSPACE}/pkg/test_stats.py"
    create, insert = client.edits[0].edit.document_changes
    assert isinstance(create, types.CreateFile) and create.uri == test_uri
    assert (
        insert.edits[0].new_text
        == "from pkg.stats import area\n\n\ndef test_area():\n    assert area(0) == 0\n"
    )

    assert first["testUri"] == test_uri and "pkg/test_stats.py" in first["message"]
    assert client.shown_documents[-1].uri == test_uri  # the editor opens it

    existing = "import pytest\nfrom pkg.stats import area\n"
    open_document(client, test_uri, existing, version=3)
    scripted_openai.answer(
        "```python\nimport pytest\nfrom pkg.stats import area, Summary\n\n\n"
        "def test_area_one():\n    assert area(1) > 3\n```"
    )
    assert (await run(client, actions["starchat.writeTests"]))["applied"] is True
    (append,) = client.edits[1].edit.document_changes
    assert append.text_document.version == 3
    assert apply(existing, append.edits[0]) == (  # no import twice
        "import pytest\nfrom pkg.stats import area\n\n\nfrom pkg.stats import Summary\n\n\n"
        "def test_area_one():\n    assert area(1) > 3\n"
    )


async def test_explain_returns_the_answer_and_continues_as_a_chat(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(client, STATS, STATS_TEXT)
    actions = await offered(client, STATS, cursor(4, 8), [])
    scripted_openai.answer("It computes the area of a circle.", "Because A = πr².")
    client.messages.clear()
    result = await run(client, actions["starchat.explain"])
    assert result["text"] == "It computes the area of a circle."
    assert [m.message for m in client.messages] == ["It computes the area of a circle."]
    follow = as_dict(
        await client.protocol.send_request_async(
            methods.CHAT, {"message": "Why?", "conversationId": result["conversationId"]}
        )
    )
    assert follow["text"] == "Because A = πr²."
    history = scripted_openai.requests[-1]["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    assert history[1]["content"].startswith("Explain what this python code from `pkg/stats.py`")
    assert history[2]["content"] == "It computes the area of a circle."


async def test_answer_without_code_changes_nothing_and_says_why(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(client, STATS, STATS_TEXT)
    actions = await offered(client, STATS, cursor(12, 30), [UNDEFINED])
    scripted_openai.answer("I think it is fine as it is.")
    client.edits.clear()
    client.messages.clear()
    result = await run(client, actions["starchat.fix"])
    assert result["applied"] is False and "held no code block" in result["message"]
    assert client.edits == []
    assert client.messages[-1].type == types.MessageType.Warning
    assert "held no code block" in client.messages[-1].message


async def test_an_edit_discarded_in_the_preview_is_reported_without_a_warning(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(client, STATS, STATS_TEXT)
    actions = await offered(client, STATS, cursor(4, 8), [])
    scripted_openai.answer("```python\ndef area(r):\n    return math.pi * r * r\n```")
    client.apply_edits = False
    client.messages.clear()
    try:
        result = await run(client, actions["starchat.improve"])
    finally:
        client.apply_edits = True
    assert result["applied"] is False and "discarded" in result["message"]
    assert "rejected" not in result and client.messages == []


async def test_starchat_prompt_prints_what_the_server_sends(
    client: StarChatClient, scripted_openai: OpenAIStub, tmp_path: Path
) -> None:
    """`starchat prompt --action` on the file (run from the workspace folder) prints the very
    user turn the server sent the model, Write tests' module and framework included."""
    open_document(client, STATS, STATS_TEXT)
    lines = types.Range(types.Position(7, 0), types.Position(13, 0))  # class Summary: 8-13
    for action in ("writeTests", "explain", "improve"):
        actions = await offered(client, STATS, lines, [])
        scripted_openai.answer("```python\npass\n```")
        await run(client, actions[f"starchat.{action}"])
        sent = scripted_openai.last_user_message()
        (tmp_path / "pkg").mkdir(exist_ok=True)
        (tmp_path / "pkg" / "stats.py").write_text(STATS_TEXT)
        command = ["prompt", "--action", action, "--file", "pkg/stats.py", "--lines", "8-13"]
        printed = subprocess.run(
            [sys.executable, "-m", "starchat.server.cli", *command, "--format", "starchat"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert printed.returncode == 0, printed.stderr
        user = printed.stdout.split("<|user|>\n", 1)[1].split("<|end|>", 1)[0]
        assert user == sent


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def utf8_client(lsp_client: StarChatClient, scripted_openai: OpenAIStub) -> Any:
    """A plainer editor: prefers UTF-8 positions, knows neither versioned edits nor file
    creation, has no progress bars."""
    await lsp_client.initialize_session(
        initialize_params(
            {"backend": "openai", "backendUrl": scripted_openai.url},
            encodings=["utf-8", "utf-16"],
            capabilities=types.ClientCapabilities(),
        )
    )
    assert (await wait_ready(lsp_client))["state"] == "ready"
    yield
    await lsp_client.shutdown_session()


async def test_utf8_positions_and_plain_edits(
    utf8_client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    client = utf8_client
    uri = f"{WORKSPACE}/pkg/labels.py"
    line = 'label = "😀 你好"; total = add(1, 2)'
    text = f"def add(a, b):\n    return a + b\n{line}\n"
    open_document(client, uri, text)
    start = units(line[: line.index("add(1")], "utf-8")
    assert start == line.index("add(1") + 3 + 2 * 2  # 😀 is 4 bytes, each CJK character 3
    selection = types.Range(types.Position(2, start), types.Position(2, start + 9))
    scripted_openai.answer("```python\nadd(2, 1)\n```")
    actions = await offered(client, uri, selection, [])
    client.edits.clear()
    assert (await run(client, actions["starchat.improve"]))["applied"] is True
    (edit,) = client.edits[0].edit.changes[uri]
    assert edit.range == selection
    assert apply(text, edit, "utf-8") == text.replace("add(1, 2)", "add(2, 1)")

    tests = "from pkg.labels import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    scripted_openai.answer(f"```python\n{tests}```")
    client.messages.clear()
    assert (await run(client, actions["starchat.writeTests"]))["applied"] is True
    (insert,) = client.edits[1].edit.changes[f"{WORKSPACE}/pkg/test_labels.py"]
    assert insert.new_text == tests
    assert "pkg/test_labels.py" in client.messages[-1].message  # no showDocument: told
    assert client.progress_reports == {}
