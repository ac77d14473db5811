"""`:StarChatStatus`'s words for the completion model (clients/neovim), in headless Neovim:
how it completes once ready; while loading or after an error, the server's message instead.
Needs `nvim` (Debian's neovim 0.7.2 or newer) on PATH."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import NVIM

PLUGIN = Path(__file__).resolve().parents[2] / "clients" / "neovim"
CASES = {
    "fim": {"state": "ready", "model": "m", "infilling": True, "format": "starcoder"},
    "prefix_only": {
        "state": "ready",
        "model": "m",
        "infilling": False,
        "format": None,
        "message": "m has no fill-in-the-middle tokens: completing from the code before the cursor",
    },
    "chat_model": {"state": "ready", "model": "", "infilling": True, "format": None},
    "loading": {"state": "loading", "model": "m", "infilling": True, "format": "starcoder"},
    "error": {
        "state": "error",
        "model": "m",
        "infilling": False,
        "format": None,
        "message": "Cannot reach the backend",
    },
}


@pytest.mark.skipif(shutil.which("nvim") is None, reason="nvim is not installed")
def test_completion_text(tmp_path: Path) -> None:
    cases, result = tmp_path / "cases.json", tmp_path / "result.json"
    cases.write_text(json.dumps(CASES))
    lua = (
        f"vim.opt.runtimepath:prepend({json.dumps(str(PLUGIN))}) "
        f"local cases = vim.fn.json_decode(vim.fn.readfile({json.dumps(str(cases))})) "
        "local out = {} "
        "for name, c in pairs(cases) do out[name] = require('starchat').completion_text(c) end "
        f"vim.fn.writefile({{vim.fn.json_encode(out)}}, {json.dumps(str(result))})"
    )
    subprocess.run(
        [*NVIM, "-c", f"lua {lua}", "-c", "qa!"],
        check=True,
        timeout=30,
        env={**os.environ, "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")},
    )
    assert json.loads(result.read_text()) == {
        "fim": "m ready, fill-in-the-middle (starcoder)",
        "prefix_only": "m ready, code before the cursor only",
        "chat_model": "the chat model ready, fill-in-the-middle",
        "loading": "m loading",
        "error": "m error: Cannot reach the backend",
    }
