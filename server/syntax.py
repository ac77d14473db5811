"""Reading code's syntax without running it: Python with `ast`, other languages with
tree-sitter grammars (one PyPI wheel per language, listed in `_GRAMMARS`).

What the edit checks need: whether a text parses (and where it first does not), its shape
with comments and docstrings left out (two texts with the same shape differ only in
those), the names it defines, and what its imports and assertions are. A language without
a grammar here answers None ("cannot tell"), and the checks that need a parse are skipped
for it.
"""

import ast
import builtins
import functools
import importlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import tree_sitter

_GRAMMARS = {
    "javascript": ("tree_sitter_javascript", "language"),
    "javascriptreact": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "typescriptreact": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "ruby": ("tree_sitter_ruby", "language"),
    "shellscript": ("tree_sitter_bash", "language"),
}
"""LSP language id → (grammar module, function returning its language)."""

_DEFINITION_WORDS = ("function", "class", "method", "struct", "enum", "interface", "trait")
"""A tree-sitter node with a `name` field whose type holds one of these defines that name."""


@functools.cache
def _parser(language: str) -> tree_sitter.Parser | None:
    grammar = _GRAMMARS.get(language)
    if grammar is None:
        return None
    try:
        module = importlib.import_module(grammar[0])
    except ImportError:
        return None
    return tree_sitter.Parser(tree_sitter.Language(getattr(module, grammar[1])()))


def can_parse(language: str) -> bool:
    return language == "python" or _parser(language) is not None


def _python(text: str) -> ast.Module | None:
    try:
        return ast.parse(text.replace("\r\n", "\n").replace("\r", "\n"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _tree(language: str, text: str) -> tree_sitter.Node | None:
    parser = _parser(language)
    return None if parser is None else parser.parse(text.encode("utf-8", "surrogatepass")).root_node


def syntax_error(language: str, text: str) -> str | None:
    """Where `text` first fails to parse ("line 3: invalid syntax"), or None when it parses
    or the language has no grammar here."""
    if language == "python":
        try:
            ast.parse(text.replace("\r\n", "\n").replace("\r", "\n"))
        except SyntaxError as error:
            return f"line {error.lineno}: {error.msg}"
        except (ValueError, RecursionError, MemoryError) as error:
            return str(error) or type(error).__name__
        return None
    root = _tree(language, text)
    if root is None or not root.has_error:
        return None
    bad = next((n for n in _walk(root) if n.is_error or n.is_missing), root)
    what = f"missing {bad.type}" if bad.is_missing else "syntax error"
    return f"line {bad.start_point.row + 1}: {what}"


def _walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def shape(language: str, text: str) -> Any:
    """`text`'s syntax tree without comments and docstrings (None: it does not parse, or no
    grammar): equal shapes mean the texts differ in comments, docstrings and layout only."""
    if language == "python":
        tree = _python(text)
        if tree is None:
            return None
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (
                isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and body
                and _is_docstring(body[0])
            ):
                node.body = body[1:] or [ast.Pass()]
        return ast.dump(tree)
    root = _tree(language, text)
    if root is None or root.has_error:
        return None
    return _ts_shape(root)


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _ts_shape(node: tree_sitter.Node) -> Any:
    children = [c for c in node.children if "comment" not in c.type]
    if not children:
        return (node.type, node.text)
    return (node.type, tuple(_ts_shape(c) for c in children))


def definitions(language: str, text: str) -> Counter[str] | None:
    """How many times each function, class and top-level variable name is defined in `text`
    (None: it does not parse, or no grammar)."""
    if language == "python":
        tree = _python(text)
        if tree is None:
            return None
        names: Counter[str] = Counter(
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        )
        for statement in tree.body:
            targets = statement.targets if isinstance(statement, ast.Assign) else []
            if isinstance(statement, ast.AnnAssign):
                targets = [statement.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        return names
    root = _tree(language, text)
    if root is None or root.has_error:
        return None
    found: Counter[str] = Counter()
    for node in _walk(root):
        name = node.child_by_field_name("name")
        if name is not None and any(word in node.type for word in _DEFINITION_WORDS):
            found[(name.text or b"").decode("utf-8", "replace")] += 1
    return found


def python_imports(text: str) -> set[str] | None:
    """The modules a Python text imports from (`import a.b` → "a.b", `from a.b import c` →
    "a.b" and "a.b.c"); None when it does not parse."""
    tree = _python(text)
    if tree is None:
        return None
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def python_asserts(text: str) -> bool:
    """Whether Python tests check anything: an `assert`, a `self.assert…` or `pytest.raises`."""
    tree = _python(text)
    if tree is None:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name.startswith("assert") or name in ("raises", "fail"):
                return True
    return False


def top_level_functions(language: str, text: str) -> set[str]:
    """Names of functions and classes defined at the top of `text` (Python), or anywhere
    (other languages); empty when it does not parse."""
    if language == "python":
        tree = _python(text)
        return {
            node.name
            for node in (tree.body if tree else [])
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        }
    return set(definitions(language, text) or ())


def sole_definition(language: str, text: str) -> str | None:
    """The name of the one function or class `text` consists of, or None when it is
    something else (several statements, an expression, code that does not parse)."""
    if language == "python":
        tree = _python(text)
        if tree is None or len(tree.body) != 1:
            return None
        node = tree.body[0]
        return node.name if isinstance(node, _PY_DEFINITIONS) else None
    root = _tree(language, text)
    if root is None or root.has_error:
        return None
    top = [c for c in root.named_children if "comment" not in c.type]
    if len(top) != 1 or not any(word in top[0].type for word in _DEFINITION_WORDS):
        return None
    name = top[0].child_by_field_name("name")
    return None if name is None else (name.text or b"").decode("utf-8", "replace")


def top_level_statements(language: str, text: str) -> int | None:
    """How many statements (comments aside) `text` holds at its top level; None: it does not
    parse, or no grammar."""
    if language == "python":
        tree = _python(text)
        return None if tree is None else len(tree.body)
    root = _tree(language, text)
    if root is None or root.has_error:
        return None
    return sum(1 for c in root.named_children if "comment" not in c.type)


def undefined_names(text: str) -> set[str] | None:
    """Names a Python text reads that nothing in it defines (not a builtin, an import, a
    definition, a parameter or an assignment in any scope: a coarse, scope-blind check that
    never blames a name defined somewhere); None when it does not parse."""
    tree = _python(text)
    if tree is None:
        return None
    defined = set(dir(builtins)) | {"__file__", "__name__", "__doc__", "__class__"}
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, _PY_DEFINITIONS):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            defined.update(node.names)
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            defined.add(node.name)
    return used - defined


_PY_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
