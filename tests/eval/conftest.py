"""Helpers of the evaluation tests: samples files in, results folders out."""

import json
from pathlib import Path


def write_samples(path: Path, completions: dict[str, str]) -> Path:
    """A samples file (JSONL: task_id, completion), as completions made elsewhere come."""
    path.write_text(
        "".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in completions.items())
    )
    return path


def summary(out: Path) -> dict[str, object]:
    """A results folder's summary.json."""
    return dict(json.loads((out / "summary.json").read_text()))
