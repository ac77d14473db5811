"""The pure parts of trusted edits, without a process: a target followed through changes, the
docstring put in place, and the checks an edit must pass."""

import pytest
from starchat.prompts import ACTIONS
from starchat.server import syntax
from starchat.server.docstrings import NoDocstring, docstring_text, placement
from starchat.server.documents import Document, Span, Tracked
from starchat.server.edits import without_known_imports
from starchat.server.validation import check_rewrite, check_tests, wrong_language


@pytest.mark.parametrize(
    ("changed", "inserted", "expected"),
    [
        (Span(0, 0), 5, Span(15, 25)),  # typing above moves it down
        (Span(2, 8), 0, Span(4, 14)),  # deleting above moves it up
        (Span(10, 10), 1, Span(11, 21)),  # typing right before it
        (Span(20, 20), 3, Span(10, 20)),  # typing right after it
        (Span(30, 35), 0, Span(10, 20)),
        (Span(12, 13), 1, None),  # typing inside it
        (Span(5, 15), 0, None),  # deleting across its start
        (Span(0, 40), 0, None),  # deleting all of it
    ],
)
def test_a_target_follows_changes_around_it(
    changed: Span, inserted: int, expected: Span | None
) -> None:
    tracked = Tracked(Span(10, 20))
    tracked.follow(changed, inserted)
    assert tracked.lost is (expected is None)
    if expected is not None:
        assert tracked.span == expected


@pytest.mark.parametrize(
    "answer",
    [
        '```python\n"""Sum of `xs`."""\n```',
        '```python\ndef total(xs):\n    """Sum of `xs`."""\n    return 0\n```',
        "```\nSum of `xs`.\n```",
        'The docstring: """Sum of `xs`."""',
        '```python\n"""\n"""Sum of `xs`.\n```',  # stray and unterminated quotes
    ],
)
def test_the_docstring_is_read_from_any_answer_shape(answer: str) -> None:
    assert docstring_text(answer, "python", "total") == "Sum of `xs`."


@pytest.mark.parametrize("answer", ["Looks good.", "```python\ndef total(xs):\n    return 0\n```"])
def test_an_answer_without_a_docstring_is_no_docstring(answer: str) -> None:
    with pytest.raises(NoDocstring):
        docstring_text(answer, "python", "total")


def test_a_docstring_goes_in_the_body_with_its_indentation_and_line_endings() -> None:
    text = "class A:\r\n    def total(self, xs):\r\n        return sum(xs)\r\n"
    document = Document("file:///a.py", text, 1, "python")
    start = text.index("    def")
    place = placement(document, Span(start, len(text)), '"""Sum.\n\nOf xs.\n"""', "python")
    after = text[: place.span.start] + place.text + text[place.span.end :]
    assert after == (
        'class A:\r\n    def total(self, xs):\r\n        """Sum.\r\n\r\n        Of xs.\r\n'
        '        """\r\n        return sum(xs)\r\n'
    )


def test_a_one_line_function_has_no_place_for_a_docstring() -> None:
    document = Document("file:///a.py", "def f(): return 1\n", 1, "python")
    with pytest.raises(NoDocstring, match="header line"):
        placement(document, Span(0, 17), '"""One."""', "python")


def test_add_docstring_may_only_change_docstrings_and_comments() -> None:
    action = ACTIONS["addDocstring"]
    before = "def f(x):\n    return x + 1\n"
    documented = 'def f(x):\n    """Add one."""\n    # plus one\n    return x + 1\n'
    assert check_rewrite(action, "python", before, documented, before, documented) is None
    changed = 'def f(x):\n    """Add one."""\n    return x + 2\n'
    assert "changes code" in (
        check_rewrite(action, "python", before, changed, before, changed) or ""
    )
    js_before = "function f(x) {\n  return x + 1;\n}\n"
    js_after = "// Add one.\nfunction f(x) {\n  return x + 2;\n}\n"
    reason = check_rewrite(action, "javascript", js_before, js_after, js_before, js_after)
    assert "changes code" in (reason or "")


def test_an_answer_holding_the_whole_file_would_define_things_twice() -> None:
    before = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"
    new = "def a():\n    return 1\n\n\ndef b():\n    return 3\n"
    after = before.replace("def b():\n    return 2\n", new)
    reason = check_rewrite(
        ACTIONS["improve"], "python", before, after, "def b():\n    return 2", new
    )
    assert reason is not None and "`a` twice" in reason


def test_languages_without_a_grammar_are_not_parse_checked() -> None:
    assert syntax.syntax_error("haskell", "main = (") is None
    assert syntax.syntax_error("go", "package main\nfunc f( {\n") is not None
    assert wrong_language("```js\nlet x = 1\n```", "javascript") is None
    assert wrong_language("```rust\nfn f() {}\n```", "python") == "its code is rust, not python"


def test_javascript_tests_must_import_and_expect() -> None:
    target = "export function sum(xs) { return 0; }"
    good = "import { sum } from './sum';\ntest('sums', () => { expect(sum([1])).toBe(1); });\n"
    assert check_tests("javascript", good, None, "./sum", target) is None
    no_import = "test('sums', () => { expect(1).toBe(1); });\n"
    assert "do not import" in (check_tests("javascript", no_import, None, "./sum", target) or "")
    redefined = "function sum(xs) { return 1; }\ntest('s', () => expect(sum([])).toBe(1));\n"
    assert "redefine `sum`" in (check_tests("javascript", redefined, None, "./sum", target) or "")


def test_appended_tests_leave_out_imports_the_file_has() -> None:
    current = "import pytest\nfrom pkg.calc import median as m\n"
    code = "import pytest\nfrom pkg.calc import median as m, spread\nimport os\n\ndef test(): ..."
    assert without_known_imports(code, current) == (
        "from pkg.calc import spread\nimport os\n\ndef test(): ..."
    )


def test_a_selection_inside_a_function_documents_that_function() -> None:
    text = "def f(x):\n    a = 1\n    b = 2\n    return a\n"
    start = text.index("    b")
    place = placement(
        Document("file:///a.py", text, 1, "python"), Span(start, start + 9), '"""Doc."""', "python"
    )
    assert text[: place.span.start] + place.text + text[place.span.end :] == (
        'def f(x):\n    """Doc."""\n    a = 1\n    b = 2\n    return a\n'
    )


def test_a_doc_comment_answer_that_repeats_the_code_keeps_only_the_comment() -> None:
    answer = "```javascript\n/**\n * The sum.\n */\nfunction sum(xs) { return 0; }\n```"
    assert docstring_text(answer, "javascript", None) == "/**\n * The sum.\n */"
    with pytest.raises(NoDocstring):
        docstring_text("```javascript\nfunction sum(xs) { return 0; }\n```", "javascript", None)


def test_improve_may_not_add_imports_around_a_function_or_read_unknown_names() -> None:
    improve = ACTIONS["improve"]
    before = "import os\n\n\ndef f(xs):\n    return sorted(xs)\n"
    target = "def f(xs):\n    return sorted(xs)"
    with_import = "import heapq\n\n\ndef f(xs):\n    return heapq.nsmallest(len(xs), xs)"
    after = before.replace(target, with_import)
    reason = check_rewrite(improve, "python", before, after, target, with_import) or ""
    assert "adds code around `f`" in reason
    unknown = "def f(xs):\n    return sorted(xs, key=scale)"
    after = before.replace(target, unknown)
    reason = check_rewrite(improve, "python", before, after, target, unknown) or ""
    assert reason == "it uses `scale`, which nothing in the file defines"
    fine = "def f(xs):\n    return list(sorted(xs, key=os.fspath))"
    after = before.replace(target, fine)
    assert check_rewrite(improve, "python", before, after, target, fine) is None
