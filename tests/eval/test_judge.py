"""The pairwise judge: score parsing, order swapping, the prompt set, and whole runs."""

import json
import re
import socket
from pathlib import Path

import httpx
import pytest
from starchat.finetune.evaluate.cli import main
from starchat.finetune.evaluate.judge import (
    JudgePrompt,
    default_prompts,
    load_prompts,
    parse_scores,
)
from starchat.finetune.evaluate.judge_report import per_prompt

from tests.openai_stub import OpenAIStub
from tests.tiny_model import build_tiny_starchat

_ANSWER = re.compile(r"\[The Start of Assistant (\d)'s Answer\]\n(.*?)\n\n\[The End", re.S)
QUESTIONS = {
    "p1": "Write a Python function that adds two numbers.",
    "p2": "Write a C++ function that reverses a string.",
    "p3": "This JavaScript loop prints 3 three times; why?\n\n```javascript\n"
    "for (var i = 0; i < 3; i++) setTimeout(() => console.log(i));\n```",
}


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("7 5\nAssistant 1 is more complete.", (7.0, 5.0)),
        ("8, 2", (8.0, 2.0)),
        ("\n  6.5 7  \nreasons", (6.5, 7.0)),
        ("**7/8** 4/8", (7.0, 4.0)),
        ("Assistant 1: 3, Assistant 2: 8", (3.0, 8.0)),
        ("Scores: 6 out of 8 and 5 out of 8", (6.0, 5.0)),
        ("Assistant 1 is better.", None),
        ("7", None),
        ("7 5 3", None),
        ("9 5", None),
        ("0 4", None),
        ("", None),
        ("The first answer\n7 5", None),
    ],
)
def test_parse_scores(reply: str, expected: tuple[float, float] | None) -> None:
    assert parse_scores(reply) == expected


def test_scores_of_the_swapped_order_are_mapped_back() -> None:
    prompt = JudgePrompt("p", "write", "python", "q")
    answers = {"a": {"p": "A"}, "b": {"p": "B"}}
    judgements = [
        {"id": "p", "order": "ab", "scores": [7, 5], "reply": "7 5"},
        {"id": "p", "order": "ba", "scores": [6, 8], "reply": "6 8"},  # B first: B 6, A 8
    ]
    [row] = per_prompt([prompt], answers, judgements)
    assert (row["scores_a_first"], row["scores_b_first"]) == ([7, 5], [8, 6])
    assert (row["score_a"], row["score_b"], row["outcome"]) == (7.5, 5.5, "win")
    assert row["orders_agree"] is True
    biased = [{**judgements[0]}, {**judgements[1], "scores": [7, 5]}]  # always prefers slot 1
    [row] = per_prompt([prompt], answers, biased)
    assert (row["outcome"], row["orders_agree"]) == ("tie", False)
    [row] = per_prompt([prompt], answers, [{**judgements[0], "scores": None}, judgements[1]])
    assert (row["score_a"], row["outcome"], row["orders_agree"]) == (8, "win", None)


def test_the_shipped_prompt_set() -> None:
    prompts = load_prompts(default_prompts())
    assert len(prompts) == 115
    write = [p for p in prompts if p.category == "write"]
    feedback = [p for p in prompts if p.category == "feedback"]
    assert len(write) + len(feedback) == 115
    assert 0.72 <= len(write) / 115 <= 0.78
    assert (
        {p.language for p in write}
        == {p.language for p in feedback}
        == {"python", "cpp", "javascript", "html"}
    )
    assert all("```" in p.prompt for p in feedback)
    assert len({p.prompt for p in prompts}) == 115


def _prompts_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "id": i,
                    "category": "write" if i != "p3" else "feedback",
                    "language": ["python", "cpp", "javascript"][n],
                    "prompt": q,
                }
            )
            + "\n"
            for n, (i, q) in enumerate(QUESTIONS.items())
        )
    )
    return path


def _prefers_longer(messages: list[dict[str, str]]) -> str:
    """Longer answer wins; p2's first reply is malformed, p3 never parses."""
    review = messages[1]["content"]
    if QUESTIONS["p3"] in review:
        return "Both answers have merit."
    if QUESTIONS["p2"] in review and len(messages) == 2:
        return "I think the first is better."
    first, second = (len(text.strip()) for _, text in _ANSWER.findall(review))
    scores = (7, 3) if first > second else (3, 7) if first < second else (5, 5)
    return f"{scores[0]} {scores[1]}\nThe longer answer is more detailed."


def _read(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.open()]


@pytest.fixture(scope="module")
def model_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_starchat(tmp_path_factory.mktemp("tiny-b"), seed=1)


def test_a_whole_run_against_a_served_judge(
    tiny_model_dir: Path, model_b: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    with OpenAIStub(decide=_prefers_longer, model="judge", fail_after=3) as judge:
        args = [
            "judge",
            "--a",
            str(tiny_model_dir),
            "--b",
            str(model_b),
            "--judge",
            "judge",
            "--judge-url",
            judge.url,
            "--prompts",
            str(_prompts_file(tmp_path)),
            "--max-new-tokens",
            "12",
            "--out",
            str(out),
        ]
        # The judge goes down after three requests: a message, and what was done is kept.
        assert main(args) == 2
        assert "scripted failure 500" in capsys.readouterr().err
        assert len(_read(out / "answers_a.jsonl")) == len(_read(out / "answers_b.jsonl")) == 3
        assert [(j["id"], j["order"]) for j in _read(out / "judgements.jsonl")] == [
            ("p1", "ab"),
            ("p1", "ba"),
        ]
        judge.fail_after = None
        judge.requests.clear()
        assert main(args) == 0
    # The rerun asked only for what was missing: p2 (with one retry each order), p3 (twice each).
    assert len(judge.requests) == 8
    assert all(r["stream"] and r["temperature"] == 0.0 for r in judge.requests)

    answers_a = {r["id"]: r["answer"] for r in _read(out / "answers_a.jsonl")}
    answers_b = {r["id"]: r["answer"] for r in _read(out / "answers_b.jsonl")}
    rows = {r["id"]: r for r in _read(out / "results.jsonl")}
    for key in ("p1", "p2"):
        a, b = len(answers_a[key].strip()), len(answers_b[key].strip())
        expected = "win" if a > b else "loss" if a < b else "tie"
        assert rows[key]["outcome"] == expected
        assert rows[key]["orders_agree"] is True
    assert rows["p3"]["outcome"] == "unparsed"
    attempts = {(j["id"], j["order"]): j["attempts"] for j in _read(out / "judgements.jsonl")}
    assert attempts == {
        ("p1", "ab"): 1,
        ("p1", "ba"): 1,
        ("p2", "ab"): 2,
        ("p2", "ba"): 2,
        ("p3", "ab"): 2,
        ("p3", "ba"): 2,
    }

    report = json.loads((out / "report.json").read_text())
    outcomes = [rows[k]["outcome"] for k in ("p1", "p2")]
    assert (report["prompts"], report["judged"], report["unparsed"]) == (3, 2, 1)
    assert report["win_rate"] == outcomes.count("win") / 2
    assert report["loss_rate"] == outcomes.count("loss") / 2
    assert report["by_category"]["feedback"]["judged"] == 0
    assert report["score_a"]["mean"] == pytest.approx(
        sum(rows[k]["score_a"] for k in ("p1", "p2")) / 2
    )
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "unparsed: 1" in printed and "chart.png" in printed


def test_a_local_judge_that_never_answers_in_format(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A random tiny judge: every order retried once, then counted unparsed — no crash."""
    out = tmp_path / "out"
    status = main(
        [
            "judge",
            "--a",
            str(tiny_model_dir),
            "--b",
            str(tiny_model_dir),
            "--judge",
            str(tiny_model_dir),
            "--prompts",
            str(_prompts_file(tmp_path)),
            "--limit",
            "1",
            "--max-new-tokens",
            "4",
            "--judge-max-new-tokens",
            "4",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    report = json.loads((out / "report.json").read_text())
    assert (report["prompts"], report["unparsed"], report["win_rate"]) == (1, 1, None)
    assert all(j["attempts"] == 2 for j in _read(out / "judgements.jsonl"))
    assert (out / "chart.png").is_file()


def test_a_judge_that_is_down_stops_before_any_answering(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "out"
    status = main(
        [
            "judge",
            "--a",
            str(tiny_model_dir),
            "--b",
            str(tiny_model_dir),
            "--judge",
            "gpt",
            "--judge-url",
            f"http://127.0.0.1:{port}/v1",
            "--out",
            str(out),
        ]
    )
    assert status == 2
    assert f"cannot reach the judge (gpt @ http://127.0.0.1:{port}/v1)" in capsys.readouterr().err
    assert not (out / "answers_a.jsonl").exists()


def test_a_prompts_file_with_a_missing_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        '{"id": "x", "category": "write", "language": "python", "prompt": "q"}\n'
        '{"id": "y", "category": "write", "language": "python"}\n'
    )
    status = main(
        [
            "judge",
            "--a",
            "default",
            "--b",
            "default",
            "--judge",
            "default",
            "--prompts",
            str(prompts),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert status == 2
    assert f"{prompts} line 2: missing field 'prompt'" in capsys.readouterr().err


def test_the_scripted_judge_speaks_both_response_shapes() -> None:
    """The test double answers like OpenAI's API whether or not the client streams."""
    messages = [{"role": "user", "content": "hi"}]
    with OpenAIStub(decide=lambda _: "6 2\nreasons", model="judge") as judge:
        plain = httpx.post(
            f"{judge.url}/chat/completions", json={"model": "judge", "messages": messages}
        ).json()
        with httpx.stream(
            "POST",
            f"{judge.url}/chat/completions",
            json={"model": "judge", "messages": messages, "stream": True},
        ) as r:
            events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    assert plain["choices"][0]["message"]["content"] == "6 2\nreasons"
    streamed = "".join(c["delta"].get("content", "") for e in events for c in e["choices"])
    assert streamed == "6 2\nreasons"
    assert events[-1]["usage"]["prompt_tokens"] > 0
