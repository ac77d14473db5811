"""The Neovim configuration in clients/neovim, driven from headless Neovim against the real
server: a streamed chat about a selection and a Fix from the code-action menu. Needs `nvim`
(Debian's neovim 0.7.2 or newer) on PATH."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import NVIM
from tests.openai_stub import OpenAIStub
from tests.server.wire import ENV

REPO = Path(__file__).parents[2]
SOURCE = textwrap.dedent(
    """\
    import math


    def mean(values):
        total = sum(values)
        return total / len(value)
    """
)
FIXED = "def mean(values):\n    total = sum(values)\n    return total / len(values)"


def test_neovim_chats_and_fixes(tmp_path: Path, scripted_openai: OpenAIStub) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    source = tmp_path / "stats.py"
    source.write_text(SOURCE)
    (tmp_path / "averages.py").write_text("def mean_of(values):\n    return sum(values) / 2\n")
    result = tmp_path / "result.json"
    scripted_openai.answer(
        "It averages `values`, but it divides by `len(value)`, which is not defined.",
        f"Use the parameter's name:\n\n```python\n{FIXED}\n```",
    )
    subprocess.run(
        [*NVIM, "-c", f"luafile {Path(__file__).with_name('neovim_session.lua')}"],
        env={
            **ENV,
            "STARCHAT_RESULT": str(result),
            "STARCHAT_REPO": str(REPO),
            "STARCHAT_PYTHON": sys.executable,
            "STARCHAT_BACKEND": scripted_openai.url,
            "STARCHAT_FILE": str(source),
            "HOME": str(tmp_path),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        },
        cwd=tmp_path,
        timeout=120,
        check=True,
        capture_output=True,
    )
    outcome = json.loads(result.read_text())
    assert "error" not in outcome, outcome

    chat = outcome["chat"]
    assert chat["answer"].startswith("It averages `values`")
    assert chat["chunks"] > 3  # streamed as partial results, not in one piece
    assert (
        "It averages `values`, but it divides by `len(value)`, which is not defined."
        in chat["window"]
    )
    question = scripted_openai.requests[0]["messages"][-1]["content"]
    assert "```python\ndef mean(values):\n    total = sum(values)\n```" in question
    assert "`stats.py`" in question
    assert "`averages.py`, lines 1–2:" in question  # from the workspace index
    assert "References:" in chat["window"] and "- averages.py:1-2" in chat["window"]

    assert "StarChat: Fix" in outcome["offered"] and "StarChat: Explain" in outcome["offered"]
    fix_prompt = scripted_openai.requests[1]["messages"][-1]["content"]
    assert "- line 6: undefined name 'value' (pyflakes)" in fix_prompt
    assert outcome["fixed"] == SOURCE.replace("len(value)", "len(values)").splitlines()
    assert not os.path.exists(tmp_path / "test_stats.py")
