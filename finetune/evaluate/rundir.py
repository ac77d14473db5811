"""An output folder that a rerun resumes: records are appended line by line as they finish.

`run.json` holds what makes results comparable (model, sampling, prompt template …). A
rerun with the same identity skips what is already recorded; a different identity is
refused, so one folder never mixes two models' results. Nothing already written is ever
deleted: a run killed mid-line leaves a partial last line, which the next run drops.
"""

import json
from pathlib import Path
from typing import Any

from starchat.finetune.evaluate.errors import EvalError, OtherRunError

_IDENTITY = "run.json"


class RunDir:
    def __init__(self, path: Path, identity: dict[str, Any]) -> None:
        self.path = path
        self.identity = identity

    def claim(self) -> None:
        """Create the folder, or check that it holds results of the same run."""
        self.path.mkdir(parents=True, exist_ok=True)
        marker = self.path / _IDENTITY
        if marker.is_file():
            try:
                recorded = json.loads(marker.read_text(encoding="utf-8"))
            except json.JSONDecodeError as error:
                raise EvalError(f"{marker} is not valid JSON ({error}); remove it") from error
            differences = [
                f"{key}: {recorded.get(key)!r} there, {value!r} now"
                for key, value in self.identity.items()
                if recorded.get(key) != value
            ]
            if differences:
                raise OtherRunError(
                    f"{self.path} holds results of a different run ("
                    + "; ".join(differences)
                    + "). Choose another --out folder, or delete this one to start over."
                )
        else:
            marker.write_text(json.dumps(self.identity, indent=2) + "\n", encoding="utf-8")

    def read(self, name: str) -> list[dict[str, Any]]:
        """The complete records of `name`; a torn last line (a killed run) is dropped."""
        file = self.path / name
        if not file.is_file():
            return []
        lines = file.read_text(encoding="utf-8").splitlines()
        records = []
        for number, line in enumerate(lines, 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                if number != len(lines):
                    raise EvalError(f"{file} line {number} is not valid JSON: {error}") from error
                file.write_text("".join(_line(r) for r in records), encoding="utf-8")
        return records

    def append(self, name: str, record: dict[str, Any]) -> None:
        with (self.path / name).open("a", encoding="utf-8") as file:
            file.write(_line(record))

    def write_json(self, name: str, data: dict[str, Any]) -> Path:
        file = self.path / name
        file.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return file


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"
