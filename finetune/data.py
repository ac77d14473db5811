"""Loading dialogues: from the Hub or a local file, validated, filtered, split, summarised.

Rows are read as plain Python values and validated one by one (`dialogues.py`), so a
malformed row is counted and dropped instead of breaking Arrow's schema inference or the
run. Train and eval stay disjoint by content: a training dialogue identical to an eval
dialogue is dropped from training (the eval set is the fixed yardstick).
"""

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starchat.finetune.config import DataArguments
from starchat.finetune.dialogues import Rejected, dialogue_from_row, dialogue_key
from starchat.finetune.errors import FinetuneError
from starchat.finetune.filters import is_english, quotes_humaneval
from starchat.prompts import Message

if TYPE_CHECKING:
    from datasets import Dataset

LOCAL_SUFFIXES = (".json", ".jsonl", ".parquet")
NOT_ENGLISH = "not English"
CONTAMINATED = "quotes HumanEval (decontamination)"
IN_EVAL = "duplicate of an eval dialogue"


@dataclass
class SplitReport:
    """How many rows a split had and why each dropped one went."""

    read: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    @property
    def kept(self) -> int:
        return self.read - sum(self.dropped.values())


@dataclass
class Dialogues:
    train: list[list[Message]]
    eval: list[list[Message]]
    source: str
    reports: dict[str, SplitReport]

    def summary(self) -> str:
        lines = [f"data: {self.source}"]
        for name, report in self.reports.items():
            lines.append(f"  {name}: {report.read} rows read, {report.kept} kept")
            for reason, count in report.dropped.most_common():
                lines.append(f"    {count:>7}  {reason}")
        lines.append(f"  training on {len(self.train)} dialogues, evaluating on {len(self.eval)}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            **{
                name: {"read": r.read, "kept": r.kept, "dropped": dict(r.dropped)}
                for name, r in self.reports.items()
            },
        }


def is_local(name: str) -> bool:
    """A path rather than a Hub id: it exists, or it looks like one."""
    return (
        Path(name).exists()
        or name.endswith(LOCAL_SUFFIXES)
        or name.startswith(("/", "./", "../", "~"))
    )


def load_dialogues(args: DataArguments, seed: int) -> Dialogues:
    """Read, validate, filter and split; raises `FinetuneError` for unusable input."""
    name = args.dataset_name or ""
    raw = _read_local(Path(name).expanduser()) if is_local(name) else _read_hub(args)
    reports: dict[str, SplitReport] = {}
    kept: dict[str, list[list[Message]]] = {}
    for split, rows in raw.items():
        report = reports[split] = SplitReport(read=len(rows))
        kept[split] = []
        for row in rows:
            try:
                messages = dialogue_from_row(row)
            except Rejected as rejected:
                report.dropped[rejected.reason] += 1
                continue
            if args.english_only and not is_english(messages):
                report.dropped[NOT_ENGLISH] += 1
            elif args.decontaminate and quotes_humaneval(messages):
                report.dropped[CONTAMINATED] += 1
            else:
                kept[split].append(messages)
    train, held_out = kept["train"], kept.get("eval")
    if held_out is None:
        train, held_out = _hold_out(train, args.eval_fraction, seed)
        if held_out:
            reports["train"].dropped["held out for eval"] += len(held_out)
    eval_keys = {dialogue_key(m) for m in held_out}
    disjoint = [m for m in train if dialogue_key(m) not in eval_keys]
    if len(disjoint) < len(train):
        reports["train"].dropped[IN_EVAL] += len(train) - len(disjoint)
    if not disjoint:
        raise FinetuneError(f"{name}: no trainable dialogues left (see the data summary)")
    return Dialogues(disjoint, held_out, name, reports)


def as_dataset(dialogues: list[list[Message]]) -> "Dataset":
    from datasets import Dataset

    return Dataset.from_list([{"messages": m} for m in dialogues])


def _hold_out(
    dialogues: list[list[Message]], fraction: float, seed: int
) -> tuple[list[list[Message]], list[list[Message]]]:
    if fraction == 0 or len(dialogues) < 2:
        return dialogues, []
    order = list(range(len(dialogues)))
    random.Random(seed).shuffle(order)
    count = max(1, round(len(dialogues) * fraction))
    held = set(order[:count])
    return (
        [d for i, d in enumerate(dialogues) if i not in held],
        [d for i, d in enumerate(dialogues) if i in held],
    )


def _read_local(path: Path) -> dict[str, list[Any]]:
    if not path.exists():
        raise FinetuneError(f"dataset file not found: {path}")
    if path.suffix not in LOCAL_SUFFIXES:
        raise FinetuneError(f"{path}: use a .json, .jsonl or .parquet file of dialogues")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    else:
        rows = _read_json_rows(path)
    _require_dialogue_column(
        str(path), {key for row in rows if isinstance(row, dict) for key in row}
    )
    return {"train": rows}


def _read_json_rows(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, list):
            return whole
    rows: list[Any] = []
    for line in text.splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                rows.append(None)  # counted as a malformed row
    return rows


def _read_hub(args: DataArguments) -> dict[str, list[Any]]:
    import datasets
    from huggingface_hub.errors import OfflineModeIsEnabled

    name = args.dataset_name or ""
    try:
        loaded = datasets.load_dataset(name, args.dataset_config)
    except (ConnectionError, OfflineModeIsEnabled, OSError) as error:
        raise FinetuneError(
            f"cannot load dataset {name!r} from the Hugging Face Hub ({_first_line(error)}); it is "
            "not in the local cache either. Check the network (HF_HUB_OFFLINE must be unset), "
            "or give a local .jsonl/.parquet file"
        ) from None
    except Exception as error:  # datasets raises many types for "no such dataset"
        raise FinetuneError(f"cannot load dataset {name!r}: {_first_line(error)}") from None
    if not isinstance(loaded, datasets.DatasetDict):
        raise FinetuneError(f"{name}: expected a dataset with splits")
    if args.dataset_train_split not in loaded:
        raise FinetuneError(
            f"{name} has no split {args.dataset_train_split!r} (it has {', '.join(loaded)}); "
            "set dataset_train_split"
        )
    _require_dialogue_column(name, set(loaded[args.dataset_train_split].column_names))
    raw = {"train": loaded[args.dataset_train_split].to_list()}
    if args.dataset_test_split in loaded:
        raw["eval"] = loaded[args.dataset_test_split].to_list()
    return raw


def _require_dialogue_column(name: str, columns: set[str]) -> None:
    if "messages" not in columns and "conversations" not in columns:
        shown = ", ".join(sorted(columns)) or "none"
        raise FinetuneError(
            f"{name}: no `messages` column (columns: {shown}); expected `messages` "
            "([{role, content}]) or ShareGPT `conversations` ([{from, value}])"
        )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
