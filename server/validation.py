"""Checks an answer must pass before its edit is applied. Each check returns the reason it
fails — one clause the user reads after "nothing was changed —" — or None when it passes.

- Any rewrite: the edited file parses wherever the original did (Python with `ast`, other
  languages with tree-sitter; a language without a grammar here is not parse-checked), and
  no definition ends up twice in the file (an answer that held the whole file).
- Add docstring: the edited file differs from the original in docstrings and comments only.
- Fix and Improve: every function, class and top-level variable the target defines is
  still defined by the new code; a function or class is replaced by one definition, not by
  one with imports or other code around it; Python code reads no name that nothing in the
  file defines (a coarse, scope-blind check: it never blames a defined name).
- Write tests: the tests parse, import the module under test instead of redefining its
  functions, and assert something.
"""

import re
import textwrap

from starchat.prompts import Action
from starchat.prompts.extract import canonical_language, code_blocks
from starchat.server import syntax

_ASSERTION = re.compile(r"\b(assert\w*|expect|should|t\.(Error|Errorf|Fatal|Fatalf|Fail))\b")
_IMPORT_LINE = re.compile(r"^\s*(import|from|const|let|var|use|require)\b.*$", re.M)


def wrong_language(answer: str, language: str) -> str | None:
    """Why the answer's code cannot be used here when all of it is tagged another language."""
    tags = {tag for tag, code in code_blocks(answer) if code.strip()}
    wanted = canonical_language(language)
    if not tags or wanted in tags or "" in tags:
        return None
    return f"its code is {' and '.join(sorted(tags))}, not {language}"


def check_rewrite(
    action: Action, language: str, before: str, after: str, target_code: str, new_code: str
) -> str | None:
    """Why the edit turning `before` into `after` (the target's code into `new_code`)
    must not be applied, or None."""
    if syntax.syntax_error(language, before) is None:
        error = syntax.syntax_error(language, after)
        if error is not None:
            return f"the edited file would not parse ({error})"
    if action.name == "addDocstring":
        old_shape = syntax.shape(language, before)
        if old_shape is not None and syntax.shape(language, after) != old_shape:
            return "it changes code, and only docstrings and comments were to change"
        return None
    old_names = syntax.definitions(language, before)
    new_names = syntax.definitions(language, after)
    if old_names is not None and new_names is not None:
        twice = sorted(n for n, c in new_names.items() if c > 1 and c > old_names.get(n, 0))
        if twice:
            return (
                f"it would define {_names(twice)} twice in the file (the answer held more "
                "than the code it replaces)"
            )
    if action.name in ("fix", "improve"):
        return _same_role(language, before, after, textwrap.dedent(target_code), new_code)
    return None


def _same_role(
    language: str, before: str, after: str, target_code: str, new_code: str
) -> str | None:
    """Fix and Improve: the new code defines what the old one did, adds nothing around a
    definition, and (Python) reads no name that nothing in the file defines."""
    new_code = textwrap.dedent(new_code)
    kept = syntax.definitions(language, target_code)
    offered = syntax.definitions(language, new_code)
    if kept is not None and offered is not None:
        lost = sorted(set(kept) - set(offered))
        if lost:
            return f"it no longer defines {_names(lost)}, which the code defined"
    name = syntax.sole_definition(language, target_code)
    statements = syntax.top_level_statements(language, new_code)
    if name is not None and statements is not None and statements > 1:
        return (
            f"it adds code around `{name}` (imports or other definitions) where only `{name}` "
            "was to change"
        )
    if language == "python":
        old_unknown = syntax.undefined_names(before) or set()
        unknown = sorted((syntax.undefined_names(after) or set()) - old_unknown)
        if unknown:
            return f"it uses {_names(unknown)}, which nothing in the file defines"
    return None


def check_tests(
    language: str, code: str, existing: str | None, module: str, target_code: str
) -> str | None:
    """Why the test code `code` (appended to `existing`, if any) must not be written."""
    error = syntax.syntax_error(language, code)
    if error is not None:
        return f"the tests do not parse ({error})"
    tested = syntax.top_level_functions(language, textwrap.dedent(target_code))
    redefined = sorted(tested & syntax.top_level_functions(language, code))
    if redefined:
        return f"the tests redefine {_names(redefined)} instead of importing it"
    whole = f"{existing or ''}\n{code}"
    if not _imports(language, whole, module):
        return f"the tests do not import the code under test (`{module}`)"
    asserts = syntax.python_asserts(code) if language == "python" else bool(_ASSERTION.search(code))
    if not asserts:
        return "the tests assert nothing"
    return None


def _imports(language: str, code: str, module: str) -> bool:
    if not module or language == "go":  # Go tests live in the package they test
        return True
    last = module.rsplit(".", 1)[-1] if language == "python" else module.rsplit("/", 1)[-1]
    if language == "python":
        imported = syntax.python_imports(code) or set()
        return any(
            name in (module, last) or name.startswith((f"{module}.", f"{last}."))
            for name in imported
        )
    return any(
        re.search(rf"\b{re.escape(last)}\b", line[0]) for line in _IMPORT_LINE.finditer(code)
    )


def _names(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)
