"""The dialogue format and every prompt of StarChat LSP, as data files plus a small loader.

`starchat.jinja` is the one definition of the StarChat format: the server renders it, and
training reads its loss mask from the same file. See `prompts/README.md` for every file.
"""

from starchat.prompts.actions import ACTIONS, Action, ActionSlots, Diagnostic, render_action
from starchat.prompts.budget import Fitted, PromptTooLongError, fit_messages
from starchat.prompts.dialogue import (
    END_TOKEN,
    FEWSHOT_STOP,
    STARCHAT_SPECIAL_TOKENS,
    STARCHAT_TEMPLATE,
    Message,
    render_fewshot,
    render_starchat,
    system_prompt,
)
from starchat.prompts.extract import extract_code, reindent

__all__ = [
    "ACTIONS",
    "END_TOKEN",
    "FEWSHOT_STOP",
    "STARCHAT_SPECIAL_TOKENS",
    "STARCHAT_TEMPLATE",
    "Action",
    "ActionSlots",
    "Diagnostic",
    "Fitted",
    "Message",
    "PromptTooLongError",
    "extract_code",
    "fit_messages",
    "reindent",
    "render_action",
    "render_fewshot",
    "render_starchat",
    "system_prompt",
]
