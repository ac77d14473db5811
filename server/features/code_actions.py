"""Code actions: what the editor offers in its light-bulb menu for a range.

`textDocument/codeAction` must answer fast — editors ask on every cursor move — so it never
calls the model: it lists StarChat's actions, each carrying a `starchat.<action>` command
with the document, the range and (for Fix) the diagnostics it targets. The work happens
when the user picks one (`workspace/executeCommand`, see commands.py). Each action declares
its kind and whether it uses diagnostics (prompts/actions.py): Fix is a `quickfix`, offered
on any code and carrying the diagnostics in the range when there are some (it is then the
preferred fix); Add docstring and Improve are `refactor.rewrite`; Explain and Write tests
have no kind (they change nothing in place). Where there is no code — a blank selection, or
a cursor on a blank line outside any definition — nothing is offered. A client's
`context.only` filter is honoured.
"""

from typing import TYPE_CHECKING

from lsprotocol import types
from lsprotocol.converters import get_converter
from starchat.prompts import ACTIONS
from starchat.server.documents import Document, Span
from starchat.server.lsp.errors import guarded
from starchat.server.targets import target

if TYPE_CHECKING:
    from starchat.server.session import StarChatServer

_MAX_REMEMBERED = 500
_converter = get_converter()


def offered(
    uri: str, range_: types.Range, context: types.CodeActionContext
) -> list[types.CodeAction]:
    """The actions for `range_`, as commands to run later."""
    actions = []
    for action in ACTIONS.values():
        if context.only is not None and not any(_within(action.kind, o) for o in context.only):
            continue
        argument: dict[str, object] = {"uri": uri, "range": _converter.unstructure(range_)}
        carried = action.uses_diagnostics and bool(context.diagnostics)
        if carried:
            argument["diagnostics"] = _converter.unstructure(context.diagnostics)
        actions.append(
            types.CodeAction(
                title=action.title,
                kind=action.kind,
                diagnostics=list(context.diagnostics) if carried else None,
                is_preferred=True if carried else None,
                command=types.Command(
                    title=action.title, command=f"starchat.{action.name}", arguments=[argument]
                ),
            )
        )
    return actions


def _has_code(document: Document, span: Span, range_: types.Range) -> bool:
    """Whether the range holds code, or the cursor is on code or inside a definition. Only a
    cursor on a blank line needs the enclosing block found (the rare, slower case)."""
    if not span.empty:
        return bool(document.text[span.start : span.end].strip())
    if document.line_text(document.line_of(span.start)).strip():
        return True
    return bool(target(document, range_).code.strip())


def _within(kind: str, only: str) -> bool:
    """Whether `kind` is `only` or below it in the dotted hierarchy ("" is the root)."""
    return only == "" or kind == only or kind.startswith(only + ".")


def register(server: "StarChatServer") -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[
                types.CodeActionKind.QuickFix,
                types.CodeActionKind.RefactorRewrite,
            ]
        ),
    )
    @guarded("codeAction")
    def code_action(
        ls: "StarChatServer", params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        document = ls.documents.get(params.text_document.uri)
        span = document.span(params.range)  # a range past the end is an error, not no menu
        if not _has_code(document, span, params.range):
            return None
        for diagnostic in params.context.diagnostics:
            if (
                diagnostic not in document.diagnostics
                and len(document.diagnostics) < _MAX_REMEMBERED
            ):
                document.diagnostics.append(diagnostic)
        return offered(params.text_document.uri, params.range, params.context) or None
