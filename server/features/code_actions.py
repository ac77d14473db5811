"""Code actions: what the editor offers in its light-bulb menu for a range.

`textDocument/codeAction` must answer fast — editors ask on every cursor move — so it never
calls the model: it lists StarChat's actions, each carrying a `starchat.<action>` command
with the document, the range and (for Fix) the diagnostics it targets. The work happens
when the user picks one (`workspace/executeCommand`, see commands.py). Each action declares
its kind and whether it needs diagnostics (prompts/actions.py): Fix is a `quickfix` offered
only where the editor reports diagnostics; Add docstring and Improve are `refactor.rewrite`;
Explain and Write tests have no kind (they change nothing in place). A client's
`context.only` filter is honoured.
"""

from typing import TYPE_CHECKING

from lsprotocol import types
from lsprotocol.converters import get_converter
from starchat.prompts import ACTIONS
from starchat.server.lsp.errors import guarded

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
        if action.needs_diagnostics and not context.diagnostics:
            continue
        if context.only is not None and not any(_within(action.kind, o) for o in context.only):
            continue
        argument: dict[str, object] = {"uri": uri, "range": _converter.unstructure(range_)}
        if action.needs_diagnostics:
            argument["diagnostics"] = _converter.unstructure(context.diagnostics)
        actions.append(
            types.CodeAction(
                title=action.title,
                kind=action.kind,
                diagnostics=list(context.diagnostics) if action.needs_diagnostics else None,
                is_preferred=True if action.needs_diagnostics else None,
                command=types.Command(
                    title=action.title, command=f"starchat.{action.name}", arguments=[argument]
                ),
            )
        )
    return actions


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
        document.span(params.range)  # a range past the end is an error, not an empty menu
        for diagnostic in params.context.diagnostics:
            if (
                diagnostic not in document.diagnostics
                and len(document.diagnostics) < _MAX_REMEMBERED
            ):
                document.diagnostics.append(diagnostic)
        return offered(params.text_document.uri, params.range, params.context) or None
