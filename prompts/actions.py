"""Code-action prompts: one template per action, with slots filled from the editor."""

from dataclasses import dataclass, field
from typing import Literal

from starchat.prompts.files import environment

ActionName = Literal["explain", "fix", "writeTests", "addDocstring", "improve"]
Result = Literal["answer", "replace", "docstring", "testFile"]
Kind = Literal["", "quickfix", "refactor.rewrite"]
"""The LSP code-action kind: where editors list the action ("" = no kind: it changes
nothing in place)."""


@dataclass(frozen=True)
class Action:
    """What a code action is called, which template it renders and what it does with the answer.

    `result` is "answer" (show the text), "replace" (the extracted code replaces the target
    range), "docstring" (the answer is a docstring alone, which the server puts in place) or
    "testFile" (the extracted code goes to a test file beside the source). Every action is
    offered wherever there is code; one that `uses_diagnostics` carries those the editor
    reports in the range and is then the preferred fix (its prompt works without them). One
    that `uses_definitions` also shows the model where the workspace defines the names the
    code uses (callees, classes, constants), found by the server's workspace index.
    """

    name: ActionName
    title: str
    template: str
    result: Result
    kind: Kind
    uses_diagnostics: bool = False
    uses_definitions: bool = False


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action(
            "explain",
            "StarChat: Explain",
            "actions/explain.jinja",
            "answer",
            "",
            uses_definitions=True,
        ),
        Action(
            "fix",
            "StarChat: Fix",
            "actions/fix.jinja",
            "replace",
            "quickfix",
            uses_diagnostics=True,
            uses_definitions=True,
        ),
        Action(
            "writeTests",
            "StarChat: Write tests",
            "actions/tests.jinja",
            "testFile",
            "",
            uses_definitions=True,
        ),
        Action(
            "addDocstring",
            "StarChat: Add docstring",
            "actions/docstring.jinja",
            "docstring",
            "refactor.rewrite",
        ),
        Action(
            "improve", "StarChat: Improve", "actions/improve.jinja", "replace", "refactor.rewrite"
        ),
    )
}


@dataclass(frozen=True)
class Diagnostic:
    """An editor diagnostic as the prompts show it (1-based line)."""

    line: int
    message: str
    source: str | None = None


@dataclass(frozen=True)
class ActionSlots:
    """The editor context a code-action template is rendered with."""

    language: str
    path: str
    code: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    module: str = ""
    test_framework: str = ""

    @property
    def fence(self) -> str:
        """The Markdown fence tag for the language (the LSP language id is the usual tag)."""
        return self.language.lower().replace(" ", "")


def render_action(action: Action | str, slots: ActionSlots) -> str:
    """The user message for a code action."""
    act = ACTIONS[action] if isinstance(action, str) else action
    return render_template(act.template, slots)


def render_template(template: str, slots: ActionSlots, **extra: object) -> str:
    """Render any prompt template that takes the editor-context slots."""
    return (
        environment()
        .get_template(template)
        .render(
            language=slots.language,
            path=slots.path,
            code=slots.code,
            diagnostics=slots.diagnostics,
            module=slots.module,
            test_framework=slots.test_framework,
            fence=slots.fence,
            **extra,
        )
        .strip()
    )
