"""Incremental detokenization: text that is final as soon as it is final, never garbled.

Decoding token by token breaks multi-byte UTF-8 characters split across tokens and spaces
that depend on the previous token. Like TGI and vLLM, decode a short window ending at the
newest token and emit only the text past what the window's prefix already produced, holding
back while the tail is an incomplete character (U+FFFD). A UTF-8 character is at most four
bytes, so a tail still incomplete after `_MAX_HELD` tokens is invalid output, not a
character in progress: it is emitted as it decodes rather than stalling the stream.
"""

from typing import Any

_MAX_HELD = 4


class IncrementalDetokenizer:
    def __init__(self, tokenizer: Any, context: list[int] | None = None) -> None:
        """`context`: tokens already shown (the end of a continued answer), decoded with the
        first new ones but never emitted."""
        self._tokenizer = tokenizer
        self._ids: list[int] = list(context or [])
        self._prefix = 0
        self._read = len(self._ids)

    def _decode(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=True))

    def add(self, token_id: int) -> str:
        """Feed one generated token; return the text that became final with it."""
        self._ids.append(token_id)
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        held = len(self._ids) - self._read
        if len(after) > len(before) and (not after.endswith("\ufffd") or held >= _MAX_HELD):
            self._prefix, self._read = self._read, len(self._ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        """Whatever is still held back at the end of generation."""
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return after[len(before) :]
