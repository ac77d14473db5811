"""The server's pure parts, without a process: settings, LSP positions, the code a request
is about, the token-budgeted prompt, and answers turned into edits."""

import asyncio
import json
import textwrap
from pathlib import Path

import pytest
from lsprotocol import types
from starchat.server.context import build_user_message, fit_code
from starchat.server.documents import Document
from starchat.server.edits import replacement, unit_test_file
from starchat.server.lsp.errors import RangeError
from starchat.server.lsp.progress import ProgressBar
from starchat.server.options import Options, apply_settings
from starchat.server.targets import enclosing_lines, target

PACKAGE_JSON = Path(__file__).parents[2] / "clients" / "vscode" / "package.json"


def position(line: int, character: int) -> types.Position:
    return types.Position(line, character)


def span_range(a: tuple[int, int], b: tuple[int, int]) -> types.Range:
    return types.Range(position(*a), position(*b))


def test_option_defaults_are_the_vscode_settings_defaults() -> None:
    declared = json.loads(PACKAGE_JSON.read_text())["contributes"]["configuration"]["properties"]
    defaults = Options().model_dump(by_alias=True)
    assert defaults == {key: declared[f"starchat.{key}"]["default"] for key in defaults}
    assert declared["starchat.backend"]["enum"] == ["transformers", "openai"]
    assert declared["starchat.dtype"]["enum"] == ["auto", "bfloat16", "float16", "float32"]


def test_settings_are_applied_key_by_key() -> None:
    current = Options(temperature=0.5)
    update = apply_settings(
        current,
        {
            "starchat": {
                "topK": 5,
                "temperature": "hot",
                "device": "tpu",
                "server": {},
                "model": None,
            }
        },
    )
    assert update.options.top_k == 5 and update.options.temperature == 0.5
    assert update.ignored == ["starchat.server"]
    assert [e.split(":")[0] for e in update.errors] == ["starchat.temperature", "starchat.device"]
    assert apply_settings(current, [1, 2]).errors == [
        "starchat: settings must be an object, not a list"
    ]
    assert apply_settings(current, {"maxNewTokens": True}).options.max_new_tokens == 256


def test_engine_settings_follow_the_options() -> None:
    local = Options(model="", contextTokens=1024)
    assert local.engine_settings().model is None and local.engine_settings().context_tokens is None
    assert local.context_window(8192) == 1024 and Options().context_window(8192) == 8192
    served = Options(backend="openai", backendUrl="http://gpu:8000/v1", contextTokens=16384)
    assert served.engine_settings().context_tokens == 16384
    assert Options().system_text().startswith("You are StarChat")


@pytest.mark.parametrize(
    ("encoding", "character", "expected"),
    [("utf-16", 8, "b"), ("utf-8", 10, "b"), ("utf-32", 7, "b"), ("utf-16", 5, "😀")],
)
def test_positions_follow_the_negotiated_encoding(
    encoding: str, character: int, expected: str
) -> None:
    document = Document("file:///a.py", 'a = "😀"b\n', 1, "python", encoding)
    assert document.text[document.offset(position(0, character))] == expected
    assert document.position(document.offset(position(0, character))).character == character


def test_lines_break_where_lsp_says_and_ranges_are_checked() -> None:
    document = Document("file:///a.py", "one\r\ntwo\x0cstill two\rthree", 1, "python")
    assert document.line_count == 3 and document.line_text(1) == "two\x0cstill two"
    assert document.offset(position(0, 99)) == 3  # past the line's end: its end
    with pytest.raises(RangeError, match="past the end"):
        document.span(span_range((0, 0), (3, 0)))
    with pytest.raises(RangeError, match="ends before it starts"):
        document.span(span_range((1, 2), (0, 0)))


def test_incremental_changes_use_lsp_positions() -> None:
    document = Document("file:///a.py", "x = '😀'\ny = 1\n", 1, "python")
    document.apply(types.TextDocumentContentChangePartial(span_range((0, 5), (0, 7)), "🚀🚀"))
    document.apply(types.TextDocumentContentChangePartial(span_range((1, 4), (1, 5)), "2"))
    assert document.text == "x = '🚀🚀'\ny = 2\n" and document.line_text(1) == "y = 2"


SOURCE = textwrap.dedent(
    """\
    import os


    @decorated
    def outer(x):
        def inner(y):
            return y

        return inner(x)


    class Box:
        size = 3

        def grow(self):
            self.size += 1
    """
)


@pytest.mark.parametrize(
    ("line", "lines"),
    [(6, (5, 6)), (8, (3, 8)), (12, (11, 15)), (15, (14, 15)), (0, (0, 0))],
)
def test_enclosing_code_in_python(line: int, lines: tuple[int, int]) -> None:
    assert enclosing_lines(Document("file:///a.py", SOURCE, 1, "python"), line) == lines
    broken = SOURCE.replace("return y", "return y +")  # no longer parses: read by indentation
    assert enclosing_lines(Document("file:///a.py", broken, 1, "python"), line) == lines


def test_enclosing_code_elsewhere_is_the_top_level_block() -> None:
    code = "const a = 1;\n\nfunction f(x) {\n  if (x) {\n    return 1;\n  }\n}\n"
    assert enclosing_lines(Document("file:///a.js", code, 1, "javascript"), 4) == (2, 6)


def test_the_target_is_the_selection_or_the_enclosing_function() -> None:
    document = Document("file:///a.py", SOURCE, 1, "python")
    selected = target(document, span_range((15, 8), (15, 22)))
    assert (selected.kind, selected.code) == ("selection", "self.size += 1")
    enclosing = target(document, span_range((15, 3), (15, 3)))
    assert enclosing.code == "    def grow(self):\n        self.size += 1"
    assert target(document, None).code == SOURCE


def test_code_is_cut_to_the_token_budget_by_whole_lines() -> None:
    code = "\n".join(f"line {i}" for i in range(100))
    fitted = fit_code(code, lambda text: len(text) <= 80, max_chars=10_000)
    assert fitted.startswith("line 0\nline 1\n") and fitted.endswith("(93 more lines not shown)")
    assert len(fitted) <= 80 and len(fit_code(code, lambda text: len(text) <= 90, 10_000)) > 80
    assert fit_code("short", lambda _: True, 100) == "short"


def test_the_user_turn_holds_message_path_language_and_diagnostics() -> None:
    from starchat.prompts import ActionSlots, Diagnostic

    context = ActionSlots(
        "python", "pkg/a.py", "x = y", [Diagnostic(1, "undefined name 'y'", "pyflakes")]
    )
    turn = build_user_message("Why?", context, count=len, budget=10_000)
    assert turn.startswith("Why?\n\nHere is the code I am looking at, from `pkg/a.py` (python):")
    assert "```python\nx = y\n```" in turn and "- line 1: undefined name 'y' (pyflakes)" in turn
    assert build_user_message("Why?", None, count=len, budget=1) == "Why?"


def test_replacement_matches_indentation_line_endings_and_trailing_newline() -> None:
    text = "class A:\r\n    def f(self):\r\n        return 1\r\n"
    document = Document("file:///a.py", text, 1, "python")
    whole = target(document, span_range((1, 0), (3, 0)))
    answer = "```python\ndef f(self):\n    return 2\n```"
    assert (
        replacement(answer, document, whole, "python") == "    def f(self):\r\n        return 2\r\n"
    )
    inner = target(document, span_range((1, 4), (2, 16)))  # from the `def`, after the indent
    assert replacement(answer, document, inner, "python") == "def f(self):\r\n        return 2"
    assert replacement("Looks fine to me.", document, inner, "python") is None


def test_test_files_follow_the_languages_convention() -> None:
    python = unit_test_file("file:///w/src/pkg/util.py", "src/pkg/util.py", "python")
    assert (python.uri, python.module, python.framework) == (
        "file:///w/src/pkg/test_util.py",
        "pkg.util",
        "pytest",
    )
    go = unit_test_file("file:///w/main.go", "main.go", "go")
    assert go.uri == "file:///w/main_test.go"
    ts = unit_test_file("file:///w/app.ts", "app.ts", "typescript")
    assert (ts.uri, ts.module) == ("file:///w/app.test.ts", "./app")


async def test_a_bar_ended_before_the_client_made_its_token_never_shows() -> None:
    """A load that finishes while the client is still creating the progress token must not
    show a bar after the status said ready (issue 21, ordering)."""
    created: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sent: list[str] = []

    class Progress:
        async def create_async(self, token: str) -> None:
            await created

        def begin(self, token: str, value: object) -> None:
            sent.append("begin")

        def end(self, token: str, value: object) -> None:
            sent.append("end")

    class Session:
        work_done_progress = Progress()

        def client_capability(self, *path: str) -> bool:
            return True

    bar = ProgressBar(Session())  # type: ignore[arg-type]
    shown = asyncio.ensure_future(bar.begin("StarChat", "Loading…"))
    await asyncio.sleep(0)
    bar.end("ready")
    created.set_result(None)
    await shown
    assert sent == []
