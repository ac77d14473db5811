"""Lone UTF-16 surrogates: JSON can carry them (`"\\ud800"`), text cannot.

A string holding one cannot be encoded as UTF-8, so it would fail far from where it came in
(sending a prompt to the backend, writing a file). Requests that carry one are refused with
Invalid Params naming the field; notifications and responses, which cannot be answered, have
each one replaced by U+FFFD, which keeps every LSP position where it was (one UTF-16 unit).
"""

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def _holds(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def lone_surrogate_at(value: Any, path: str = "params") -> str | None:
    """Where in `value` the first string with a lone surrogate is (`params.message`), or None."""
    pending: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while pending:
        keys, item = pending.pop()
        if isinstance(item, str) and _holds(item):
            return _show(path, keys)
        if isinstance(item, dict):
            for key, child in item.items():
                if _holds(key):
                    return f"a key of {_show(path, keys)}"
                pending.append(((*keys, key), child))
        elif isinstance(item, list):
            pending.extend(((*keys, index), child) for index, child in enumerate(item))
    return None


def _show(path: str, keys: tuple[Any, ...]) -> str:
    return path + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys)


def replace_lone_surrogates(value: Any) -> Any:
    """`value` with every lone surrogate in its strings replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _holds(value) else value
    if isinstance(value, dict):
        return {replace_lone_surrogates(k): replace_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_lone_surrogates(item) for item in value]
    return value
