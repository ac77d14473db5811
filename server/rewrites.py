"""From a model's answer to the edit the user is offered, checked before it is offered.

Fix and Improve replace the target with the answer's code (edits.py fits it in place); Add
docstring puts the answer's docstring alone in place (docstrings.py), so code cannot
change; Write tests appends to or creates the test file. Every proposal then goes through
validation.py: one that fails is still built, for the user who chooses to apply it anyway,
but carries the reason it must not be applied blindly. An answer that yields no edit at all
(no code, code in another language, nowhere to put a docstring) is `Unusable`.
"""

from dataclasses import dataclass

from lsprotocol import types
from starchat.prompts import Action, extract_code
from starchat.server.docstrings import NoDocstring, placement
from starchat.server.documents import Document
from starchat.server.edits import (
    EditStyle,
    UnitTestFile,
    read_disk,
    replace_edit,
    replacement,
    unit_test_edit,
)
from starchat.server.targets import Target
from starchat.server.validation import check_rewrite, check_tests, wrong_language


class Unusable(Exception):
    """The answer gives nothing to edit; the message says why, for the user."""


@dataclass(frozen=True)
class Proposal:
    edit: types.WorkspaceEdit
    """What the client is asked to apply (with a confirmation where the client previews)."""
    plain: types.WorkspaceEdit
    """The same edit without a confirmation: the user already chose to apply it."""
    problem: str | None
    """Why the edit must not be applied blindly, or None when it passed every check."""


def propose_rewrite(
    action: Action,
    document: Document,
    target: Target,
    language: str,
    answer: str,
    style: EditStyle,
) -> Proposal:
    """The edit of `document` for Fix, Improve or Add docstring on `target`."""
    if action.result == "docstring":
        try:
            place = placement(document, target.span, answer, language)
        except NoDocstring as error:
            raise Unusable(str(error)) from None
        span, text = place.span, place.text
    else:
        _check_language(answer, language)
        found = replacement(answer, document, target, language)
        if found is None:
            raise Unusable("its answer held no code block")
        span, text = target.span, found
    after = document.text[: span.start] + text + document.text[span.end :]
    problem = check_rewrite(action, language, document.text, after, target.code, text)
    return Proposal(
        replace_edit(document, span, text, style),
        replace_edit(document, span, text, style.plain()),
        problem,
    )


def propose_tests(
    test: UnitTestFile,
    language: str,
    answer: str,
    existing: Document | None,
    target_code: str,
    encoding: str,
    style: EditStyle,
) -> Proposal:
    """The edit adding the answer's tests to `test` (open in the editor as `existing`)."""
    _check_language(answer, language)
    code = extract_code(answer, language)
    if code is None or not code.strip():
        raise Unusable("its answer held no code block")
    current = existing.text if existing is not None else read_disk(test.uri)
    problem = check_tests(language, code, current, test.module, target_code)
    return Proposal(
        unit_test_edit(test, code, existing, encoding, style),
        unit_test_edit(test, code, existing, encoding, style.plain()),
        problem,
    )


def _check_language(answer: str, language: str) -> None:
    reason = wrong_language(answer, language)
    if reason is not None:
        raise Unusable(reason)
