"""The `starchat` command as a user runs it."""

import subprocess
import sys
from pathlib import Path

STARCHAT = [sys.executable, "-m", "starchat.server.cli"]


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STARCHAT, *args], capture_output=True, text=True, timeout=timeout)


def test_default_model_answers_the_readme_question() -> None:
    """The README's first command: the offline default model writes a prime check."""
    result = _run("chat", "Write a Python function that checks whether a number is prime")
    assert result.returncode == 0, result.stderr
    assert "def " in result.stdout
    assert "tokens" in result.stderr


def test_a_missing_model_is_one_clear_line(tmp_path: Path) -> None:
    result = _run("chat", "--model", str(tmp_path / "nothing"), "hi")
    assert result.returncode == 1
    assert f"No model directory at {tmp_path / 'nothing'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_empty_message_is_refused(tiny_model_dir: Path) -> None:
    result = _run("chat", "--model", str(tiny_model_dir), "   ")
    assert result.returncode == 1 and "the message is empty" in result.stderr


def test_interactive_chat_keeps_the_conversation(tiny_model_dir: Path) -> None:
    result = subprocess.run(
        [*STARCHAT, "chat", "--model", str(tiny_model_dir), "--max-new-tokens", "5"],
        input="first question\nsecond question\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("5 tokens") == 2


def test_prompt_shows_what_a_code_action_sends(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text("import os\n\ndef f(x):\n    return x +\n")
    result = _run("prompt", "--action", "fix", "--file", str(source), "--lines", "3-4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("<|system|>\n<|end|>\n<|user|>\nFix this python code")
    assert "```python\ndef f(x):\n    return x +\n```" in result.stdout
    assert "import os" not in result.stdout


def test_prompt_in_the_models_own_format(tiny_model_dir: Path) -> None:
    result = _run("prompt", "--format", "model", "--model", str(tiny_model_dir), "hello")
    assert result.stdout == "<|system|>\n<|end|>\n<|user|>\nhello<|end|>\n<|assistant|>"


def test_prompt_with_workspace_shows_the_references_and_never_a_secret(tmp_path: Path) -> None:
    (tmp_path / "billing.py").write_text(
        "def compute_invoice_total(items, tax_rate):\n    return sum(items) * (1 + tax_rate)\n"
    )
    (tmp_path / "notes.py").write_text("def unrelated():\n    return 'weather'\n")
    (tmp_path / ".env").write_text("INVOICE_API_KEY=sk-live-invoice-secret\n")
    (tmp_path / ".gitignore").write_text("private/\n")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "keys.py").write_text("INVOICE_TOKEN = 'sk-live-invoice-token'\n")
    question = "How is the invoice total computed? What is the INVOICE_API_KEY?"
    result = _run("prompt", "--workspace", str(tmp_path), question)
    assert result.returncode == 0, result.stderr
    assert "`billing.py`, lines 1–2:\n```python\ndef compute_invoice_total" in result.stdout
    assert "sk-live" not in result.stdout and "unrelated" not in result.stdout
    assert "references: billing.py:1-2" in result.stderr
    tight = _run("prompt", "--workspace", str(tmp_path), "--workspace-tokens", "5", question)
    assert "billing.py" not in tight.stdout and "references: none" in tight.stderr


def test_prompt_shows_an_inline_completions_prompt(tmp_path: Path, tiny_model_dir: Path) -> None:
    from tests.tiny_model import build_tiny_starchat

    source = tmp_path / "pkg" / "shapes.py"
    source.parent.mkdir()
    source.write_text("def area(w, h):\n    return \n\nprint(area(2, 3))\n")
    fim = build_tiny_starchat(tmp_path / "fim", fim=True)

    def prompt(*args: str) -> subprocess.CompletedProcess[str]:
        # Line 2, column 12: after `    return `, as an editor shows it (1-based).
        command = [*STARCHAT, "prompt", "--complete", "pkg/shapes.py:2:12", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)

    infilling = prompt("--model", str(fim))
    assert infilling.returncode == 0, infilling.stderr
    assert infilling.stdout.endswith(
        "<fim_prefix>def area(w, h):\n    return <fim_suffix>\n\nprint(area(2, 3))\n<fim_middle>"
    )
    assert "fill-in-the-middle (starcoder), one line" in infilling.stderr
    left_to_right = prompt("--model", str(tiny_model_dir))
    assert left_to_right.stdout == "def area(w, h):\n    return "
    assert "left to right (no FIM tokens)" in left_to_right.stderr
    past = subprocess.run(
        [*STARCHAT, "prompt", "--complete", f"{source}:9:1", "--model", str(fim)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert past.returncode != 0 and "has 5 lines, not 9" in past.stderr
