"""`starchat eval infilling`: HumanEval single-line infilling through the editor's completions."""

import json
from pathlib import Path

import pytest
from starchat.finetune.evaluate import infilling
from starchat.finetune.evaluate.cli import main
from starchat.finetune.evaluate.humaneval import load_tasks
from starchat.finetune.evaluate.infilling import infilling_tasks

from tests.eval.conftest import summary, write_samples

TASKS = infilling_tasks()
PROBLEMS = load_tasks()


def records(out: Path) -> dict[str, dict[str, object]]:
    rows = [json.loads(line) for line in (out / "samples.jsonl").open()]
    return {str(r["task_id"]): r for r in rows}


def test_every_non_blank_solution_line_is_one_task_the_papers_1033() -> None:
    assert len(TASKS) == 1033
    for problem in PROBLEMS.values():
        lines = problem.canonical_solution.split("\n")
        mine = [t for t in TASKS.values() if t.problem.task_id == problem.task_id]
        assert [t.task_id for t in mine] == [
            f"{problem.task_id}/L{i}" for i, line in enumerate(lines) if line.strip()
        ]
        for task in mine:
            assert (
                task.prefix + task.middle + task.suffix
                == problem.prompt + problem.canonical_solution
            )
            assert task.suffix.startswith("\n") and not task.middle[:1].isspace()
    # Lines of only whitespace are blank: HumanEval/0's line 6 is empty, so no L6.
    assert "HumanEval/0/L6" not in TASKS and "HumanEval/0/L7" in TASKS


def test_one_task_exactly() -> None:
    task = TASKS["HumanEval/0/L5"]
    problem = PROBLEMS["HumanEval/0"]
    head = "    for idx, elem in enumerate(numbers):\n"
    assert task.prefix == problem.prompt + head + (
        "        for idx2, elem2 in enumerate(numbers):\n"
        "            if idx != idx2:\n"
        "                distance = abs(elem - elem2)\n"
        "                if distance < threshold:\n"
        "                    "
    )
    assert task.middle == "return True"
    assert task.suffix == "\n\n    return False\n"


def test_write_tasks_writes_the_four_fields(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    assert main(["infilling", "--write-tasks", str(path)]) == 0
    rows = [json.loads(line) for line in path.open()]
    assert len(rows) == 1033
    task = TASKS["HumanEval/2/L0"]
    assert rows[7] == {
        "task_id": "HumanEval/1/L0",
        "prefix": TASKS["HumanEval/1/L0"].prefix,
        "suffix": TASKS["HumanEval/1/L0"].suffix,
        "canonical_solution": TASKS["HumanEval/1/L0"].middle,
    }
    assert {"task_id": "HumanEval/2/L0", "prefix": task.prefix, "suffix": "\n"} | {
        "canonical_solution": "return number % 1.0"
    } in rows
    assert main(["infilling", "--write-tasks", str(path), "--limit", "3"]) == 0
    assert [json.loads(line)["task_id"] for line in path.open()] == [
        "HumanEval/0/L0",
        "HumanEval/0/L1",
        "HumanEval/0/L2",
    ]


FIRST = [t for t in TASKS.values() if int(t.problem.task_id.split("/")[1]) < 12]
"""The 77 tasks of HumanEval/0–11: enough to run in a test's time."""


def test_canonical_middles_score_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = write_samples(tmp_path / "s.jsonl", {t.task_id: t.middle for t in FIRST})
    out = tmp_path / "out"
    assert main(["infilling", "--samples", str(samples), "--out", str(out)]) == 0
    result = summary(out)
    assert (result["tasks"], result["exact_match"], result["pass@1"]) == (77, 1.0, 1.0)
    assert len(records(out)) == 77
    assert "exact match = 1.0000, pass@1 = 1.0000 over 77 of 1033 tasks" in capsys.readouterr().out
    assert result["tasks_total"] == 1033


def test_empty_middles_fail(tmp_path: Path) -> None:
    samples = write_samples(tmp_path / "s.jsonl", {t.task_id: "" for t in FIRST})
    out = tmp_path / "out"
    assert main(["infilling", "--samples", str(samples), "--out", str(out)]) == 0
    result = summary(out)
    assert (result["tasks"], result["exact_match"], result["pass@1"]) == (77, 0.0, 0.0)
    assert result["empty"] == 77
    assert all(r["result"] != "passed" for r in records(out).values())


def test_a_line_the_tests_never_need_passes_empty_but_is_no_exact_match(tmp_path: Path) -> None:
    """Why exact match is reported beside pass@1: 27 of the 1,033 lines can be left out and
    the task's tests still pass (here `l = list(l)` before a sort of a copy)."""
    samples = write_samples(tmp_path / "s.jsonl", {"HumanEval/33/L0": "", "HumanEval/33/L1": ""})
    out = tmp_path / "out"
    assert main(["infilling", "--samples", str(samples), "--out", str(out)]) == 0
    rows = records(out)
    assert rows["HumanEval/33/L0"]["passed"] is True
    assert rows["HumanEval/33/L0"]["exact_match"] is False
    assert rows["HumanEval/33/L1"]["passed"] is False
    assert summary(out)["pass@1"] == 0.5


def test_exact_match_ignores_surrounding_space_but_not_more_lines_and_python_does_not(
    tmp_path: Path,
) -> None:
    task = TASKS["HumanEval/2/L0"]
    completions = {
        "HumanEval/2/L0": "  return number % 1.0  ",
        "HumanEval/0/L5": "return True\n                    return True",
        "HumanEval/0/L0": "for idx, elem in enumerate(numbers)",
    }
    out = tmp_path / "out"
    assert (
        main(
            [
                "infilling",
                "--samples",
                str(write_samples(tmp_path / "s.jsonl", completions)),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = records(out)
    # Exact match strips; Python does not: two spaces more than the cursor's indentation.
    assert rows[task.task_id]["exact_match"] is True
    assert rows[task.task_id]["result"].startswith("failed: IndentationError")
    assert rows["HumanEval/0/L5"]["exact_match"] is False
    assert rows["HumanEval/0/L5"]["first_line_exact_match"] is True
    assert rows["HumanEval/0/L0"]["exact_match"] is False
    assert rows["HumanEval/0/L0"]["result"].startswith("failed: SyntaxError")


def test_bad_samples_files_are_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    unknown = write_samples(tmp_path / "u.jsonl", {"HumanEval/0/L0": "", "HumanEval/0": ""})
    assert main(["infilling", "--samples", str(unknown), "--out", str(out)]) == 2
    assert "line 2: unknown task id 'HumanEval/0'" in capsys.readouterr().err
    twice = tmp_path / "t.jsonl"
    twice.write_text(2 * '{"task_id": "HumanEval/0/L0", "completion": ""}\n')
    assert main(["infilling", "--samples", str(twice), "--out", str(out)]) == 2
    assert "line 2: a second completion for HumanEval/0/L0" in capsys.readouterr().err
    assert main(["infilling", "--samples", str(unknown)]) == 2
    assert "--out DIR is needed" in capsys.readouterr().err


LESSONS = {
    "HumanEval/0/L0": "for idx, elem in enumerate(numbers):",
    "HumanEval/0/L1": "for idx2, elem2 in enumerate(numbers):",
    "HumanEval/0/L2": "if idx == idx2:",  # wrong: it passes no test
}


@pytest.fixture(scope="module")
def infilling_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny StarCoder-format model taught the middles above for the first three tasks, as
    the editor asks for them. Its 256-token window cuts the prefix and suffix short (the
    lessons take seconds, not minutes): the prompts are the ones the engine is sent, read
    from an untaught twin (same seed, same tokenizer) through the editor's own request."""
    import asyncio

    from starchat.engine import EngineSettings, create_engine
    from starchat.server.completions import Budget, completion_request, resolve_format

    from tests.tiny_model import build_tiny_starchat

    twin = build_tiny_starchat(tmp_path_factory.mktemp("twin"), n_positions=256, fim=True)
    engine = create_engine(EngineSettings(model=str(twin)))
    asyncio.run(engine.load())
    fmt = resolve_format("auto", engine, engine.health().model)
    lessons = []
    for task_id, middle in LESSONS.items():
        task = TASKS[task_id]
        request = completion_request(engine, fmt, task.prefix, task.suffix, None, Budget())
        before, after = request.prompt.removeprefix("<fim_prefix>").split("<fim_suffix>")
        assert task.prefix.endswith(before) and len(before) < len(task.prefix)
        assert task.suffix.startswith(after.removesuffix("<fim_middle>"))
        lessons.append((request.prompt, middle))
    asyncio.run(engine.close())
    return build_tiny_starchat(
        tmp_path_factory.mktemp("infill"), n_positions=256, fim=True, lessons=lessons
    )


def test_a_real_model_through_the_editor_path(
    infilling_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out"
    args = ["infilling", "--model", str(infilling_model), "--limit", "3", "--out", str(out)]
    assert main(args) == 0
    rows = records(out)
    assert {t: r["completion"] for t, r in rows.items()} == LESSONS
    assert [rows[t]["exact_match"] for t in LESSONS] == [True, True, False]
    assert [rows[t]["passed"] for t in LESSONS] == [True, True, False]
    assert all(r["fim_format"] == "starcoder" for r in rows.values())
    # The emptied lines after `for …:` have the rest of their block below them: one line each.
    assert [rows[t]["block"] for t in LESSONS] == [False, False, False]
    result = summary(out)
    assert (result["tasks"], result["exact"], result["passed"]) == (3, 2, 2)
    assert result["exact_match"] == result["pass@1"] == pytest.approx(2 / 3)
    assert result["fim_format"] == "starcoder"
    assert result["decoding"] == {
        "temperature": 0.0,
        "max_new_tokens": 64,
        "prefix_tokens": 1536,
        "suffix_tokens": 512,
    }
    assert "exact match = 0.6667, pass@1 = 0.6667 over 3 of 1033 tasks" in capsys.readouterr().out

    # A rerun resumes: nothing is asked again, the records stay as they were.
    before = (out / "samples.jsonl").read_text()
    assert main(args) == 0
    assert (out / "samples.jsonl").read_text() == before
    # Other settings are another run: refused, nothing touched.
    assert main([*args, "--fim-format", "none"]) == 2
    assert "fim_format: 'auto' there, 'none' now" in capsys.readouterr().err
    assert (out / "samples.jsonl").read_text() == before
    # So is a change to the rules that ask and read completions (FIM formats, post-processing).
    recorded = json.loads((out / "run.json").read_text())
    assert recorded.keys() >= {"prompts/fim.toml", "prompts/completion.py"}
    original = infilling.read_text
    for name in ("fim.toml", "completion.py"):
        with monkeypatch.context() as patched:
            patched.setattr(
                infilling, "read_text", lambda n, f=name: original(n) + ("\n" if n == f else "")
            )
            assert main(args) == 2
            err = capsys.readouterr().err
            assert f"holds results of a different run (prompts/{name}: " in err
            assert f"{recorded[f'prompts/{name}']!r} there, " in err
        assert (out / "samples.jsonl").read_text() == before
    # A folder from before the digests were recorded is refused too.
    del recorded["prompts/completion.py"]
    (out / "run.json").write_text(json.dumps(recorded))
    assert main(args) == 2
    assert "(prompts/completion.py: not recorded there, '" in capsys.readouterr().err
    assert (out / "samples.jsonl").read_text() == before


def test_an_interrupt_without_an_output_folder_names_no_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(infilling, "write_tasks", interrupted)
    assert main(["infilling", "--write-tasks", str(tmp_path / "tasks.jsonl")]) == 130
    err = capsys.readouterr().err
    assert err == "\ninterrupted\n"


def test_left_to_right_when_told_none(infilling_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["infilling", "--model", str(infilling_model), "--fim-format", "none"]
    assert main([*args, "--limit", "1", "--max-new-tokens", "4", "--out", str(out)]) == 0
    (row,) = records(out).values()
    assert row["fim_format"] == "left to right"
    assert summary(out)["decoding"]["max_new_tokens"] == 4
