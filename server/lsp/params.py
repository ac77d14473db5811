"""Typed params of the custom requests and command arguments, validated with a clear error.

Standard LSP params are typed by pygls from lsprotocol; `starchat/*` requests and command
arguments arrive as plain JSON, so they are checked here, and a mistake is answered with
InvalidParams naming the field ("context.range.start.line: …").
"""

from typing import Any, Literal, TypeVar

from lsprotocol import types
from lsprotocol.converters import get_converter
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from starchat.prompts import Message
from starchat.server.lsp.errors import UserInputError

_converter = get_converter()


class _Params(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, strict=True)


class Position(_Params):
    line: int = Field(ge=0)
    character: int = Field(ge=0)


class Range(_Params):
    start: Position
    end: Position

    def lsp(self) -> types.Range:
        return types.Range(
            types.Position(self.start.line, self.start.character),
            types.Position(self.end.line, self.end.character),
        )


class EditorLocation(_Params):
    """Where in the editor a request is about: a document and, optionally, a range in it."""

    uri: str
    range: Range | None = None
    diagnostics: list[dict[str, Any]] | None = None
    """LSP diagnostics in the range; when absent, those the editor last showed the server."""

    def lsp_range(self) -> types.Range | None:
        return self.range.lsp() if self.range is not None else None

    def lsp_diagnostics(self) -> list[types.Diagnostic] | None:
        if self.diagnostics is None:
            return None
        try:
            return [_converter.structure(d, types.Diagnostic) for d in self.diagnostics]
        except Exception as error:
            raise UserInputError(f"diagnostics: not LSP diagnostics ({error})") from error


class ChatContext(EditorLocation):
    """The editor context of a chat message; with no range (the whole file), `cursor` is
    where the file is cut around when it does not fit."""

    cursor: Position | None = None
    files: list[str] | None = None
    """URIs of workspace files the user named: their code goes with the message first."""


class HistoryMessage(_Params):
    role: Literal["user", "assistant"]
    content: str


def history_messages(history: list[HistoryMessage] | None) -> list[Message] | None:
    """A client's `history` as dialogue messages (None stays None: no history sent)."""
    if history is None:
        return None
    return [{"role": m.role, "content": m.content} for m in history]


class ChatParams(_Params):
    message: str = ""
    conversation_id: str | None = None
    context: ChatContext | None = None
    partial_result_token: int | str | None = None
    history: list[HistoryMessage] | None = None
    """The conversation as the client kept it, to go on from when the server does not know
    `conversation_id` (conversations.py checks it)."""
    continue_: bool = Field(False, alias="continue")
    """Resume the last answer, cut by the answer limit; `message` is not used."""


class DeleteConversationParams(_Params):
    conversation_id: str


class CommandArguments(EditorLocation):
    """The single argument of every `starchat.<action>` command: where, and optionally the
    conversation to continue and the token to stream the answer to."""

    conversation_id: str | None = None
    partial_result_token: int | str | None = None
    history: list[HistoryMessage] | None = None
    """As chat's: the conversation to go on from when the server does not know the id."""


Model = TypeVar("Model", bound=_Params)


def parse(model: type[Model], raw: object, what: str) -> Model:
    if not isinstance(raw, dict):
        raise UserInputError(f"{what}: expected an object with the params")
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()[:5]
        )
        raise UserInputError(f"{what}: {problems}") from None
