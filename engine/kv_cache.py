"""Key/value caches kept between turns, so that a follow-up encodes only its new tokens.

After each answer the engine keeps the model's cache for that conversation: the keys and
values of every token of the prompt and the answer. The next turn's prompt usually starts
with exactly those tokens (the same system prompt, history and code, then the new
question); the cache is cut back to the longest common prefix and generation starts from
there. Correctness never depends on the bookkeeping: only tokens equal to the new prompt's
own are reused, so a trimmed history, a changed system prompt or settings simply reuse less
(a short common prefix drops the entry). Entries are evicted least recently used first
within a memory budget; one larger than the whole budget is not kept (the turn re-encodes).

A generation holds its entry while it runs (it extends the cache in place). A request for a
key whose cache is out waits for it to come back: the holder is nearly always a completion
of the same document that the new one superseded, stopping at its next token — often still
encoding the very code the new one starts with, which is cheaper to wait for than to encode
again beside it.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starchat.engine.turns import wait_while

MIN_REUSE = 16
"""Fewer common tokens than this are not worth a cache lookup: the entry is dropped."""


@dataclass
class _Entry:
    ids: list[int]
    """The tokens whose keys and values the cache holds."""
    cache: Any
    size: int


def cache_bytes(cache: Any) -> int:
    """Bytes held by a transformers cache's key and value tensors."""
    total = 0
    for layer in getattr(cache, "layers", []):
        for name in ("keys", "values"):
            tensor = getattr(layer, name, None)
            if tensor is not None and hasattr(tensor, "nbytes"):
                total += int(tensor.nbytes)
    return total


def common_prefix(a: list[int], b: list[int]) -> int:
    size = min(len(a), len(b))
    for index in range(size):
        if a[index] != b[index]:
            return index
    return size


class KvStore:
    """Caches by conversation key; thread-safe (decode threads store, requests take)."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._returned = threading.Condition(self._lock)
        self._out: dict[str, int] = {}
        """How many generations hold each key's cache now."""

    def wait_returned(
        self, key: str, wait: float, stopped: Callable[[], bool] = lambda: False
    ) -> None:
        """While another generation holds `key`'s cache, wait up to `wait` seconds, or until
        `stopped()`, for it to come back."""
        with self._returned:
            wait_while(self._returned, lambda: self._out.get(key, 0) > 0, wait, stopped)

    def take(self, key: str, prompt_ids: list[int]) -> tuple[Any, int]:
        """The cache for `key` cut to the part `prompt_ids` starts with, and its length in
        tokens; (None, 0) when there is none worth using. The entry leaves the store until
        `give_back(key)` (the generation that uses it extends it in place and `put`s it
        first)."""
        with self._returned:
            self._out[key] = self._out.get(key, 0) + 1  # until give_back, whatever happens
            entry = self._entries.pop(key, None)
        if entry is None:
            return None, 0
        # At least one prompt token must be left to compute the next token's logits.
        reuse = min(common_prefix(entry.ids, prompt_ids), len(prompt_ids) - 1)
        if reuse < MIN_REUSE:
            return None, 0
        held = entry.cache.get_seq_length()
        if held > reuse:
            try:
                entry.cache.crop(reuse - held)
            except (RuntimeError, ValueError):
                # A sliding-window layer past its window cannot roll back: encode afresh.
                return None, 0
        return entry.cache, reuse

    def give_back(self, key: str) -> None:
        """The generation that took `key` is done with it (after its `put`, if any)."""
        with self._returned:
            count = self._out.pop(key, 0) - 1
            if count > 0:
                self._out[key] = count
            self._returned.notify_all()

    def put(self, key: str, ids: list[int], cache: Any, budget_bytes: int) -> None:
        """Keep `cache` (holding the first tokens of `ids`) for `key`, evicting the least
        recently used entries beyond `budget_bytes`."""
        held = cache.get_seq_length()
        size = cache_bytes(cache)
        with self._lock:
            self._entries.pop(key, None)
            if size > budget_bytes or held < MIN_REUSE:
                return
            self._entries[key] = _Entry(ids[:held], cache, size)
            while sum(e.size for e in self._entries.values()) > budget_bytes:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
