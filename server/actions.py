"""What a code action asks the model: its template's slots from the editor context, and the
user turn within the prompt budget.

One path for the server's commands and `starchat prompt --action`, so the command line
prints exactly what the server sends.
"""

from collections.abc import Callable
from dataclasses import replace

from starchat.prompts import Action, ActionSlots, render_action
from starchat.server.context import MAX_CHARS_PER_TOKEN, fit_code
from starchat.server.edits import UnitTestFile, unit_test_file
from starchat.server.lsp.errors import UserInputError
from starchat.server.turns import BuildUser


def action_slots(uri: str, context: ActionSlots) -> tuple[ActionSlots, UnitTestFile]:
    """The template's slots, and the test file Write tests would write (its module is a slot)."""
    test = unit_test_file(uri, context.path, context.language)
    return replace(context, module=test.module, test_framework=test.framework), test


def action_turn(action: Action, slots: ActionSlots) -> BuildUser:
    """The user turn for `action`. An answer may see less of long code (a note says how much
    was left out); a rewrite must see all of the code it replaces, or it is refused."""

    def render(code: str) -> str:
        return render_action(action, replace(slots, code=code))

    def build(count: Callable[[str], int], budget: int) -> str:
        if action.result == "answer":
            code = fit_code(
                slots.code, lambda c: count(render(c)) <= budget, budget * MAX_CHARS_PER_TOKEN
            )
            return render(code)
        prompt = render_action(action, slots)
        if count(prompt) > budget:
            raise UserInputError(
                f"The code to {verb(action)} is longer than the model can rewrite in one "
                "answer; select a smaller part"
            )
        return prompt

    return build


def verb(action: Action) -> str:
    """The action as the messages phrase it: "add docstring", "write tests"."""
    return action.title.removeprefix("StarChat: ").lower()
