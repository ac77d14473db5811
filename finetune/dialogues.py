"""One dataset row → one clean dialogue, or the reason it cannot be trained on.

A trainable dialogue has the StarChat shape: an optional system turn, then user and
assistant turns alternating, starting with the user and ending with the assistant (the
assistant answers are what the loss is on). Rows in OpenAI/oasst1_en `messages` form
(`role`/`content`) and in ShareGPT `conversations` form (`from`/`value`) are accepted. A row
that does not fit is dropped with one reason, counted for the data summary: a bad row in
19,000 must cost a line in a report, never a crash mid-run.
"""

import hashlib
import json
from typing import Any

from starchat.prompts import STARCHAT_SPECIAL_TOKENS, Message

SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
}

# Drop reasons, in the order they are checked (a row gets the first that applies).
MALFORMED = "malformed row"
UNKNOWN_ROLE = "unknown role"
EMPTY_CONTENT = "empty content"
CHAT_TOKEN = "chat token inside content"
NO_ASSISTANT = "no assistant turn"
WRONG_ORDER = "wrong turn order"


class Rejected(Exception):
    """A row that cannot be trained on; `reason` is one of the constants above."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def dialogue_from_row(row: Any) -> list[Message]:
    """The row's turns as StarChat messages; raises `Rejected` with the reason otherwise."""
    turns = _turns(row)
    for message in turns:
        if message["role"] not in ("system", "user", "assistant"):
            raise Rejected(UNKNOWN_ROLE)
    for message in turns:
        if message["role"] != "system" and not message["content"].strip():
            raise Rejected(EMPTY_CONTENT)
    for message in turns:
        if any(token in message["content"] for token in STARCHAT_SPECIAL_TOKENS):
            raise Rejected(CHAT_TOKEN)
    if not any(message["role"] == "assistant" for message in turns):
        raise Rejected(NO_ASSISTANT)
    body = turns[1:] if turns and turns[0]["role"] == "system" else turns
    expected = ["user", "assistant"] * (len(body) // 2)
    if not body or [m["role"] for m in body] != expected:
        raise Rejected(WRONG_ORDER)
    return turns


def dialogue_key(messages: list[Message]) -> str:
    """A content hash: two rows with the same turns are the same dialogue."""
    canonical = json.dumps([[m["role"], m["content"].strip()] for m in messages])
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _turns(row: Any) -> list[Message]:
    if not isinstance(row, dict):
        raise Rejected(MALFORMED)
    if row.get("messages") is not None:
        raw, role_key, content_key, roles = row["messages"], "role", "content", None
    elif row.get("conversations") is not None:
        raw, role_key, content_key, roles = row["conversations"], "from", "value", SHAREGPT_ROLES
    else:
        raise Rejected(MALFORMED)
    if not isinstance(raw, list):
        raise Rejected(MALFORMED)
    turns: list[Message] = []
    for item in raw:
        if not isinstance(item, dict):
            raise Rejected(MALFORMED)
        role, content = item.get(role_key), item.get(content_key)
        if not isinstance(role, str) or not isinstance(content, str):
            raise Rejected(MALFORMED)
        if roles is not None:
            if role not in roles:
                raise Rejected(UNKNOWN_ROLE)
            role = roles[role]
        turns.append({"role": role, "content": content})  # type: ignore[typeddict-item]
    return turns
