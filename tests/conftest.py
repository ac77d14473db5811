"""Shared fixtures: everything a test needs is built here, nothing comes from the Hub."""

import asyncio
import os
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from starchat.engine import Chunk, Usage
    from starchat.engine.transformers_engine import TransformersEngine

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

NVIM = ["nvim", "--headless", "-u", "NONE", "-i", "NONE", "-n"]
"""Neovim with no user config, shada or swap files: the tests' editor."""


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random StarChat-format model directory (GPTBigCode, chat tokens, template)."""
    from tests.tiny_model import build_tiny_starchat

    return build_tiny_starchat(tmp_path_factory.mktemp("tiny-starchat"))


@pytest.fixture(scope="module")
def tiny_engine(tiny_model_dir: Path) -> "TransformersEngine":
    """The tiny model, loaded on the CPU in the real engine."""
    from starchat.engine import EngineSettings
    from starchat.engine.transformers_engine import TransformersEngine

    engine = TransformersEngine(EngineSettings(model=str(tiny_model_dir), device="cpu"))
    asyncio.run(engine.load())
    return engine


async def whole(stream: AsyncGenerator["Chunk | Usage", None]) -> tuple[str, "Usage"]:
    """An engine stream's whole text and its usage (the stream must run to its end)."""
    from starchat.engine import collect

    answer = await collect(stream)
    assert answer.usage is not None, "the stream ended without its usage"
    return answer.text, answer.usage
