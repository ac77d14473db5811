"""Edits a user can trust, end to end over stdio: the model's answer is scripted exactly (the
OpenAI-compatible stub), the server is the real process, and each test checks what the user
sees — the edit offered (or not), the reason, the file afterwards."""

import asyncio
import textwrap
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
    open_document,
    wait_ready,
)
from tests.server.edits import apply, text_edits

pytestmark = pytest.mark.asyncio(loop_scope="module")

CALC = f"{WORKSPACE}/pkg/calc.py"
CALC_TEXT = textwrap.dedent(
    '''\
    import statistics


    def median(values):
        """Old summary."""
        ordered = sorted(values)
        middle = len(ordered) // 2
        return ordered[middle]


    def spread(values):
        return max(values) - min(values)
    '''
)
MEDIAN = (
    "def median(values):\n    ordered = sorted(values)\n    return ordered[len(ordered) // 2]\n"
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


def at(line: int, character: int = 4) -> dict[str, Any]:
    position = {"line": line, "character": character}
    return {"start": position, "end": position}


async def command(
    client: StarChatClient, action: str, uri: str, range_: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    client.edits.clear()
    client.messages.clear()
    return as_dict(
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                f"starchat.{action}", [{"uri": uri, "range": range_, **extra}]
            )
        )
    )


def edited(client: StarChatClient, text: str, uri: str = CALC) -> str:
    (params,) = client.edits
    for edit in sorted(text_edits(params.edit, uri), key=lambda e: e.range.start, reverse=True):
        text = apply(text, edit)
    return text


def change(
    client: StarChatClient, uri: str, version: int, line: int, new: str, end: int = 0
) -> None:
    """Replace lines `line`..`end` (whole lines; `end` = `line`: an insertion) with `new`."""
    range_ = types.Range(types.Position(line, 0), types.Position(max(end, line), 0))
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=version, uri=uri),
            [types.TextDocumentContentChangePartial(range_, new)],
        )
    )


async def test_an_edit_survives_typing_before_and_after_its_target(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(client, CALC, CALC_TEXT)
    scripted_openai.answer(f"```python\n{MEDIAN}```", delay=0.6)
    running = asyncio.ensure_future(command(client, "improve", CALC, at(5)))
    await asyncio.sleep(0.3)
    change(client, CALC, 2, 0, "# a comment typed above\n")
    change(client, CALC, 3, 13, "\n\ndef mode(values):\n    return values[0]\n")
    result = await running
    assert result["applied"] is True
    typed = CALC_TEXT.replace("import statistics", "# a comment typed above\nimport statistics")
    typed += "\n\ndef mode(values):\n    return values[0]\n"
    expected = typed.replace(
        typed[typed.index("def median") : typed.index("\n\n\ndef spread")], MEDIAN.rstrip("\n")
    )
    assert edited(client, typed) == expected
    assert client.edits[0].edit.document_changes[0].text_document.version == 3


@pytest.mark.parametrize("what", ["typing inside it", "deleting it", "closing the file"])
async def test_an_edit_is_dropped_with_a_message_when_its_target_changes(
    client: StarChatClient, scripted_openai: OpenAIStub, what: str
) -> None:
    open_document(client, CALC, CALC_TEXT)
    scripted_openai.answer(f"```python\n{MEDIAN}```", delay=0.6)
    running = asyncio.ensure_future(command(client, "improve", CALC, at(5)))
    await asyncio.sleep(0.3)
    if what == "typing inside it":
        change(client, CALC, 2, 6, "    # the user's own note\n")
    elif what == "deleting it":
        change(client, CALC, 2, 3, "", end=9)
    else:
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(CALC))
        )
    result = await running
    assert result["applied"] is False and client.edits == []
    assert "while StarChat was writing" in result["message"]
    assert result["text"].startswith("```python")  # the answer is not lost
    assert client.messages[-1].type == types.MessageType.Warning


async def test_add_docstring_cannot_change_the_code(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    """The model rewrites the function although asked for the docstring alone: only its
    docstring lands, replacing the old one; the code stays byte for byte."""
    open_document(client, CALC, CALC_TEXT)
    scripted_openai.answer(
        '```python\ndef median(values):\n    """Return the middle value.\n\n    Args:\n'
        '        values: numbers, in any order.\n    """\n    print(values)\n```'
    )
    result = await command(client, "addDocstring", CALC, at(6))
    assert result["applied"] is True
    assert edited(client, CALC_TEXT) == CALC_TEXT.replace(
        '    """Old summary."""\n',
        '    """Return the middle value.\n\n    Args:\n        values: numbers, in any order.\n'
        '    """\n',
    )


async def test_an_answer_that_does_not_parse_is_rejected_and_offered(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(client, CALC, CALC_TEXT)
    scripted_openai.answer(
        "```python\ndef spread(values:\n    return max(values) - min(values)\n```"
    )
    result = await command(client, "improve", CALC, at(11))
    assert result["applied"] is False and client.edits == []
    rejected = result["rejected"]
    assert rejected["reason"].startswith("The edited file would not parse (line 11:")
    assert "would not parse" in client.messages[-1].message
    # "Apply anyway": the client applies the edit itself; it needs no second confirmation
    edit = rejected["edit"]
    assert "changeAnnotations" not in edit
    (text_edit,) = edit["documentChanges"][0]["edits"]
    assert text_edit["newText"].startswith("def spread(values:")


async def test_fix_and_improve_keep_the_names_the_code_defines(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(client, CALC, CALC_TEXT)
    selection = {"start": {"line": 3, "character": 0}, "end": {"line": 12, "character": 0}}
    scripted_openai.answer(
        "```python\ndef median(values):\n    return sorted(values)[len(values) // 2]\n```"
    )
    result = await command(client, "fix", CALC, selection)
    assert result["applied"] is False and client.edits == []
    assert result["rejected"]["reason"] == "It no longer defines `spread`, which the code defined."


async def test_an_answer_with_the_whole_file_replaces_only_the_function(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    whole = CALC_TEXT.replace(
        "return ordered[middle]", "return ordered[middle] if ordered else None"
    )
    scripted_openai.answer(f"Here is the file:\n```python\n{whole}```")
    open_document(client, CALC, CALC_TEXT)
    result = await command(client, "fix", CALC, at(7))
    assert result["applied"] is True
    assert edited(client, CALC_TEXT) == whole


async def test_bad_answers_change_nothing_and_say_why(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(client, CALC, CALC_TEXT)
    for answer, reason in (
        ("It looks fine to me.", "held no code block"),
        (
            "```javascript\nfunction spread(v) { return 0; }\n```",
            "its code is javascript, not python",
        ),
        ("Sure.", "held no docstring"),
    ):
        scripted_openai.answer(answer)
        action = "addDocstring" if answer == "Sure." else "improve"
        result = await command(client, action, CALC, at(11))
        assert result["applied"] is False and client.edits == []
        assert reason in result["message"] and reason in client.messages[-1].message


async def test_windows_line_endings_in_the_answer_and_the_file(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    uri = f"{WORKSPACE}/pkg/crlf.py"
    text = "def spread(values):\r\n    return max(values) - min(values)\r\n"
    open_document(client, uri, text)
    scripted_openai.answer(
        "Better:\r\n```python\r\ndef spread(values):\r\n    lo, hi = min(values), max(values)\r\n"
        "    return hi - lo\r\n```\r\nDone."
    )
    result = await command(client, "improve", uri, at(1))
    assert result["applied"] is True
    assert edited(client, text, uri) == (
        "def spread(values):\r\n    lo, hi = min(values), max(values)\r\n    return hi - lo\r\n"
    )


async def test_fix_is_offered_on_code_without_diagnostics_and_nothing_on_blank_lines(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(client, CALC, CALC_TEXT)

    async def offered(line: int) -> list[str]:
        actions = await client.text_document_code_action_async(
            types.CodeActionParams(
                types.TextDocumentIdentifier(CALC),
                types.Range(types.Position(line, 0), types.Position(line, 0)),
                types.CodeActionContext([]),
            )
        )
        return [a.title for a in actions or []]

    assert "StarChat: Fix" in await offered(6)
    assert await offered(9) == []  # the blank line between the two functions
    scripted_openai.answer(
        "```python\ndef spread(values):\n    return max(values) - min(values)\n```"
    )
    fixed = await command(client, "fix", CALC, at(11))
    assert "Find and fix its bugs." in scripted_openai.last_user_message()
    assert fixed["applied"] is True
    with pytest.raises(Exception, match="StarChat: Fix: there is no code here"):
        await command(client, "fix", CALC, at(9, 0))


async def test_commands_continue_the_conversation_and_stream(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(client, CALC, CALC_TEXT)
    scripted_openai.answer("Hello Zorblax.", "It returns the middle value.")
    chat = as_dict(
        await client.protocol.send_request_async(methods.CHAT, {"message": "I am Zorblax."})
    )
    result = await command(
        client,
        "explain",
        CALC,
        at(5),
        conversationId=chat["conversationId"],
        partialResultToken="explain-1",
    )
    assert result["conversationId"] == chat["conversationId"]
    assert result["text"] == client.streamed("explain-1") == "It returns the middle value."
    assert result["usage"]["finishReason"] == "stop"
    sent = scripted_openai.requests[-1]["messages"]
    assert [m["content"] for m in sent[1:3]] == ["I am Zorblax.", "Hello Zorblax."]


async def test_a_command_goes_on_from_the_clients_history_after_a_restart(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(client, CALC, CALC_TEXT)
    scripted_openai.answer("It returns the middle value, Zorblax.")
    history = [
        {"role": "user", "content": "I am Zorblax."},
        {"role": "assistant", "content": "Hello Zorblax."},
    ]
    result = await command(
        client, "explain", CALC, at(5), conversationId="gone-after-restart", history=history
    )
    assert result["conversationId"] != "gone-after-restart"
    sent = scripted_openai.requests[-1]["messages"]
    assert [m["content"] for m in sent[1:3]] == ["I am Zorblax.", "Hello Zorblax."]


async def test_tests_that_redefine_the_function_or_assert_nothing_are_rejected(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(client, CALC, CALC_TEXT)
    for answer, reason in (
        (
            "def median(values):\n    return 0\n\n\n"
            "def test_median():\n    assert median([1]) == 0\n",
            "redefine `median` instead of importing it",
        ),
        (
            "from pkg.calc import median\n\n\ndef test_median():\n    median([1])\n",
            "assert nothing",
        ),
        ("def test_median():\n    assert True\n", "do not import the code under test"),
    ):
        scripted_openai.answer(f"```python\n{answer}```")
        result = await command(client, "writeTests", CALC, at(5))
        assert result["applied"] is False and client.edits == []
        assert reason in result["rejected"]["reason"]
        assert result["rejected"]["edit"]["documentChanges"][0]["kind"] == "create"


async def test_javascript_is_checked_with_tree_sitter(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    uri = f"{WORKSPACE}/web/sum.js"
    text = "function sum(xs) {\n  let t = 0;\n  for (const x of xs) t += x;\n  return t;\n}\n"
    open_document(client, uri, text, language="javascript")
    scripted_openai.answer(
        "```javascript\nfunction sum(xs) {\n  return xs.reduce((a, b) => a + b, 0;\n}\n```"
    )
    result = await command(client, "improve", uri, at(1))
    assert result["applied"] is False and "would not parse" in result["rejected"]["reason"]
    scripted_openai.answer("```javascript\n/** The sum of `xs`. */\n```")
    result = await command(client, "addDocstring", uri, at(1))
    assert result["applied"] is True
    assert edited(client, text, uri) == "/** The sum of `xs`. */\n" + text


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def direct_client(lsp_client: StarChatClient, scripted_openai: OpenAIStub) -> Any:
    """VS Code with `starchat.edits.preview` off (sent nested, as VS Code's pull answers)."""
    await lsp_client.initialize_session(
        initialize_params(
            {"backend": "openai", "backendUrl": scripted_openai.url, "edits": {"preview": False}}
        )
    )
    assert (await wait_ready(lsp_client))["state"] == "ready"
    yield
    await lsp_client.shutdown_session()


async def test_with_preview_off_edits_apply_directly(
    direct_client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    open_document(direct_client, CALC, CALC_TEXT)
    scripted_openai.answer(
        "```python\ndef spread(values):\n    return max(values) - min(values)\n```"
    )
    assert (await command(direct_client, "improve", CALC, at(11)))["applied"] is True
    (params,) = direct_client.edits
    (edit,) = text_edits(params.edit, CALC)
    assert type(edit) is types.TextEdit and params.edit.change_annotations is None
