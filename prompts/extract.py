"""Reading code out of an answer: one function for the editor's edits and for evaluation."""

import re
import textwrap

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$", re.M)

_ALIASES = {
    "py": "python",
    "python3": "python",
    "js": "javascript",
    "ts": "typescript",
    "c++": "cpp",
    "cc": "cpp",
    "sh": "shell",
    "bash": "shell",
    "shellscript": "shell",
    "rs": "rust",
}


def canonical_language(tag: str) -> str:
    """A fence's language tag (or an LSP language id) under one name: "py" → "python"."""
    tag = tag.strip().split()[0].lower() if tag.strip() else ""
    return _ALIASES.get(tag, tag)


def code_blocks(answer: str) -> list[tuple[str, str]]:
    """Every fenced block as (language tag, code); an unterminated last block runs to the end.
    Windows line endings are read as line ends."""
    answer = answer.replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[tuple[str, str]] = []
    pos = 0
    while match := _FENCE.search(answer, pos):
        fence = match["fence"]
        body_start = match.end() + 1
        closer = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.M)
        end = closer.search(answer, body_start)
        body = answer[body_start : end.start() if end else len(answer)]
        body = textwrap.dedent(body) if match["indent"] else body
        blocks.append((canonical_language(match["info"]), body.rstrip("\n")))
        if end is None:
            break
        pos = end.end()
    return blocks


def extract_code(answer: str, language: str | None = None) -> str | None:
    """The code an answer offers, or None when it has none.

    The longest fenced block tagged with `language` (or untagged), else the longest block.
    Prose without a fence is not code: guessing would apply a sentence as an edit.
    """
    blocks = [(tag, code) for tag, code in code_blocks(answer) if code.strip()]
    if blocks:
        wanted = canonical_language(language) if language else ""
        matching = [code for tag, code in blocks if tag in (wanted, "")]
        return max(matching or [code for _, code in blocks], key=len)
    return None


def reindent(code: str, like: str) -> str:
    """`code` re-indented to the indentation of the first non-blank line of `like`."""
    body = textwrap.dedent(code.expandtabs(4) if "\t" not in like else code)
    first = next((line for line in like.splitlines() if line.strip()), "")
    indent = first[: len(first) - len(first.lstrip())]
    return textwrap.indent(body, indent, lambda line: bool(line.strip()))
