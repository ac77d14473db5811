"""Which workspace files the index reads, and which it never does.

Never read: anything outside the workspace folders (links are not followed, so a link cannot
lead out, nor loop); `.gitignore`d paths (every .gitignore in the tree, with git's rules,
through pathspec); version-control, dependency, virtual-environment, cache and build
folders; secrets (`.env*`, keys, certificates, credential files); binary files; files over a
size cap; anything the user's `exclude` globs name. Only source and documentation files
(by suffix) are read at all. The walk stops at a file cap, and says so.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

MAX_FILE_BYTES = 1 << 20
"""Larger files are generated or data: never read."""
MAX_FILES = 20_000
"""The walk stops here; the status says the index is capped."""

SKIPPED_FOLDERS = [
    ".git/", ".hg/", ".svn/", "node_modules/", "__pycache__/", ".venv/", "venv/", "env/",
    ".tox/", ".nox/", ".mypy_cache/", ".ruff_cache/", ".pytest_cache/", ".cache/", "build/",
    "dist/", "target/", "out/", ".next/", ".gradle/", ".idea/", "*.egg-info/", "site-packages/",
]  # fmt: skip
SECRETS = [
    ".env", ".env.*", "*.env", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore",
    "*.kdbx", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", ".netrc", ".npmrc", ".pypirc",
    "credentials*", "secrets.*", "*.secret", ".ssh/", ".aws/", ".gnupg/",
]  # fmt: skip
"""Never read, whatever the other settings say."""

SOURCE_SUFFIXES = frozenset([
    ".py", ".pyi", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".rs", ".go", ".c", ".h",
    ".cc", ".cpp", ".cxx", ".hpp", ".java", ".kt", ".scala", ".swift", ".cs", ".rb", ".php",
    ".lua", ".sh", ".bash", ".zsh", ".r", ".jl", ".dart", ".ex", ".exs", ".erl", ".hs", ".ml",
    ".zig", ".sql", ".vue", ".svelte", ".html", ".css", ".scss", ".md", ".rst", ".txt",
    ".toml", ".yaml", ".yml", ".cfg", ".ini",
])  # fmt: skip
SOURCE_NAMES = frozenset({"Makefile", "Dockerfile", "CMakeLists.txt", "Justfile"})


@dataclass
class Walk:
    """What a walk of the workspace found."""

    files: list[Path] = field(default_factory=list)
    capped: bool = False
    """True when the walk stopped at the file cap."""


class FileFilter:
    """Decides what the index reads under one workspace folder."""

    def __init__(self, root: Path, exclude: list[str] | None = None) -> None:
        self.root = root
        self._never = pathspec.GitIgnoreSpec.from_lines(SKIPPED_FOLDERS + SECRETS)
        self._excluded = pathspec.GitIgnoreSpec.from_lines(exclude or [])

    def walk(self, max_files: int = MAX_FILES) -> Walk:
        found = Walk()
        for path in self._files(self.root, []):
            if len(found.files) >= max_files:
                found.capped = True
                break
            found.files.append(path)
        return found

    def allows(self, path: Path) -> bool:
        """Whether `path` (absolute) is one the index may read: inside the folder, of a
        source suffix, not excluded, not ignored by a .gitignore on its way."""
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return False
        if ".." in relative.parts or not _is_source(path):
            return False
        if self._blocked(relative.as_posix(), is_dir=False):
            return False
        ignores: list[tuple[Path, pathspec.GitIgnoreSpec]] = []
        folder = self.root
        for part in relative.parts[:-1]:
            ignores = ignores + _gitignore(folder)
            folder = folder / part
            if folder.is_symlink() or _ignored(ignores, folder, is_dir=True):
                return False
            if self._blocked(folder.relative_to(self.root).as_posix(), is_dir=True):
                return False
            if (folder / "pyvenv.cfg").exists():
                return False
        ignores = ignores + _gitignore(folder)
        return not _ignored(ignores, path, is_dir=False) and not path.is_symlink()

    def _blocked(self, relative: str, *, is_dir: bool) -> bool:
        name = relative + "/" if is_dir else relative
        return self._never.match_file(name) or self._excluded.match_file(name)

    def _files(
        self, folder: Path, ignores: list[tuple[Path, pathspec.GitIgnoreSpec]]
    ) -> Iterator[Path]:
        ignores = ignores + _gitignore(folder)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:  # unreadable, or deleted while walking
            return
        for entry in entries:
            path = Path(entry.path)
            relative = path.relative_to(self.root).as_posix()
            try:
                if entry.is_symlink():
                    continue
                if entry.is_dir():
                    skip = self._blocked(relative, is_dir=True) or _ignored(ignores, path, True)
                    if not skip and not (path / "pyvenv.cfg").exists():
                        yield from self._files(path, ignores)
                elif (
                    entry.is_file()
                    and _is_source(path)
                    and not self._blocked(relative, is_dir=False)
                    and not _ignored(ignores, path, False)
                ):
                    yield path
            except OSError:
                continue


def read_text(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str | None:
    """The file's text, or None for a file that is too large, binary, a link, or gone.
    Bytes that are not UTF-8 are replaced, never fatal."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes or b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def _is_source(path: Path) -> bool:
    return path.suffix.lower() in SOURCE_SUFFIXES or path.name in SOURCE_NAMES


def _gitignore(folder: Path) -> list[tuple[Path, pathspec.GitIgnoreSpec]]:
    text = read_text(folder / ".gitignore")
    if not text:
        return []
    return [(folder, pathspec.GitIgnoreSpec.from_lines(text.splitlines()))]


def _ignored(ignores: list[tuple[Path, pathspec.GitIgnoreSpec]], path: Path, is_dir: bool) -> bool:
    for base, spec in ignores:
        relative = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        if spec.match_file(relative):
            return True
    return False
