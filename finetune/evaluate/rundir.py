"""An output folder that a rerun resumes: records are appended line by line as they finish.

`run.json` holds what makes results comparable (model, sampling, prompt template …). A
rerun with the same identity skips what is already recorded; a different identity is
refused, so one folder never mixes two models' results. Nothing already written is ever
deleted: a run killed mid-line leaves a partial last line, which the next run drops.

Results are never written through links: a folder that is a symbolic link or holds one
is refused, and every file is opened relative to the folder with O_NOFOLLOW (a link
planted during the run is refused too) and checked for other hard links before anything
is written, so a link planted by someone else cannot make a run overwrite or create
files elsewhere.
"""

import errno
import json
import os
from pathlib import Path
from typing import Any

from starchat.finetune.evaluate.errors import EvalError, OtherRunError, UnsafeOutputError

_IDENTITY = "run.json"
_NO_LINKS = os.O_NOFOLLOW | os.O_CLOEXEC
_ADVICE = "results are never written through links: remove it or choose another --out folder"


class RunDir:
    def __init__(self, path: Path, identity: dict[str, Any]) -> None:
        self.path = path
        self.identity = identity

    def claim(self) -> None:
        """Create the folder, or check that it holds results of the same run and no links."""
        if self.path.is_symlink():
            raise UnsafeOutputError(f"{self.path} is a symbolic link; {_ADVICE}")
        self.path.mkdir(parents=True, exist_ok=True)
        links = sorted(entry.name for entry in self.path.iterdir() if entry.is_symlink())
        if links:
            raise UnsafeOutputError(
                f"{self.path} holds symbolic links ({', '.join(links)}); {_ADVICE}"
            )
        text = self._read_text(_IDENTITY)
        if text is None:
            self._write(_IDENTITY, json.dumps(self.identity, indent=2) + "\n", append=False)
            return
        try:
            recorded = json.loads(text)
        except json.JSONDecodeError as error:
            raise EvalError(
                f"{self.path / _IDENTITY} is not valid JSON ({error}); remove it"
            ) from error
        differences = [
            f"{key}: {_recorded(recorded, key)} there, {value!r} now"
            for key, value in self.identity.items()
            if recorded.get(key) != value
        ]
        if differences:
            raise OtherRunError(
                f"{self.path} holds results of a different run ("
                + "; ".join(differences)
                + "). Choose another --out folder, or delete this one to start over."
            )

    def read(self, name: str) -> list[dict[str, Any]]:
        """The complete records of `name`; a torn last line (a killed run) is dropped."""
        text = self._read_text(name)
        if text is None:
            return []
        lines = text.splitlines()
        records = []
        for number, line in enumerate(lines, 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                if number != len(lines):
                    where = self.path / name
                    raise EvalError(f"{where} line {number} is not valid JSON: {error}") from error
                self._write(name, "".join(_line(r) for r in records), append=False)
        return records

    def append(self, name: str, record: dict[str, Any]) -> None:
        self._write(name, _line(record), append=True)

    def write_json(self, name: str, data: dict[str, Any]) -> Path:
        self._write(name, json.dumps(data, indent=2, ensure_ascii=False) + "\n", append=False)
        return self.path / name

    def write_bytes(self, name: str, data: bytes) -> Path:
        fd = self._open(name, os.O_WRONLY | os.O_CREAT)
        with open(fd, "wb") as file:
            file.truncate(0)
            file.write(data)
        return self.path / name

    def _read_text(self, name: str) -> str | None:
        """The file's text, or None when it does not exist."""
        try:
            fd = self._open(name, os.O_RDONLY)
        except FileNotFoundError:
            return None
        with open(fd, encoding="utf-8") as file:
            return file.read()

    def _write(self, name: str, text: str, *, append: bool) -> None:
        fd = self._open(name, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else 0))
        with open(fd, "w", encoding="utf-8") as file:
            if not append:
                file.truncate(0)  # only now: O_TRUNC would cut a hard-linked file before the check
            file.write(text)

    def _open(self, name: str, flags: int) -> int:
        """A descriptor for `name` in the folder, opened without following any link."""
        where = self.path / name
        try:
            folder = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | _NO_LINKS)
            try:
                fd = os.open(name, flags | _NO_LINKS, 0o644, dir_fd=folder)
            finally:
                os.close(folder)
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            link = self.path if self.path.is_symlink() else where
            raise UnsafeOutputError(f"{link} is a symbolic link; {_ADVICE}") from error
        if os.fstat(fd).st_nlink > 1:
            os.close(fd)
            raise UnsafeOutputError(f"{where} has another hard link; {_ADVICE}")
        return fd


def _recorded(identity: dict[str, Any], key: str) -> str:
    """How a value of a run.json reads in a message (absent: an older run did not record it)."""
    return repr(identity[key]) if key in identity else "not recorded"


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"
