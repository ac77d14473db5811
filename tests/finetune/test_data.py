"""Data loading: every bad row is dropped and counted by reason, filters report what they
removed, ShareGPT rows are mapped, and train and eval never share a dialogue."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starchat.finetune.config import DataArguments
from starchat.finetune.data import CONTAMINATED, IN_EVAL, NOT_ENGLISH, load_dialogues
from starchat.finetune.dialogues import dialogue_key

from tests.finetune.conftest import DIALOGUES


def _load(path: Path, **options: object) -> object:
    return load_dialogues(DataArguments(dataset_name=str(path), **options), seed=42)  # type: ignore[arg-type]


def test_fixture_rows_are_dropped_by_reason_and_counted() -> None:
    data = _load(DIALOGUES, eval_fraction=0.0, english_only=True)
    report = data.reports["train"]  # type: ignore[attr-defined]
    assert report.read == 53
    assert dict(report.dropped) == {
        "malformed row": 1,
        "unknown role": 1,
        "empty content": 1,
        "no assistant turn": 1,
        "wrong turn order": 2,
        CONTAMINATED: 1,
        NOT_ENGLISH: 1,
    }
    summary = data.summary()  # type: ignore[attr-defined]
    assert "53 rows read, 45 kept" in summary and "quotes HumanEval" in summary
    texts = [m["content"] for d in data.train for m in d]  # type: ignore[attr-defined]
    assert not any("has_close_elements" in t or "¿Cómo" in t for t in texts)


def test_filters_are_options() -> None:
    data = _load(DIALOGUES, eval_fraction=0.0, english_only=False, decontaminate=False)
    assert len(data.train) == 47  # type: ignore[attr-defined]


def test_sharegpt_conversations_are_mapped(tmp_path: Path) -> None:
    rows = [
        {"conversations": [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello."}]},
        {
            "conversations": [
                {"from": "system", "value": "Be kind."},
                {"from": "human", "value": "Sort?"},
                {"from": "gpt", "value": "sorted()"},
            ]
        },
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "bard", "value": "Yo"}]},
    ]
    path = tmp_path / "sharegpt.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    data = _load(path, eval_fraction=0.0)
    assert data.train == [  # type: ignore[attr-defined]
        [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}],
        [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "Sort?"},
            {"role": "assistant", "content": "sorted()"},
        ],
    ]
    assert data.reports["train"].dropped == {"unknown role": 1}  # type: ignore[attr-defined]


def test_parquet_files_load_like_jsonl(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in DIALOGUES.read_text(encoding="utf-8").splitlines()]
    good = [r for r in rows if isinstance(r["messages"], list)]
    pq.write_table(pa.Table.from_pylist(good), tmp_path / "d.parquet")
    assert len(_load(tmp_path / "d.parquet", eval_fraction=0.0).train) == 46  # type: ignore[attr-defined]


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    fraction=st.floats(0.05, 0.6),
    copies=st.lists(st.integers(0, 39), max_size=15),
)
def test_train_and_eval_never_share_a_dialogue(
    seed: int, fraction: float, copies: list[int], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Duplicated rows land on both sides of a random split; train drops its copies."""
    base = [
        {
            "messages": [
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": f"a{i}"},
            ]
        }
        for i in range(40)
    ]
    rows = base + [base[i] for i in copies]
    path = tmp_path_factory.mktemp("split") / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    data = load_dialogues(DataArguments(dataset_name=str(path), eval_fraction=fraction), seed=seed)
    train = {dialogue_key(m) for m in data.train}
    held = {dialogue_key(m) for m in data.eval}
    assert train.isdisjoint(held) and train and held
    assert train | held == {dialogue_key(r["messages"]) for r in base}  # type: ignore[arg-type]  # nothing else lost
    report = data.reports["train"]
    assert report.kept == len(data.train)
    assert len(data.train) + len(data.eval) + report.dropped[IN_EVAL] == len(rows)
